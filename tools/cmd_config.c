/* zerorl config: check a job config and print its effective values; write docs/config.md. */
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "tools/commands.h"

static const char config_usage[] =
    "usage: zerorl config check FILE [--set section.key=value]...\n"
    "       zerorl config docs\n"
    "\n"
    "check  reads FILE, applies each --set override in order, validates the result and prints\n"
    "       every effective value as an INI file (values that differ from the defaults are\n"
    "       marked '# changed'; passwords print as ***). Exit status 1 and an error naming\n"
    "       the file, line and key when something is wrong.\n"
    "docs   prints the configuration reference (docs/config.md) generated from the key table.\n";

static int cmd_config_check(int argc, char **argv) {
  const char *file = NULL;
  zr_config cfg;
  if (zr_config_init_defaults(&cfg) != 0) {
    fprintf(stderr, "zerorl config check: %s\n", zr_errmsg());
    return 1;
  }
  int status = 0;
  /* the file first, then overrides in command-line order, so that --set always wins */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--set") == 0) {
      if (++i >= argc) {
        fprintf(stderr, "zerorl config check: --set needs section.key=value\n");
        status = 2;
        goto out;
      }
    } else if (strncmp(argv[i], "--set=", 6) == 0) {
      continue;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "zerorl config check: unknown option '%s'\n%s", argv[i], config_usage);
      status = 2;
      goto out;
    } else if (file) {
      fprintf(stderr, "zerorl config check: more than one FILE ('%s' and '%s')\n", file, argv[i]);
      status = 2;
      goto out;
    } else {
      file = argv[i];
    }
  }
  if (!file) {
    fprintf(stderr, "zerorl config check: missing FILE\n%s", config_usage);
    status = 2;
    goto out;
  }
  if (zr_config_load_file(&cfg, file) != 0) {
    fprintf(stderr, "zerorl config check: %s\n", zr_errmsg());
    status = 1;
    goto out;
  }
  for (int i = 1; i < argc; i++) {
    const char *assignment = NULL;
    if (strcmp(argv[i], "--set") == 0) assignment = argv[++i];
    else if (strncmp(argv[i], "--set=", 6) == 0) assignment = argv[i] + 6;
    if (assignment && zr_config_set(&cfg, assignment, "--set") != 0) {
      fprintf(stderr, "zerorl config check: %s\n", zr_errmsg());
      status = 1;
      goto out;
    }
  }
  if (zr_config_validate(&cfg) != 0) {
    fprintf(stderr, "zerorl config check: %s: %s\n", file, zr_errmsg());
    status = 1;
    goto out;
  }
  printf("# effective configuration of %s\n", file);
  zr_config_print(&cfg, stdout);
out:
  zr_config_release(&cfg);
  return status;
}

int zr_cmd_config(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(config_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "check") == 0) {
    if (zr_cmd_wants_help(argc - 1, argv + 1)) {
      fputs(config_usage, stdout);
      return 0;
    }
    return cmd_config_check(argc - 1, argv + 1);
  }
  if (strcmp(argv[1], "docs") == 0) {
    if (argc > 2) {
      fprintf(stderr, "zerorl config docs: unexpected argument '%s'\n", argv[2]);
      return 2;
    }
    zr_config_write_docs(stdout);
    return 0;
  }
  fprintf(stderr, "zerorl config: unknown subcommand '%s'\n%s", argv[1], config_usage);
  return 2;
}

