/* test_sdnotify: common/sdnotify.h against a real unix datagram socket (path and abstract),
 * the no-op without $NOTIFY_SOCKET, WATCHDOG_USEC / WATCHDOG_PID parsing and the libuv
 * watchdog timer. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "common/sdnotify.h"
#include "tests/test.h"

/* Binds a datagram socket at `name` (a path, or "@..." for the abstract namespace). */
static int bind_dgram(const char *name) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n = strlen(name);
  memcpy(sa.sun_path, name, n);
  if (name[0] == '@') sa.sun_path[0] = '\0';
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] != '@'));
  if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static const char *recv_msg(int fd, char *buf, size_t cap) {
  ssize_t n = recv(fd, buf, cap - 1, 0);
  if (n < 0) return NULL;
  buf[n] = '\0';
  return buf;
}

typedef struct {
  zr_sd_watchdog *wd;
  uv_timer_t stop;
} wd_run;

static void on_stop(uv_timer_t *t) {
  wd_run *r = t->data;
  zr_sd_watchdog_stop(r->wd);
  uv_close((uv_handle_t *)t, NULL);
}

int main(void) {
  char buf[8192];

  /* unset: no-op */
  unsetenv("NOTIFY_SOCKET");
  CHECK_INT(zr_sd_notify("READY=1"), 0);

  /* a path socket */
  char dir[] = "/tmp/zr-sdnotify-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/notify", dir);
  int fd = bind_dgram(path);
  CHECK(fd >= 0);
  setenv("NOTIFY_SOCKET", path, 1);
  CHECK_INT(zr_sd_notify("READY=1"), 1);
  CHECK_STR(recv_msg(fd, buf, sizeof buf), "READY=1");
  CHECK_INT(zr_sd_notifyf("STATUS=scoring %d slots\nSTOPPING=1", 4), 1);
  CHECK_STR(recv_msg(fd, buf, sizeof buf), "STATUS=scoring 4 slots\nSTOPPING=1");

  /* the watchdog timer pings now and then every half interval; unref'ed, it does not keep the
   * loop alive, so a second timer ends the run */
  uv_loop_t loop;
  uv_loop_init(&loop);
  zr_sd_watchdog wd;
  CHECK_INT(zr_sd_watchdog_start(&wd, &loop, 40000), 1); /* 40 ms: ping every 20 ms */
  CHECK_INT(wd.interval_ms, 20);
  wd_run r = {&wd, {0}};
  uv_timer_init(&loop, &r.stop);
  r.stop.data = &r;
  uv_timer_start(&r.stop, on_stop, 110, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
  CHECK(wd.pings >= 3 && wd.pings <= 7);
  int got = 0;
  struct timeval tv = {0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (recv_msg(fd, buf, sizeof buf)) {
    CHECK_STR(buf, "WATCHDOG=1");
    got++;
  }
  CHECK_INT(got, (long long)wd.pings);
  close(fd);
  unlink(path);

  /* nobody listening: a clear error */
  CHECK(zr_sd_notify("READY=1") < 0);
  rmdir(dir);

  /* an abstract socket */
  char abs_name[64];
  snprintf(abs_name, sizeof abs_name, "@zr-sdnotify-test-%d", (int)getpid());
  fd = bind_dgram(abs_name);
  CHECK(fd >= 0);
  setenv("NOTIFY_SOCKET", abs_name, 1);
  CHECK_INT(zr_sd_notify("WATCHDOG=1"), 1);
  CHECK_STR(recv_msg(fd, buf, sizeof buf), "WATCHDOG=1");
  close(fd);

  /* a relative path is refused */
  setenv("NOTIFY_SOCKET", "relative/sock", 1);
  CHECK_INT(zr_sd_notify("READY=1"), -EINVAL);
  unsetenv("NOTIFY_SOCKET");

  /* WATCHDOG_USEC / WATCHDOG_PID */
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  CHECK_INT(zr_sd_watchdog_usec(), 0);
  setenv("WATCHDOG_USEC", "30000000", 1);
  CHECK_INT(zr_sd_watchdog_usec(), 30000000);
  char pid[32];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  setenv("WATCHDOG_PID", pid, 1);
  CHECK_INT(zr_sd_watchdog_usec(), 30000000);
  snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
  setenv("WATCHDOG_PID", pid, 1);
  CHECK_INT(zr_sd_watchdog_usec(), 0); /* meant for another process */
  unsetenv("WATCHDOG_PID");
  setenv("WATCHDOG_USEC", "12abc", 1);
  CHECK_INT(zr_sd_watchdog_usec(), 0);
  setenv("WATCHDOG_USEC", "0", 1);
  CHECK_INT(zr_sd_watchdog_usec(), 0);
  unsetenv("WATCHDOG_USEC");
  uv_loop_init(&loop);
  CHECK_INT(zr_sd_watchdog_start(&wd, &loop, 0), 0); /* no watchdog wanted: nothing started */
  zr_sd_watchdog_stop(&wd);
  CHECK_INT(uv_loop_close(&loop), 0);

  return TEST_DONE();
}
