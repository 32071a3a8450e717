/* zerorl: the command-line tool. One binary, one subcommand per job: `zerorl --help` lists
 * them. Subcommands are small functions that wire libraries together; they return the
 * process exit status (0 success, 1 failure, 2 usage error). */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include <xxhash.h>
#include <zmq.h>

#include "common/config.h"
#include "common/error.h"
#include "common/frame.h"
#ifdef ZERORL_HAVE_CUDA
#include "cuda/device.h"
#endif

#ifndef ZERORL_GIT_COMMIT
#define ZERORL_GIT_COMMIT "unknown"
#endif

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} subcommand;

static int cmd_version(int argc, char **argv);
static int cmd_config(int argc, char **argv);

static const subcommand subcommands[] = {
    {"version", "print versions of zerorl, its protocol and its libraries, and the GPUs seen", cmd_version},
    {"config", "check a job config and print its effective values; write the config reference", cmd_config},
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

static int wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

/* ---- zerorl version ----------------------------------------------------------------------- */

static int cmd_version(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    printf("usage: zerorl version\n\nPrints zerorl's version and commit, the wire protocol version, the\n"
           "versions of the libraries it runs on, and the CUDA devices this process can see.\n");
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "zerorl version: unexpected argument '%s'\n", argv[1]);
    return 2;
  }
  int zmaj, zmin, zpat;
  zmq_version(&zmaj, &zmin, &zpat);
  printf("zerorl %s (commit %s)\n", ZERORL_VERSION, ZERORL_GIT_COMMIT);
  printf("protocol %d\n", ZR_PROTOCOL_VERSION);
  printf("libzmq %d.%d.%d, libuv %s, hiredis %d.%d.%d, protobuf-c %s, jansson %s, xxhash %u\n", zmaj, zmin, zpat,
         uv_version_string(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, protobuf_c_version(), JANSSON_VERSION,
         XXH_versionNumber());
#ifdef ZERORL_HAVE_CUDA
  char rt[32], why[256];
  zr_cuda_runtime_version(rt, sizeof rt);
  int n = zr_cuda_device_count(why, sizeof why);
  printf("cuda backend: built (runtime %s), %d device%s%s%s%s\n", rt, n, n == 1 ? "" : "s", n ? "" : " (",
         n ? "" : why, n ? "" : ")");
  for (int i = 0; i < n; i++) {
    char name[256];
    size_t mem = 0;
    if (zr_cuda_device_info(i, name, sizeof name, &mem) == 0)
      printf("  cuda:%d %s, %.1f GiB\n", i, name, (double)mem / (1024.0 * 1024 * 1024));
  }
#else
  printf("cuda backend: not built (configure with -DZERORL_CUDA=ON where nvcc is installed)\n");
#endif
  return 0;
}

/* ---- zerorl config ------------------------------------------------------------------------ */

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

static int cmd_config(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(config_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "check") == 0) {
    if (wants_help(argc - 1, argv + 1)) {
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

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) return cmd_version(1, argv + 1);
  for (size_t i = 0; i < N_SUBCOMMANDS; i++)
    if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "zerorl: unknown command '%s' (see 'zerorl --help')\n", argv[1]);
  return 2;
}
