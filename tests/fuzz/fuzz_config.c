/* libFuzzer target for common/config: arbitrary bytes as a config file and as a --set override.
 *
 * Beyond "no crash, no leak, no sanitizer report" it checks two invariants: a config that loads
 * prints to text that loads back and prints identically (unless a secret is set, when the
 * printout must be refused for its "***" placeholder), and a failed load leaves the config as
 * it was. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"

static char *print_to_string(const zr_config *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) abort();
  zr_config_print(c, f);
  fclose(f);
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  zr_config c;
  if (zr_config_init_defaults(&c) < 0) abort();
  char *before = print_to_string(&c);
  if (zr_config_load_string(&c, text, "fuzz.ini") == 0) {
    (void)zr_config_validate(&c);
    char *p1 = print_to_string(&c);
    zr_config d;
    if (zr_config_init_defaults(&d) < 0) abort();
    if (zr_config_load_string(&d, p1, "printed") == 0) {
      char *p2 = print_to_string(&d);
      if (strcmp(p1, p2) != 0) abort(); /* print -> load -> print must be a fixed point */
      free(p2);
    } else if (!strstr(zr_errmsg(), "'***' is the placeholder")) {
      fprintf(stderr, "printout refused: %s\n", zr_errmsg());
      abort();
    }
    zr_config_release(&d);
    free(p1);
  } else {
    char *after = print_to_string(&c);
    if (strcmp(before, after) != 0) abort(); /* a failed load changes nothing */
    free(after);
  }
  free(before);

  /* The same bytes as one override; then every generic lookup. */
  (void)zr_config_set(&c, text, "--set");
  char buf[64];
  (void)zr_config_get_text(&c, text, buf, sizeof buf);
  zr_config_release(&c);
  free(text);
  return 0;
}
