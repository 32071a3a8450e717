/* codetest_assert.c: assert tests (HumanEval / MBPP style) with the verdict kept away from the
 * solution (design in codetest.h). Two jails run as a group: the checker (primary: its end
 * ends the worker) and the worker, joined by two pipes. The checker's verdict lines come back
 * on its result channel; only lines with this run's nonce count, each test once, and the run
 * is complete only with a final "done" line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "reward/codetest_internal.h"
#include "reward/sandbox.h"

#define MAX_UNITS 10000
#define RESULT_CAP (4u << 20)

static const char *const py_argv_checker[] = {"/usr/bin/python3", "-I", "-S", "-B", "checker.py", NULL};
static const char *const py_argv_worker[] = {"/usr/bin/python3", "-I", "-S", "-B", "worker.py", NULL};

/* A test the checker could not finish because the worker stopped answering: the worker's own
 * end says why (detail holds the checker's view and is replaced). */
static zr_codetest_status from_worker(const zr_sandbox_result *w, char *detail, size_t cap) {
  switch (w->status) {
    case ZR_SANDBOX_KILLED: /* still running when the checker ended: it broke the protocol */
    case ZR_SANDBOX_OK: {
      char was[200];
      zr_strlcpy(was, detail, sizeof was);
      snprintf(detail, cap, "the solution stopped answering: %.150s", was[0] ? was : w->message);
      return ZR_CT_RUNTIME_ERROR;
    }
    case ZR_SANDBOX_MEMORY_LIMIT: snprintf(detail, cap, "the solution hit the memory limit"); return ZR_CT_MEMORY_LIMIT;
    case ZR_SANDBOX_OUTPUT_LIMIT: snprintf(detail, cap, "the solution hit an output limit: %.120s", w->message); return ZR_CT_OUTPUT_LIMIT;
    case ZR_SANDBOX_TIMEOUT: snprintf(detail, cap, "the solution hit a time limit: %.120s", w->message); return ZR_CT_TIMEOUT;
    case ZR_SANDBOX_SANDBOX_ERROR: snprintf(detail, cap, "sandbox: %.150s", w->message); return ZR_CT_SANDBOX_ERROR;
    default: break;
  }
  snprintf(detail, cap, "the solution's process ended before the tests did (%.120s)", w->message);
  return ZR_CT_RUNTIME_ERROR;
}

static zr_codetest_status status_from_name(const char *s, int *dead) {
  *dead = 0;
  if (strcmp(s, "pass") == 0) return ZR_CT_PASS;
  if (strcmp(s, "wrong_answer") == 0 || strcmp(s, "test_error") == 0) return ZR_CT_WRONG_ANSWER;
  if (strcmp(s, "timeout") == 0) return ZR_CT_TIMEOUT;
  if (strcmp(s, "output_limit") == 0) return ZR_CT_OUTPUT_LIMIT;
  if (strcmp(s, "compile_error") == 0) return ZR_CT_COMPILE_ERROR;
  if (strcmp(s, "dead") == 0) *dead = 1;
  return ZR_CT_RUNTIME_ERROR; /* runtime_error, not_run, dead (refined by the caller) */
}

/* Reads the checker's lines. Returns the number of units (>= 0) with out->cases filled for the
 * reported ones (unreported stay marked with reported[i] == 0), or -1 when the channel never
 * announced the unit count. *done says whether the final line arrived. */
static int parse_verdicts(const char *buf, size_t len, const char *nonce, zr_codetest_result *out,
                          const zr_sandbox_result *worker, unsigned char **reported, int *done) {
  int n_units = -1;
  *done = 0;
  *reported = NULL;
  for (const char *p = buf; p < buf + len;) {
    const char *nl = memchr(p, '\n', (size_t)(buf + len - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(buf + len - p);
    json_error_t jerr;
    json_t *o = json_loadb(p, l, 0, &jerr);
    p += l + (nl ? 1 : 0);
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "nonce")) ||
        strcmp(json_string_value(json_object_get(o, "nonce")), nonce) != 0) {
      json_decref(o);
      continue; /* not ours: ignored */
    }
    json_t *units = json_object_get(o, "units"), *unit = json_object_get(o, "unit");
    if (json_is_integer(units) && n_units < 0) {
      json_int_t n = json_integer_value(units);
      if (n >= 0 && n <= MAX_UNITS && zr_ct_result_alloc(out, (int)n) == 0) {
        n_units = (int)n;
        *reported = calloc((size_t)n + 1, 1);
      }
    } else if (json_is_integer(unit) && n_units >= 0 && *reported) {
      json_int_t i = json_integer_value(unit);
      const char *st = json_string_value(json_object_get(o, "status"));
      const char *detail = json_string_value(json_object_get(o, "detail"));
      if (i >= 0 && i < n_units && st && !(*reported)[i]) {
        int dead;
        zr_codetest_case *c = &out->cases[i];
        c->status = status_from_name(st, &dead);
        zr_strlcpy(c->detail, detail ? detail : "", sizeof c->detail);
        if (dead) c->status = from_worker(worker, c->detail, sizeof c->detail);
        (*reported)[i] = 1;
      }
    } else if (json_is_true(json_object_get(o, "done")) && n_units >= 0) {
      *done = 1;
    }
    json_decref(o);
  }
  return n_units;
}

