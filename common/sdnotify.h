/* sdnotify.h: the systemd readiness and watchdog protocol (sd_notify) without libsystemd.
 *
 * A daemon started by a Type=notify unit tells systemd it is ready ("READY=1"), what it is
 * doing ("STATUS=..."), that it is still alive ("WATCHDOG=1", at least every WatchdogSec) and
 * that it is shutting down ("STOPPING=1"). systemd passes the socket in $NOTIFY_SOCKET: a path
 * ("/run/systemd/notify") or an abstract socket ("@/org/freedesktop/..."); each message is one
 * datagram of newline-separated VAR=value lines. When $NOTIFY_SOCKET is unset (run by hand, in
 * tests, under another supervisor) every call here is a no-op that returns 0.
 *
 * The watchdog: systemd sets $WATCHDOG_USEC (and $WATCHDOG_PID, the pid that must ping) when
 * the unit has WatchdogSec; zr_sd_watchdog_usec() reads them and zr_sd_watchdog_start() runs a
 * libuv timer that sends WATCHDOG=1 at half that interval, so the pings come from the loop
 * thread and stop when the loop stalls, which is what the watchdog is for.
 *
 * Ownership: no state besides the caller's zr_sd_watchdog. zr_sd_notify is thread-safe (one
 * socket per call); the watchdog runs on its loop's thread. */
#ifndef ZR_SDNOTIFY_H
#define ZR_SDNOTIFY_H

#include <stdint.h>
#include <uv.h>

/* Sends `state` ("READY=1", "STATUS=draining\nSTOPPING=1", ...) to $NOTIFY_SOCKET. Returns 1
 * when sent, 0 when $NOTIFY_SOCKET is unset, or a negative errno-style code with a message
 * (zr_errmsg()) for a bad socket address or a failed send. */
int zr_sd_notify(const char *state);

/* printf-style; the text is cut at 4 KiB. */
int zr_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval in microseconds systemd expects pings within, or 0 when there is none
 * for this process ($WATCHDOG_USEC unset, not a positive integer, or $WATCHDOG_PID set to a
 * pid other than getpid()). */
uint64_t zr_sd_watchdog_usec(void);

/* A libuv timer that sends WATCHDOG=1 every usec/2 (rounded to ms, at least 1 ms). */
typedef struct {
  uv_timer_t timer;
  uint64_t interval_ms; /* 0: not running */
  uint64_t pings;       /* sent so far */
} zr_sd_watchdog;

/* Starts the timer on loop when zr_sd_watchdog_usec() (or `usec`, when non-zero) gives an
 * interval: sends one ping now and then one every half interval. Returns 1 when started, 0
 * when no watchdog is wanted (nothing to close then), or a negative libuv error. The timer
 * is unref'ed: it does not keep the loop alive by itself. */
int zr_sd_watchdog_start(zr_sd_watchdog *wd, uv_loop_t *loop, uint64_t usec);

/* Stops and closes the timer if it was started (keep running the loop for the close). */
void zr_sd_watchdog_stop(zr_sd_watchdog *wd);

#endif
