/* sdnotify.c: sd_notify datagrams and the watchdog timer (sdnotify.h). */
#include "common/sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/error.h"

int zr_sd_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return 0;
  size_t plen = strlen(path);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path)
    return zr_seterr(-EINVAL, "NOTIFY_SOCKET=%s: expected an absolute path or @abstract name of at most %zu bytes",
                     path, sizeof sa.sun_path - 1);
  memcpy(sa.sun_path, path, plen);
  if (path[0] == '@') sa.sun_path[0] = '\0'; /* abstract namespace: no terminating NUL */
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return zr_seterr(-errno, "sd_notify: socket: %s", strerror(errno));
  ssize_t n;
  do {
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return zr_seterr(-err, "sd_notify to %s: %s", path, strerror(err));
  return 1;
}

int zr_sd_notifyf(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return zr_sd_notify(buf);
}

uint64_t zr_sd_watchdog_usec(void) {
  const char *us = getenv("WATCHDOG_USEC");
  if (!us || !*us) return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(us, &end, 10);
  if (errno || *end || v == 0 || us[0] == '-') return 0;
  const char *pid = getenv("WATCHDOG_PID");
  if (pid && *pid) {
    errno = 0;
    long long p = strtoll(pid, &end, 10);
    if (errno || *end || p != (long long)getpid()) return 0;
  }
  return (uint64_t)v;
}

static void on_watchdog(uv_timer_t *t) {
  zr_sd_watchdog *wd = t->data;
  if (zr_sd_notify("WATCHDOG=1") > 0) wd->pings++;
}

int zr_sd_watchdog_start(zr_sd_watchdog *wd, uv_loop_t *loop, uint64_t usec) {
  memset(wd, 0, sizeof *wd);
  if (!usec) usec = zr_sd_watchdog_usec();
  if (!usec) return 0;
  uint64_t ms = usec / 2000;
  if (ms == 0) ms = 1;
  int rc = uv_timer_init(loop, &wd->timer);
  if (rc < 0) return zr_seterr(rc, "watchdog timer: %s", uv_strerror(rc));
  wd->timer.data = wd;
  wd->interval_ms = ms;
  uv_unref((uv_handle_t *)&wd->timer);
  on_watchdog(&wd->timer);
  rc = uv_timer_start(&wd->timer, on_watchdog, ms, ms);
  if (rc < 0) {
    uv_close((uv_handle_t *)&wd->timer, NULL);
    wd->interval_ms = 0;
    return zr_seterr(rc, "watchdog timer: %s", uv_strerror(rc));
  }
  return 1;
}

void zr_sd_watchdog_stop(zr_sd_watchdog *wd) {
  if (!wd->interval_ms) return;
  wd->interval_ms = 0;
  uv_timer_stop(&wd->timer);
  uv_close((uv_handle_t *)&wd->timer, NULL);
}
