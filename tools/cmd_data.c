/* zerorl data: task files (DESIGN.md section 6).
 *
 *   zerorl data import FORMAT FILE      converts a raw public dataset into task JSONL on stdout
 *                                       (the converters are reward/importers.h).
 *   zerorl data gen KIND --n N ...      writes generated tasks (learner/taskgen.h) as task JSONL,
 *                                       or with --sft as prompt/completion JSONL with traces.
 * Subcommands live in a table. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "learner/taskgen.h"
#include "learner/tasks.h"
#include "reward/importers.h"
#include "tools/commands.h"


static const char data_usage[] =
    "usage: zerorl data import FORMAT FILE > tasks.jsonl\n"
    "       zerorl data gen arith|countdown --n N [--seed S] [--difficulty D] [--split train|heldout]\n"
    "                       [--sft] --out FILE\n"
    "\n"
    "gen     writes N generated tasks to FILE ('-' for stdout) as task JSONL, deterministic in\n"
    "        --seed (default 0). arith: two D-digit numbers (default 5) to add, prompt \"A+B=\"\n"
    "        (meant for the raw template), kind exact. countdown: D numbers (2..6; default 0\n"
    "        = 3 or 4) and a reachable target, kind countdown. --split heldout draws from the\n"
    "        held-out pool (a fixed 1/16 of all problems, by a hash of the problem), which\n"
    "        train (the default) never uses: train and held-out files are always disjoint.\n"
    "        --sft writes {\"prompt\", \"completion\"} lines instead, the completion being a\n"
    "        reasoning trace in the R1 format (<think>...</think><answer>...</answer>) for\n"
    "        cold-start SFT; for arith one \"a+b+carry=sum\" step per digit, least significant\n"
    "        first: 64607+11332= <think>7+2+0=9,0+3+0=3,6+3+0=9,4+1+0=5,6+1+0=7</think>\n"
    "        <answer>75939</answer>.\n"
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

/* ---- gen -------------------------------------------------------------------------------- */

static int parse_u64(const char *flag, const char *v, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = v && *v && *v != '-' ? strtoull(v, &end, 10) : 0;
  if (!v || !*v || *v == '-' || *end || errno || x > max) {
    fprintf(stderr, "zerorl data gen: %s: '%s' is not an integer in [0, %" PRIu64 "]\n", flag, v ? v : "", max);
    return 2;
  }
  *out = x;
  return 0;
}

static int write_line(FILE *f, const char *line) { return fputs(line, f) < 0 || fputc('\n', f) < 0 ? -EIO : 0; }

static int write_generated(const zr_taskset *set, int sft, FILE *f, const char *out) {
  for (size_t i = 0; i < zr_taskset_count(set); i++) {
    const zr_task *t = zr_taskset_get(set, i);
    char *line = NULL;
    int rc;
    if (sft) {
      char *completion = NULL;
      rc = zr_taskgen_trace(t, &completion);
      if (rc == 0) {
        json_t *o = json_pack("{s:s, s:s}", "prompt", zr_task_prompt_text(t), "completion", completion);
        line = o ? zr_json_dump_line(o) : NULL;
        json_decref(o);
        if (!line) rc = zr_seterr(-ENOMEM, "out of memory");
      }
      free(completion);
    } else {
      rc = zr_task_to_json(t, &line);
    }
    if (rc == 0 && write_line(f, line) != 0) rc = zr_seterr(-EIO, "%s: write failed", out);
    free(line);
    if (rc) return rc;
  }
  return 0;
}

static int cmd_data_gen(int argc, char **argv) {
  const char *kind = NULL, *out = NULL;
  uint64_t n = 0, seed = 0, difficulty = 0;
  int have_n = 0, sft = 0;
  zr_split split = ZR_SPLIT_TRAIN;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_usage(stdout);
      return 0;
    }
    if (strcmp(a, "--sft") == 0) {
      sft = 1;
      continue;
    }
    if (a[0] != '-' || a[1] == '\0') {
      if (kind) {
        fprintf(stderr, "zerorl data gen: unexpected argument '%s' (one KIND)\n", a);
        return 2;
      }
      kind = a;
      continue;
    }
    if (strcmp(a, "--n") && strcmp(a, "--seed") && strcmp(a, "--difficulty") && strcmp(a, "--split") && strcmp(a, "--out")) {
      fprintf(stderr, "zerorl data gen: unknown option '%s'\n", a);
      print_usage(stderr);
      return 2;
    }
    if (!v) {
      fprintf(stderr, "zerorl data gen: %s needs a value\n", a);
      return 2;
    }
    i++;
    if (strcmp(a, "--n") == 0) {
      rc = parse_u64(a, v, 100000000, &n);
      have_n = 1;
    } else if (strcmp(a, "--seed") == 0) rc = parse_u64(a, v, UINT64_MAX, &seed);
    else if (strcmp(a, "--difficulty") == 0) rc = parse_u64(a, v, 1000, &difficulty);
    else if (strcmp(a, "--out") == 0) out = v;
    else if (zr_split_parse(v, &split) != 0) {
      fprintf(stderr, "zerorl data gen: --split: %s\n", zr_errmsg());
      rc = 2;
    }
    if (rc) return rc;
  }
  if (!kind || (strcmp(kind, "arith") && strcmp(kind, "countdown"))) {
    if (kind) fprintf(stderr, "zerorl data gen: unknown kind '%s' (arith, countdown)\n", kind);
    else fprintf(stderr, "zerorl data gen: missing KIND (arith, countdown)\n");
    return 2;
  }
  if (!have_n || !out) {
    fprintf(stderr, "zerorl data gen: missing %s\n", !have_n ? "--n N" : "--out FILE");
    return 2;
  }
  zr_taskset *set = NULL;
  int rc = zr_taskset_new(&set);
  if (rc == 0) rc = zr_taskgen(kind, (size_t)n, seed, (int)difficulty, split, set);
  if (rc == -EINVAL) {
    fprintf(stderr, "zerorl data gen: %s\n", zr_errmsg());
    zr_taskset_free(&set);
    return 2;
  }
  FILE *f = NULL;
  if (rc == 0) {
    f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
    if (!f) rc = zr_seterr(-EIO, "%s: cannot create: %s", out, strerror(errno));
  }
  if (rc == 0) rc = write_generated(set, sft, f, out);
  if (f && f != stdout && fclose(f) != 0 && rc == 0) rc = zr_seterr(-EIO, "%s: write failed", out);
  if (f == stdout && fflush(stdout) != 0 && rc == 0) rc = zr_seterr(-EIO, "stdout: write failed");
  zr_taskset_free(&set);
  if (rc) {
    fprintf(stderr, "zerorl data gen: %s\n", zr_errmsg());
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
    {"gen", cmd_data_gen},
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
