/* zerorl plot: draws a run directory's metrics.jsonl against the optimizer step with gnuplot.
 *
 * metrics.jsonl holds one JSON object per optimizer step. Each figure below is drawn when at
 * least one of its fields has a number somewhere in the file; fields that are missing from a
 * line leave a gap, fields that never occur are skipped, other fields are ignored:
 *
 *   reward.FMT            reward_mean, reward, and every per-component reward/<name> or
 *                         reward_<name> (reward_std is left out: it is a spread, not a reward)
 *   accuracy.FMT          accuracy, acc, pass@1
 *   response_length.FMT   response_len_mean/min/max, response_length_mean, completion_len_mean
 *   kl.FMT                kl, kl_mean, kl_ref
 *   entropy.FMT           entropy, entropy_mean
 *
 * The x axis is the "step" field (the line's ordinal when a line has none). The tool writes the
 * data and a gnuplot script to a temporary directory and runs `gnuplot` on it as a child
 * process; a missing gnuplot is a clear error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "tools/commands.h"

#define PROG "zerorl plot"
#define MAX_SERIES 32

static const char plot_usage[] =
    "usage: zerorl plot RUN_DIR [--format png|svg] [--out DIR]\n"
    "\n"
    "Reads RUN_DIR/metrics.jsonl (one JSON object per optimizer step) and draws, against the\n"
    "step, the reward (mean and per component: reward/<name> or reward_<name>), accuracy,\n"
    "response length, KL and entropy, one file per figure, with gnuplot. Fields that are not in\n"
    "the file are skipped.\n"
    "  --format png|svg   image format (default png)\n"
    "  --out DIR          where the images go (default RUN_DIR/plots; created if needed)\n"
    "Exit status: 0 drawn; 1 unreadable or malformed metrics, nothing to plot, gnuplot missing or\n"
    "failing; 2 usage error.\n";

typedef struct {
  const char *file;             /* output base name */
  const char *title;            /* figure title */
  const char *ylabel;           /* y axis */
  const char *const *fields;    /* exact names, NULL-terminated */
  int reward_components;        /* also reward/<x>, reward_<x> */
  const char *names[MAX_SERIES]; /* the series found, in first-seen order (owned by the rows) */
  int n;
} figure;

static const char *const reward_fields[] = {"reward_mean", "reward", NULL};
static const char *const accuracy_fields[] = {"accuracy", "acc", "pass@1", NULL};
static const char *const length_fields[] = {"response_len_mean", "response_len_min", "response_len_max",
                                            "response_length_mean", "completion_len_mean", NULL};
static const char *const kl_fields[] = {"kl", "kl_mean", "kl_ref", NULL};
static const char *const entropy_fields[] = {"entropy", "entropy_mean", NULL};

static int is_component(const char *k) {
  if (strncmp(k, "reward/", 7) == 0) return k[7] != '\0';
  if (strncmp(k, "reward_", 7) == 0)
    return k[7] != '\0' && strcmp(k, "reward_mean") != 0 && strcmp(k, "reward_std") != 0;
  return 0;
}

static int wants(const figure *f, const char *k) {
  for (int i = 0; f->fields[i]; i++)
    if (strcmp(k, f->fields[i]) == 0) return 1;
  return f->reward_components && is_component(k);
}

static void add_series(figure *f, const char *k) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->names[i], k) == 0) return;
  if (f->n < MAX_SERIES) f->names[f->n++] = k;
}

/* gnuplot string literal: single quotes, '' for a quote */
static void gp_quote(FILE *out, const char *s) {
  fputc('\'', out);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', out);
    fputc(*s, out);
  }
  fputc('\'', out);
}

static int run_gnuplot(const char *script) {
  pid_t pid = fork();
  if (pid < 0) return zr_seterr(-errno, "fork: %s", strerror(errno));
  if (pid == 0) {
    execlp("gnuplot", "gnuplot", script, (char *)NULL);
    _exit(errno == ENOENT ? 127 : 126);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return zr_seterr(-errno, "waitpid: %s", strerror(errno));
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
    return zr_seterr(-ENOENT, "gnuplot is not installed (not on PATH); install it, e.g. 'apt-get install "
                              "gnuplot-nox' (deploy/install-deps.sh does)");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return zr_seterr(-EIO, "gnuplot failed (%s %d) on the script %s", WIFEXITED(st) ? "exit status" : "signal",
                     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), script);
  return 0;
}

