/* zerorl data: task files (DESIGN.md section 6).
 *
 *   zerorl data import FORMAT FILE      converts a raw public dataset into task JSONL on stdout
 *                                       (the converters are reward/importers.h).
 * Subcommands live in a table so that others (gen) can be added next to import. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "reward/importers.h"
#include "tools/commands.h"


static const char data_usage[] =
    "usage: zerorl data import FORMAT FILE > tasks.jsonl\n"
    "\n"
    "import  converts FILE (JSONL, one record a line, or one JSON array of records; '-' reads\n"
    "        stdin) from a raw public dataset format into zerorl task JSONL on stdout: one\n"
    "        compact line per record with keys id, prompt, kind, then answer (math) or\n"
    "        language and tests (code), then extras (subject, level, name, ...).\n"
    "        It stops at the first bad record: the error names the file, line and field, and\n"
    "        the exit status is 1 (the lines before it have been written).\n"
    "\n"
    "FORMATs:\n";

static void print_usage(FILE *f) {
  fputs(data_usage, f);
  size_t n;
  const zr_importer *imp = zr_importers(&n);
  for (size_t i = 0; i < n; i++) {
    char name[40];
    if (imp[i].alias) snprintf(name, sizeof name, "%s (%s)", imp[i].name, imp[i].alias);
    else snprintf(name, sizeof name, "%s", imp[i].name);
    fprintf(f, "  %-22s %s\n", name, imp[i].summary);
  }
  fputs("\nIds are the dataset's own (a bare number gets the format in front: aime-60, mbpp-11),\n"
        "else FORMAT-LINE. Exit status: 0 success, 1 bad input or I/O error, 2 usage error.\n",
        f);
}

static int cmd_data_import(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_usage(stdout);
      return 0;
    }
    if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "zerorl data import: unknown option '%s'\n", a);
      print_usage(stderr);
      return 2;
    }
    if (npos == 2) {
      fprintf(stderr, "zerorl data import: unexpected argument '%s' (one FORMAT and one FILE)\n", a);
      return 2;
    }
    pos[npos++] = a;
  }
  if (npos < 2) {
    fprintf(stderr, "zerorl data import: missing %s\n", npos == 0 ? "FORMAT and FILE" : "FILE");
    print_usage(stderr);
    return 2;
  }
  const zr_importer *imp = zr_importer_find(pos[0]);
  if (!imp) {
    fprintf(stderr, "zerorl data import: unknown format '%s'\n", pos[0]);
    print_usage(stderr);
    return 2;
  }
  zr_clearerr();
  long n = 0;
  int rc = zr_import_file(imp, pos[1], stdout, &n);
  if (rc < 0) {
    fprintf(stderr, "zerorl data import: %s\n", zr_errmsg());
    if (n > 0) fprintf(stderr, "zerorl data import: stopped after %ld tasks\n", n);
    return 1;
  }
  return 0;
}

typedef struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} data_subcommand;

static const data_subcommand data_subcommands[] = {
    {"import", cmd_data_import},
};

int zr_cmd_data(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "zerorl data: missing subcommand\n");
    print_usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    print_usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof data_subcommands / sizeof data_subcommands[0]; i++)
    if (strcmp(argv[1], data_subcommands[i].name) == 0) return data_subcommands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "zerorl data: unknown subcommand '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}
