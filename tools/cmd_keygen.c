/* zerorl keygen: makes a ZeroMQ CURVE key pair for a daemon ([security] in the job config).
 *
 * PREFIX.key gets the secret key and PREFIX.pub the public key, each as one Z85 line (40
 * characters and a newline), the format zr_zsock_read_key() and the learner's allow-list read.
 * The secret file is created with mode 0600. Existing files are never overwritten unless
 * --force is given (and then the secret file is made 0600 again). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "tools/commands.h"

#define PROG "zerorl keygen"

static const char keygen_usage[] =
    "usage: zerorl keygen --out PREFIX [--force]\n"
    "\n"
    "Makes a ZeroMQ CURVE key pair: PREFIX.key holds the secret key (mode 0600), PREFIX.pub the\n"
    "public key, each one Z85 line. Use them in a job config's [security] section:\n"
    "  curve_secret_key_file / curve_public_key_file    this daemon's PREFIX.key / PREFIX.pub\n"
    "  curve_server_public_key_file                     the learner's .pub\n"
    "  allowed_clients_file (learner)                   the clients' .pub lines, one per line\n"
    "  --out PREFIX   where the keys go (PREFIX.key and PREFIX.pub)\n"
    "  --force        overwrite existing files\n"
    "Exit status: 0 written; 1 failure (files exist, cannot write, no CURVE in libzmq); 2 usage error.\n";

/* Writes text to path; excl: refuse an existing file. 0 or -1 with a message printed. */
static int write_key(const char *path, const char *key, mode_t mode, int force) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
  if (fd < 0) {
    if (errno == EEXIST) fprintf(stderr, PROG ": %s exists; not overwritten (use --force)\n", path);
    else fprintf(stderr, PROG ": cannot create %s: %s\n", path, strerror(errno));
    return -1;
  }
  char line[64];
  int n = snprintf(line, sizeof line, "%s\n", key);
  int rc = fchmod(fd, mode) == 0 && write(fd, line, (size_t)n) == n ? 0 : -1;
  if (rc < 0) fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
  if (close(fd) < 0 && rc == 0) {
    fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
    rc = -1;
  }
  return rc;
}

int zr_cmd_keygen(int argc, char **argv) {
  if (zr_cmd_wants_help(argc, argv)) {
    fputs(keygen_usage, stdout);
    return 0;
  }
  const char *prefix = NULL;
  int force = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) prefix = argv[++i];
    else if (strncmp(argv[i], "--out=", 6) == 0) prefix = argv[i] + 6;
    else if (strcmp(argv[i], "--force") == 0) force = 1;
    else {
      fprintf(stderr, PROG ": unexpected argument '%s'\n%s", argv[i], keygen_usage);
      return 2;
    }
  }
  if (!prefix || !prefix[0]) {
    fprintf(stderr, PROG ": --out PREFIX is required\n%s", keygen_usage);
    return 2;
  }
  char sec_path[4200], pub_path[4200];
  if (snprintf(sec_path, sizeof sec_path, "%s.key", prefix) >= (int)sizeof sec_path ||
      snprintf(pub_path, sizeof pub_path, "%s.pub", prefix) >= (int)sizeof pub_path) {
    fprintf(stderr, PROG ": --out: path too long\n");
    return 2;
  }
  if (!force) { /* check both first: never leave half a pair behind */
    const char *paths[2] = {sec_path, pub_path};
    for (int i = 0; i < 2; i++)
      if (access(paths[i], F_OK) == 0) {
        fprintf(stderr, PROG ": %s exists; not overwritten (use --force)\n", paths[i]);
        return 1;
      }
  }
  if (!zmq_has("curve")) {
    fprintf(stderr, PROG ": this libzmq was built without CURVE support\n");
    return 1;
  }
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) {
    fprintf(stderr, PROG ": zmq_curve_keypair: %s\n", zmq_strerror(zmq_errno()));
    return 1;
  }
  int rc = write_key(sec_path, sec, 0600, force);
  if (rc == 0 && write_key(pub_path, pub, 0644, force) < 0) {
    unlink(sec_path);
    rc = -1;
  }
  explicit_bzero(sec, sizeof sec);
  if (rc < 0) return 1;
  printf("secret key: %s (mode 0600; keep it private)\npublic key: %s (%s)\n", sec_path, pub_path, pub);
  return 0;
}