static int mkdir_p(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return zr_seterr(-ENAMETOOLONG, "%s: too long", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) return zr_seterr(-errno, "mkdir %s: %s", buf, strerror(errno));
      *p = c;
      if (!c) break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return zr_seterr(-ENOTDIR, "%s: not a directory", path);
  return 0;
}

/* Reads every line of path into *rows (a JSON array of objects). */
static int read_metrics(const char *path, json_t **rows) {
  FILE *f = fopen(path, "r");
  if (!f) return zr_seterr(-errno, "%s: %s", path, strerror(errno));
  *rows = json_array();
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long lineno = 0;
  int rc = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    size_t sp = strspn(line, " \t");
    if (line[sp] == '\0') continue;
    json_error_t e;
    json_t *v = json_loadb(line, (size_t)len, 0, &e);
    if (!v) {
      rc = zr_seterr(-EINVAL, "%s:%ld: malformed JSON at column %d: %s", path, lineno, e.column, e.text);
      break;
    }
    if (!json_is_object(v)) {
      json_decref(v);
      rc = zr_seterr(-EINVAL, "%s:%ld: expected a JSON object per line", path, lineno);
      break;
    }
    json_t *step = json_object_get(v, "step");
    if (step && !json_is_number(step)) {
      json_decref(v);
      rc = zr_seterr(-EINVAL, "%s:%ld: field 'step' must be a number", path, lineno);
      break;
    }
    if (!step) json_object_set_new(v, "step", json_integer((json_int_t)json_array_size(*rows)));
    json_array_append_new(*rows, v);
  }
  if (!rc && ferror(f)) rc = zr_seterr(-EIO, "%s: read error", path);
  free(line);
  fclose(f);
  if (!rc && json_array_size(*rows) == 0) rc = zr_seterr(-EINVAL, "%s: no metrics (the file is empty)", path);
  if (rc) {
    json_decref(*rows);
    *rows = NULL;
  }
  return rc;
}

