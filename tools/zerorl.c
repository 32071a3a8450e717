/* zerorl: the command-line tool. One binary, one subcommand per job: `zerorl --help` lists
 * them. Subcommands are small functions that wire libraries together; they return the
 * process exit status (0 success, 1 failure, 2 usage error). */
#include <stdio.h>
#include <string.h>

#include "tools/commands.h"

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} subcommand;

static const subcommand subcommands[] = {
    {"run", "run a job on this machine: private Redis, learner, actors, reward workers (local cluster)", zr_cmd_run},
    {"eval", "evaluate a model on a task file: pass@1, pass@k, maj@k per task kind", zr_cmd_eval},
    {"version", "print versions of zerorl, its protocol and its libraries, and the GPUs seen", zr_cmd_version},
    {"config", "check a job config and print its effective values; write the config reference", zr_cmd_config},
    {"tokenize", "text to token ids with a Hugging Face tokenizer (JSONL in, JSONL out)", zr_cmd_tokenize},
    {"detokenize", "token ids to text (JSONL in, JSONL out)", zr_cmd_detokenize},
    {"verify", "score completions against tasks with the rule-based rewards (JSONL in, JSONL out)", zr_cmd_verify},
    {"sandbox", "run a program in the sandbox the reward workers use", zr_cmd_sandbox},
    {"model", "make a randomly initialised model directory; describe one (init, info)", zr_cmd_model},
    {"generate", "generate completions of a prompt with a model on the CPU", zr_cmd_generate},
    {"status", "show a job's state, queues, live workers and last metrics from Redis", zr_cmd_status},
    {"plot", "plot a run directory's metrics.jsonl (reward, accuracy, length, KL, entropy) with gnuplot", zr_cmd_plot},
    {"data", "import public datasets as task JSONL; generate arith/countdown tasks and SFT traces", zr_cmd_data},
    {"keygen", "make a ZeroMQ CURVE key pair (PREFIX.key, PREFIX.pub) for [security]", zr_cmd_keygen},
};
#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *out) {
  fprintf(out,
          "usage: zerorl <command> [args]\n"
          "\n"
          "zerorl trains reasoning language models with GRPO and rule-based rewards, as small\n"
          "daemons over ZeroMQ with job state in Redis. Commands:\n\n");
  for (size_t i = 0; i < N_SUBCOMMANDS; i++) fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
  fprintf(out, "\n'zerorl <command> --help' describes a command. Documentation: README.md and docs/.\n");
}

int zr_cmd_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) return zr_cmd_version(1, argv + 1);
  for (size_t i = 0; i < N_SUBCOMMANDS; i++)
    if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "zerorl: unknown command '%s' (see 'zerorl --help')\n", argv[1]);
  return 2;
}