int zr_ct_run_assert(const char *code, const zr_lang *lang, const char *test_code, const char *entry_point,
                     const zr_codetest_opts *o, zr_codetest_result *out) {
  char nonce[ZR_ID_HEX_LEN + 1];
  zr_id_new(nonce);
  json_t *plan = json_object();
  json_object_set_new(plan, "nonce", json_string(nonce));
  json_object_set_new(plan, "entry_point", json_string(entry_point ? entry_point : ""));
  json_object_set_new(plan, "call_timeout", json_real(o->time_limit_s));
  json_object_set_new(plan, "load_timeout", json_real(o->time_limit_s + 2));
  char *plan_text = json_dumps(plan, JSON_COMPACT);
  json_decref(plan);
  if (!plan_text) return zr_seterr(-ENOMEM, "codetest: out of memory");

  int req[2], resp[2];
  if (pipe2(req, O_CLOEXEC) < 0) {
    free(plan_text);
    return zr_seterr(-errno, "codetest: pipe: %s", strerror(errno));
  }
  if (pipe2(resp, O_CLOEXEC) < 0) {
    int e = errno;
    close(req[0]);
    close(req[1]);
    free(plan_text);
    return zr_seterr(-e, "codetest: pipe: %s", strerror(e));
  }
  int checker_fds[2] = {req[1], resp[0]}, worker_fds[2] = {req[0], resp[1]};
  zr_sandbox_file checker_files[3] = {
      {.name = "checker.py", .data = zr_codetest_checker_py, .len = strlen(zr_codetest_checker_py)},
      {.name = "tests.py", .data = test_code, .len = strlen(test_code)},
      {.name = "plan.json", .data = plan_text, .len = strlen(plan_text)},
  };
  zr_sandbox_file worker_files[2] = {
      {.name = "worker.py", .data = zr_codetest_worker_py, .len = strlen(zr_codetest_worker_py)},
      {.name = "solution.py", .data = code, .len = strlen(code)},
  };
  uint32_t total_ms = (uint32_t)(o->total_time_s * 1000 + 0.5);
  zr_sandbox_spec specs[2];
  zr_sandbox_spec *chk = &specs[0], *wrk = &specs[1];
  zr_sandbox_spec_init(chk);
  chk->argv = py_argv_checker;
  chk->files = checker_files;
  chk->n_files = 3;
  chk->result_cap = RESULT_CAP;
  chk->pass_fds = checker_fds;
  chk->n_pass_fds = 2;
  chk->limits.cpu_ms = total_ms;
  chk->limits.wall_ms = total_ms + 5000;
  chk->limits.memory_mb = 512;
  chk->limits.stdout_cap = 64 << 10;
  chk->limits.stderr_cap = 64 << 10;
  zr_sandbox_spec_init(wrk);
  wrk->argv = py_argv_worker;
  wrk->ro_paths = lang->ro_paths;
  wrk->files = worker_files;
  wrk->n_files = 2;
  wrk->pass_fds = worker_fds;
  wrk->n_pass_fds = 2;
  wrk->oom_marker = lang->oom_marker;
  wrk->limits.cpu_ms = total_ms;
  wrk->limits.wall_ms = total_ms + 5000;
  wrk->limits.memory_mb = o->memory_mb;
  wrk->limits.stdout_cap = o->output_cap;

  zr_sandbox_result res[2];
  int rc = zr_sandbox_run_group(specs, 2, res, 0); /* closes the pipe ends we gave the jails */
  free(plan_text);
  zr_sandbox_result *cres = &res[0], *wres = &res[1];
  if (rc < 0) {
    out->status = ZR_CT_SANDBOX_ERROR;
    zr_strlcpy(out->detail, zr_errmsg(), sizeof out->detail);
    zr_sandbox_result_release(cres);
    zr_sandbox_result_release(wres);
    return rc;
  }
  unsigned char *reported = NULL;
  int done = 0;
  int n = parse_verdicts(cres->result, cres->result_len, nonce, out, wres, &reported, &done);
  if (n < 0) {
    /* the checker never started its report: the test code did not parse, or the checker died */
    char why[512];
    char tail[200];
    size_t e = cres->err_len, b;
    while (e > 0 && (cres->err[e - 1] == '\n' || cres->err[e - 1] == ' ')) e--;
    for (b = e; b > 0 && cres->err[b - 1] != '\n'; b--) {
    }
    snprintf(tail, sizeof tail, "%.*s", (int)(e - b), cres->err + b);
    snprintf(why, sizeof why, "the test harness did not report (%.100s): %.200s", cres->message, tail);
    zr_sandbox_result_release(cres);
    zr_sandbox_result_release(wres);
    rc = zr_ct_fail_all(out, 1, ZR_CT_SANDBOX_ERROR, why);
    return rc < 0 ? rc : zr_seterr(-EIO, "codetest: %s", why);
  }
  for (int i = 0; i < n; i++) {
    if (reported[i]) continue;
    zr_codetest_case *c = &out->cases[i];
    if (wres->status != ZR_SANDBOX_OK && wres->status != ZR_SANDBOX_KILLED) {
      c->status = from_worker(wres, c->detail, sizeof c->detail);
    } else if (cres->status == ZR_SANDBOX_TIMEOUT) {
      c->status = ZR_CT_TIMEOUT;
      snprintf(c->detail, sizeof c->detail, "the tests ran out of time (%.120s)", cres->message);
    } else {
      c->status = ZR_CT_RUNTIME_ERROR;
      snprintf(c->detail, sizeof c->detail, "no verdict: the test harness ended early (%.120s)", cres->message);
    }
  }
  if (!done) snprintf(out->detail, sizeof out->detail, "the test harness ended before it finished (%.200s)", cres->message);
  free(reported);
  zr_sandbox_result_release(cres);
  zr_sandbox_result_release(wres);
  zr_ct_result_finish(out);
  return 0;
}