int zr_cmd_plot(int argc, char **argv) {
  if (zr_cmd_wants_help(argc, argv)) {
    fputs(plot_usage, stdout);
    return 0;
  }
  const char *run_dir = NULL, *fmt = "png", *out_dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--format") == 0 || strcmp(argv[i], "--out") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n%s", argv[i], plot_usage);
        return 2;
      }
      if (argv[i][2] == 'f') fmt = argv[++i];
      else out_dir = argv[++i];
    } else if (argv[i][0] == '-') {
      fprintf(stderr, PROG ": unknown option '%s'\n%s", argv[i], plot_usage);
      return 2;
    } else if (run_dir) {
      fprintf(stderr, PROG ": more than one RUN_DIR ('%s' and '%s')\n", run_dir, argv[i]);
      return 2;
    } else {
      run_dir = argv[i];
    }
  }
  if (!run_dir) {
    fprintf(stderr, PROG ": missing RUN_DIR\n%s", plot_usage);
    return 2;
  }
  if (strcmp(fmt, "png") != 0 && strcmp(fmt, "svg") != 0) {
    fprintf(stderr, PROG ": --format %s: expected png or svg\n", fmt);
    return 2;
  }
  char metrics[4096], outbuf[4096];
  snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", run_dir);
  if (!out_dir) {
    snprintf(outbuf, sizeof outbuf, "%s/plots", run_dir);
    out_dir = outbuf;
  }

  json_t *rows = NULL;
  if (read_metrics(metrics, &rows) < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    return 1;
  }
  figure figs[] = {
      {"reward", "reward", "reward", reward_fields, 1, {0}, 0},
      {"accuracy", "accuracy", "accuracy", accuracy_fields, 0, {0}, 0},
      {"response_length", "response length", "tokens", length_fields, 0, {0}, 0},
      {"kl", "KL to the reference", "KL", kl_fields, 0, {0}, 0},
      {"entropy", "entropy", "nats/token", entropy_fields, 0, {0}, 0},
  };
  const int nfigs = (int)(sizeof figs / sizeof figs[0]);
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    const char *k;
    json_t *v;
    json_object_foreach(row, k, v) {
      if (!json_is_number(v) || !isfinite(json_number_value(v))) continue;
      for (int g = 0; g < nfigs; g++)
        if (wants(&figs[g], k)) add_series(&figs[g], k);
    }
  }
  int drawn = 0;
  for (int g = 0; g < nfigs; g++) drawn += figs[g].n > 0;
  if (!drawn) {
    fprintf(stderr, PROG ": %s: nothing to plot (no numeric reward, accuracy, response length, KL or entropy field)\n",
            metrics);
    json_decref(rows);
    return 1;
  }
  if (mkdir_p(out_dir) < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    json_decref(rows);
    return 1;
  }

  char tmp[] = "/tmp/zerorl-plot-XXXXXX";
  if (!mkdtemp(tmp)) {
    fprintf(stderr, PROG ": cannot make a temporary directory: %s\n", strerror(errno));
    json_decref(rows);
    return 1;
  }
  char script[512], data[512];
  snprintf(script, sizeof script, "%s/plot.gp", tmp);
  FILE *gp = fopen(script, "w");
  int status = gp ? 0 : 1;
  if (gp) {
    fprintf(gp, "set datafile missing '?'\nset key outside right top noenhanced\nset grid\nset xlabel 'step'\n");
    fprintf(gp, "set terminal %s size 1000,600 noenhanced\n", strcmp(fmt, "png") == 0 ? "png" : "svg");
  }
  for (int g = 0; gp && g < nfigs; g++) {
    figure *f = &figs[g];
    if (!f->n) continue;
    snprintf(data, sizeof data, "%s/%s.dat", tmp, f->file);
    FILE *d = fopen(data, "w");
    if (!d) {
      status = 1;
      break;
    }
    json_array_foreach(rows, i, row) {
      fprintf(d, "%.17g", json_number_value(json_object_get(row, "step")));
      for (int s = 0; s < f->n; s++) {
        json_t *v = json_object_get(row, f->names[s]);
        if (v && json_is_number(v) && isfinite(json_number_value(v))) fprintf(d, " %.17g", json_number_value(v));
        else fprintf(d, " ?");
      }
      fputc('\n', d);
    }
    if (fclose(d) != 0) status = 1;
    char img[4200];
    snprintf(img, sizeof img, "%s/%s.%s", out_dir, f->file, fmt);
    fprintf(gp, "set output ");
    gp_quote(gp, img);
    fprintf(gp, "\nset title ");
    gp_quote(gp, f->title);
    fprintf(gp, "\nset ylabel ");
    gp_quote(gp, f->ylabel);
    fprintf(gp, "\nplot ");
    for (int s = 0; s < f->n; s++) {
      fprintf(gp, "%s", s ? ", \\\n     " : "");
      gp_quote(gp, data);
      fprintf(gp, " using 1:%d with linespoints pointsize 0.5 title ", s + 2);
      gp_quote(gp, f->names[s]);
    }
    fprintf(gp, "\nunset output\n");
  }
  if (gp && fclose(gp) != 0) status = 1;
  if (status) fprintf(stderr, PROG ": cannot write the plot files in %s: %s\n", tmp, strerror(errno));
  if (!status && run_gnuplot(script) < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    status = 1;
  }
  if (!status)
    for (int g = 0; g < nfigs; g++)
      if (figs[g].n) printf("%s/%s.%s\n", out_dir, figs[g].file, fmt);
  /* the temporary files */
  for (int g = 0; g < nfigs; g++) {
    snprintf(data, sizeof data, "%s/%s.dat", tmp, figs[g].file);
    unlink(data);
  }
  unlink(script);
  rmdir(tmp);
  json_decref(rows);
  return status;
}
