/* cmd_eval.c: `zerorl eval`, a model's accuracy on a task file, in process (learner/offline.c's
 * zr_learner_eval: the actor's generation engine and the reward scorer). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "learner/learner.h"
#include "tools/commands.h"

#define CMD "zerorl eval"

static const char usage_text[] =
    "usage: zerorl eval --model DIR --tasks FILE [--samples K] [--temperature T] [--max-new-tokens N]\n"
    "                   [--template r1zero|chatml|raw] [--stop LIST] [--slots N] [--threads N] [--seed S]\n"
    "                   [--out FILE]\n"
    "\n"
    "Generates K completions per task of FILE (tasks JSONL) with the model in DIR, scores them with\n"
    "the rule-based rewards and prints JSON: per task kind and overall, pass@1 (mean accuracy over\n"
    "samples), pass@K and maj@K (K > 1), mean response length and format rate.\n"
    "  --samples K          completions per task (default 1)\n"
    "  --temperature T      0 = greedy (default 0)\n"
    "  --max-new-tokens N   completion cap (default 1024)\n"
    "  --template T         prompt template (default raw)\n"
    "  --stop LIST          comma-separated stop strings (default </answer>)\n"
    "  --slots N            sequences decoded together (default 64)\n"
    "  --threads N          CPU threads (default: all cores)\n"
    "  --seed S             sampling seed (default 0)\n"
    "  --out FILE           also write the JSON to FILE\n";

int zr_cmd_eval(int argc, char **argv) {
  if (zr_cmd_wants_help(argc, argv)) {
    fputs(usage_text, stdout);
    return 0;
  }
  static const struct option longopts[] = {
      {"model", required_argument, NULL, 'm'},   {"tasks", required_argument, NULL, 't'},
      {"samples", required_argument, NULL, 'k'}, {"temperature", required_argument, NULL, 'T'},
      {"max-new-tokens", required_argument, NULL, 'n'}, {"template", required_argument, NULL, 'p'},
      {"stop", required_argument, NULL, 's'},   {"slots", required_argument, NULL, 'S'},
      {"threads", required_argument, NULL, 'j'}, {"seed", required_argument, NULL, 'e'},
      {"out", required_argument, NULL, 'o'},     {NULL, 0, NULL, 0}};
  const char *model = NULL, *tasks = NULL, *out = NULL;
  zr_config cfg;
  if (zr_config_init_defaults(&cfg) < 0) return 1;
  zr_config_set(&cfg, "data.template=raw", CMD);
  zr_config_set(&cfg, "algo.temperature=0", CMD);
  int k = 1, ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    char set[4200];
    const char *key = NULL;
    switch (ch) {
    case 'm': model = optarg; break;
    case 't': tasks = optarg; break;
    case 'o': out = optarg; break;
    case 'k': key = "algo.eval_samples"; break;
    case 'T': key = "algo.temperature"; break;
    case 'n': key = "algo.max_new_tokens"; break;
    case 'p': key = "data.template"; break;
    case 's': key = "algo.stop"; break;
    case 'S': key = "actor.slots"; break;
    case 'j': key = "model.threads"; break;
    case 'e': key = "learner.seed"; break;
    default: fputs(usage_text, stderr); zr_config_release(&cfg); return 2;
    }
    if (key) {
      snprintf(set, sizeof set, "%s=%s", key, optarg);
      if (zr_config_set(&cfg, set, "--option") < 0) {
        fprintf(stderr, CMD ": %s\n", zr_errmsg());
        zr_config_release(&cfg);
        return 2;
      }
    }
  }
  k = (int)cfg.algo.eval_samples;
  if (!model || !tasks || optind != argc) {
    fprintf(stderr, CMD ": --model and --tasks are required\n%s", usage_text);
    zr_config_release(&cfg);
    return 2;
  }
  json_t *res = NULL;
  int rc = zr_learner_eval(&cfg, model, tasks, cfg.algo.temperature, k, out, &res);
  zr_config_release(&cfg);
  if (rc < 0) {
    fprintf(stderr, CMD ": %s\n", zr_errmsg());
    return 1;
  }
  char *s = json_dumps(res, JSON_INDENT(2));
  if (s) printf("%s\n", s);
  free(s);
  json_decref(res);
  return 0;
}
