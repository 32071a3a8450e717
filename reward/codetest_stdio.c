/* codetest_stdio.c: stdin/stdout tests. The program is compiled once (in a jail), then each
 * case runs in a fresh jail with the case's input as stdin; the expected output stays here and
 * is compared with the captured stdout in C. Cases may run several at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/util.h"
#include "reward/codetest_internal.h"
#include "reward/sandbox.h"

#define MAX_PARALLEL 16

static zr_codetest_status map_status(zr_sandbox_status s) {
  switch (s) {
    case ZR_SANDBOX_OK: return ZR_CT_PASS;
    case ZR_SANDBOX_TIMEOUT:
    case ZR_SANDBOX_KILLED: return ZR_CT_TIMEOUT;
    case ZR_SANDBOX_MEMORY_LIMIT: return ZR_CT_MEMORY_LIMIT;
    case ZR_SANDBOX_OUTPUT_LIMIT: return ZR_CT_OUTPUT_LIMIT;
    case ZR_SANDBOX_COMPILE_ERROR: return ZR_CT_COMPILE_ERROR;
    case ZR_SANDBOX_SANDBOX_ERROR: return ZR_CT_SANDBOX_ERROR;
    case ZR_SANDBOX_RUNTIME_ERROR: break;
  }
  return ZR_CT_RUNTIME_ERROR;
}

/* the last non-empty line of a text, for details ("ZeroDivisionError: division by zero") */
static void last_line(const char *s, size_t len, char *out, size_t cap) {
  size_t e = len;
  while (e > 0 && (s[e - 1] == '\n' || s[e - 1] == '\r' || s[e - 1] == ' ')) e--;
  size_t b = e;
  while (b > 0 && s[b - 1] != '\n') b--;
  size_t n = e - b < cap - 1 ? e - b : cap - 1;
  memcpy(out, s + b, n);
  out[n] = '\0';
}

static void judge(zr_codetest_case *c, const zr_sandbox_result *r, const char *want, size_t want_len,
                  const zr_codetest_opts *o) {
  c->time_ms = r->wall_ms;
  c->status = map_status(r->status);
  if (c->status == ZR_CT_PASS) {
    char why[160];
    if (!zr_codetest_compare(r->out, r->out_len, want, want_len, o, why, sizeof why)) {
      c->status = ZR_CT_WRONG_ANSWER;
      zr_strlcpy(c->detail, why, sizeof c->detail);
    }
    return;
  }
  char tail[120];
  last_line(r->err, r->err_len, tail, sizeof tail);
  snprintf(c->detail, sizeof c->detail, "%.70s%s%s", r->message, tail[0] ? "; " : "", tail);
}

int zr_ct_run_stdio(const char *code, const zr_lang *lang, const json_t *cases, const zr_codetest_opts *o,
                    zr_codetest_result *out) {
  int n = (int)json_array_size(cases);
  if (o->max_cases > 0 && n > o->max_cases) n = o->max_cases;
  zr_sandbox_prog prog;
  zr_sandbox_result cr;
  int rc = zr_sandbox_prog_build(&prog, lang, code, strlen(code), &cr);
  if (rc < 0) {
    int frc = zr_ct_fail_all(out, n, ZR_CT_SANDBOX_ERROR, zr_errmsg());
    out->status = ZR_CT_SANDBOX_ERROR;
    if (cr.out || cr.err) zr_sandbox_result_release(&cr);
    return frc < 0 ? frc : rc;
  }
  if (rc == 1) {
    char why[512];
    snprintf(why, sizeof why, "%.100s: %.380s", cr.message, cr.err);
    zr_sandbox_result_release(&cr);
    zr_sandbox_prog_release(&prog);
    return zr_ct_fail_all(out, n, ZR_CT_COMPILE_ERROR, why);
  }
  zr_sandbox_result_release(&cr);
  if ((rc = zr_ct_result_alloc(out, n)) < 0) {
    zr_sandbox_prog_release(&prog);
    return rc;
  }
  uint64_t budget_end = zr_clock_mono_ns() + (uint64_t)(o->total_time_s * 1e9);
  int par = o->parallel < 1 ? 1 : o->parallel > MAX_PARALLEL ? MAX_PARALLEL : o->parallel;
  zr_codetest_status stopped = ZR_CT_PASS;
  const char *stop_why = NULL;
  rc = 0;
  for (int base = 0; base < n; base += par) {
    int k = n - base < par ? n - base : par;
    if (!stop_why && zr_clock_mono_ns() >= budget_end) {
      stopped = ZR_CT_TIMEOUT;
      stop_why = "not run: the total time budget was spent";
    }
    if (stop_why) {
      for (int i = base; i < base + k; i++) {
        out->cases[i].status = stopped;
        zr_strlcpy(out->cases[i].detail, stop_why, sizeof out->cases[i].detail);
      }
      continue;
    }
    zr_sandbox_spec specs[MAX_PARALLEL];
    zr_sandbox_file files[MAX_PARALLEL];
    zr_sandbox_limits lims[MAX_PARALLEL];
    zr_sandbox_result res[MAX_PARALLEL];
    for (int j = 0; j < k; j++) {
      const json_t *c = json_array_get(cases, (size_t)(base + j));
      const char *in = json_string_value(json_object_get(c, "input"));
      size_t want_len = json_string_length(json_object_get(c, "output"));
      zr_sandbox_limits *l = &lims[j];
      zr_sandbox_limits_init(l);
      l->cpu_ms = (uint32_t)(o->time_limit_s * 1000 + 0.5);
      l->wall_ms = 2 * l->cpu_ms + 1000;
      l->memory_mb = o->memory_mb;
      l->stdout_cap = o->output_cap > 2 * want_len + 4096 ? o->output_cap : 2 * want_len + 4096;
      zr_sandbox_prog_spec(&prog, in, json_string_length(json_object_get(c, "input")), l, &specs[j], &files[j]);
    }
    int grc = zr_sandbox_run_group(specs, k, res, -1);
    for (int j = 0; j < k; j++) {
      const json_t *c = json_array_get(cases, (size_t)(base + j));
      zr_codetest_case *cc = &out->cases[base + j];
      judge(cc, &res[j], json_string_value(json_object_get(c, "output")), json_string_length(json_object_get(c, "output")), o);
      zr_sandbox_result_release(&res[j]);
      if (o->stop_at_first_failure && cc->status != ZR_CT_PASS && !stop_why) {
        stopped = cc->status;
        stop_why = "not run: stopped at the first failure";
      }
    }
    if (grc < 0) {
      rc = grc;
      stopped = ZR_CT_SANDBOX_ERROR;
      stop_why = "not run: the sandbox failed";
    }
  }
  zr_sandbox_prog_release(&prog);
  zr_ct_result_finish(out);
  if (rc < 0) out->status = ZR_CT_SANDBOX_ERROR;
  return rc;
}
