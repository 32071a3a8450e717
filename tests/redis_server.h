/* redis_server.h: a private, throw-away redis-server for integration tests (header-only).
 *
 * zr_test_redis_start() makes a fresh temporary directory, forks and execs
 *
 *   redis-server --port PORT --bind 127.0.0.1 --unixsocket DIR/redis.sock --unixsocketperm 700
 *                --save '' --appendonly no --dir DIR --logfile DIR/redis.log [--requirepass PW]
 *
 * (PORT 0: no TCP listener) and waits, with a deadline, until the server answers on its
 * socket. The server never outlives the test: it gets SIGKILL when the test process dies
 * (PR_SET_PDEATHSIG, which covers crashes and sanitizer aborts) and from an atexit handler,
 * and zr_test_redis_stop() kills it, reaps it and removes the directory.
 *
 *   if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");
 *   zr_test_redis srv;
 *   if (zr_test_redis_start(&srv, 0, NULL) != 0) return 1;   // Unix socket only
 *   ... connect to srv.sock (or 127.0.0.1:srv.port) ...
 *   zr_test_redis_kill(&srv);      // kill -9, like a crash; the data is gone
 *   zr_test_redis_restart(&srv);   // same socket, same port, empty data set
 *   zr_test_redis_stop(&srv);      // always, at the end
 *
 * The helpers print what went wrong (and the tail of the server log) to stderr and return -1;
 * they are not thread-safe, and are for test programs only. */
#ifndef ZR_TEST_REDIS_SERVER_H
#define ZR_TEST_REDIS_SERVER_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  pid_t pid;         /* 0 when not running */
  int port;          /* TCP port on 127.0.0.1, 0 for none */
  char password[64]; /* requirepass, "" for none */
  char dir[64];      /* the temporary directory */
  char sock[128];    /* DIR/redis.sock */
  char log[128];     /* DIR/redis.log */
} zr_test_redis;

#define ZR_TEST_REDIS_MAX_LIVE 8
static pid_t zr_test_redis_live[ZR_TEST_REDIS_MAX_LIVE];

static inline void zr_test_redis_atexit(void) {
  for (int i = 0; i < ZR_TEST_REDIS_MAX_LIVE; i++)
    if (zr_test_redis_live[i] > 0) {
      kill(zr_test_redis_live[i], SIGKILL);
      waitpid(zr_test_redis_live[i], NULL, 0);
      zr_test_redis_live[i] = 0;
    }
}

static inline void zr_test_redis_track(pid_t add, pid_t remove) {
  static int registered;
  if (!registered) {
    atexit(zr_test_redis_atexit);
    registered = 1;
  }
  for (int i = 0; i < ZR_TEST_REDIS_MAX_LIVE; i++) {
    if (remove && zr_test_redis_live[i] == remove) zr_test_redis_live[i] = 0;
    if (add && zr_test_redis_live[i] == 0) {
      zr_test_redis_live[i] = add;
      add = 0;
    }
  }
}

/* 1 when redis-server is on PATH. */
static inline int zr_test_redis_available(void) {
  return system("command -v redis-server >/dev/null 2>&1") == 0;
}

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
static inline int zr_test_redis_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static inline void zr_test_redis_print_log(const zr_test_redis *s) {
  FILE *f = fopen(s->log, "r");
  if (!f) return;
  char line[512];
  fprintf(stderr, "---- %s ----\n", s->log);
  while (fgets(line, sizeof line, f)) fputs(line, stderr);
  fclose(f);
}

static inline uint64_t zr_test_redis_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Starts the server described by s (dir, sock, port, password already set) and waits up to
 * 5 s for it to answer on the Unix socket. */
static inline int zr_test_redis_spawn(zr_test_redis *s) {
  char port[16];
  snprintf(port, sizeof port, "%d", s->port);
  const char *argv[24];
  int n = 0;
  argv[n++] = "redis-server";
  argv[n++] = "--port";
  argv[n++] = port;
  argv[n++] = "--bind";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--unixsocket";
  argv[n++] = s->sock;
  argv[n++] = "--unixsocketperm";
  argv[n++] = "700";
  argv[n++] = "--save";
  argv[n++] = "";
  argv[n++] = "--appendonly";
  argv[n++] = "no";
  argv[n++] = "--dir";
  argv[n++] = s->dir;
  argv[n++] = "--logfile";
  argv[n++] = s->log;
  if (s->password[0]) {
    argv[n++] = "--requirepass";
    argv[n++] = s->password;
  }
  argv[n] = NULL;

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "redis_server: fork: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    if (getppid() != parent) _exit(1);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
    }
    execvp("redis-server", (char *const *)argv);
    _exit(127);
  }
  s->pid = pid;
  zr_test_redis_track(pid, 0);

  uint64_t deadline = zr_test_redis_now_ms() + 5000;
  while (zr_test_redis_now_ms() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      fprintf(stderr, "redis_server: redis-server exited during start (status %d)\n", status);
      zr_test_redis_track(0, pid);
      s->pid = 0;
      zr_test_redis_print_log(s);
      return -1;
    }
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectUnixWithTimeout(s->sock, tv);
    if (c && !c->err) {
      redisSetTimeout(c, tv);
      redisReply *rep = redisCommand(c, "PING"); /* NOAUTH also proves it is up */
      int up = rep != NULL;
      if (rep) freeReplyObject(rep);
      redisFree(c);
      if (up) return 0;
    } else if (c) {
      redisFree(c);
    }
    usleep(10000);
  }
  fprintf(stderr, "redis_server: redis-server did not answer on %s within 5 s\n", s->sock);
  zr_test_redis_print_log(s);
  return -1;
}

/* tcp_port: 0 for none, -1 for a free port; password: NULL for none. */
static inline int zr_test_redis_start(zr_test_redis *s, int tcp_port, const char *password) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/zr-redis-XXXXXX");
  if (!mkdtemp(s->dir)) {
    fprintf(stderr, "redis_server: mkdtemp: %s\n", strerror(errno));
    return -1;
  }
  snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
  snprintf(s->log, sizeof s->log, "%s/redis.log", s->dir);
  snprintf(s->password, sizeof s->password, "%s", password ? password : "");
  s->port = tcp_port < 0 ? zr_test_redis_free_port() : tcp_port;
  if (s->port < 0) {
    fprintf(stderr, "redis_server: no free TCP port\n");
    return -1;
  }
  return zr_test_redis_spawn(s);
}

/* Sends sig (SIGSTOP, SIGCONT, ...) without waiting. */
static inline void zr_test_redis_signal(zr_test_redis *s, int sig) {
  if (s->pid > 0) kill(s->pid, sig);
}

/* kill -9 and reap: the server is gone when this returns. */
static inline void zr_test_redis_kill(zr_test_redis *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  zr_test_redis_track(0, s->pid);
  s->pid = 0;
}

/* Starts the server again on the same socket and port, with an empty data set. */
static inline int zr_test_redis_restart(zr_test_redis *s) {
  zr_test_redis_kill(s);
  return zr_test_redis_spawn(s);
}

/* Kills the server and removes its directory. Safe to call more than once. */
static inline void zr_test_redis_stop(zr_test_redis *s) {
  zr_test_redis_kill(s);
  if (!s->dir[0]) return;
  DIR *d = opendir(s->dir);
  if (d) {
    struct dirent *e;
    char path[400];
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
        snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
        unlink(path);
      }
    closedir(d);
  }
  rmdir(s->dir);
  s->dir[0] = '\0';
}

#endif
