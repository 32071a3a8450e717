/* sandbox_result.c: the vocabulary around a run: default limits, status and limit names,
 * releasing a result and describing it as JSON (the CLI's status line, logs). */
#include <stdlib.h>
#include <string.h>

#include "reward/sandbox.h"

void zr_sandbox_limits_init(zr_sandbox_limits *lim) {
  memset(lim, 0, sizeof *lim);
  lim->cpu_ms = 5000;
  lim->memory_mb = 512;
  lim->max_procs = 64;
  lim->fsize_mb = 16;
  lim->nofile = 64;
  lim->stack_mb = 64;
  lim->tmpfs_mb = 64;
  lim->stdout_cap = 1 << 20;
  lim->stderr_cap = 64 << 10;
}

void zr_sandbox_spec_init(zr_sandbox_spec *spec) {
  memset(spec, 0, sizeof *spec);
  zr_sandbox_limits_init(&spec->limits);
}

const char *zr_sandbox_status_name(zr_sandbox_status s) {
  switch (s) {
    case ZR_SANDBOX_OK: return "ok";
    case ZR_SANDBOX_RUNTIME_ERROR: return "runtime_error";
    case ZR_SANDBOX_TIMEOUT: return "timeout";
    case ZR_SANDBOX_MEMORY_LIMIT: return "memory_limit";
    case ZR_SANDBOX_OUTPUT_LIMIT: return "output_limit";
    case ZR_SANDBOX_COMPILE_ERROR: return "compile_error";
    case ZR_SANDBOX_SANDBOX_ERROR: return "sandbox_error";
    case ZR_SANDBOX_KILLED: return "killed";
  }
  return "unknown";
}

void zr_sandbox_result_release(zr_sandbox_result *r) {
  if (!r) return;
  free(r->out);
  free(r->err);
  free(r->result);
  free(r->collected);
  r->out = r->err = r->result = NULL;
  r->collected = NULL;
  r->out_len = r->err_len = r->result_len = r->collected_len = 0;
}

json_t *zr_sandbox_result_json(const zr_sandbox_result *r, const zr_sandbox_limits *lim) {
  static const struct {
    unsigned bit;
    const char *name;
  } bits[] = {{ZR_LIMIT_CPU, "cpu"},         {ZR_LIMIT_WALL, "wall"},     {ZR_LIMIT_MEMORY, "memory"},
              {ZR_LIMIT_STDOUT, "stdout"},   {ZR_LIMIT_STDERR, "stderr"}, {ZR_LIMIT_RESULT, "result"},
              {ZR_LIMIT_FSIZE, "file_size"}, {ZR_LIMIT_PROCS, "processes"}};
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string(zr_sandbox_status_name(r->status)));
  json_object_set_new(o, "exit_code", r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
  json_object_set_new(o, "signal", r->signal ? json_integer(r->signal) : json_null());
  json_t *hit = json_array();
  for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
    if (r->limits_hit & bits[i].bit) json_array_append_new(hit, json_string(bits[i].name));
  json_object_set_new(o, "limits_hit", hit);
  json_object_set_new(o, "wall_ms", json_real((double)(int64_t)(r->wall_ms * 1000) / 1000));
  json_object_set_new(o, "setup_ms", json_real((double)(int64_t)(r->setup_ms * 1000) / 1000));
  json_object_set_new(o, "cpu_ms", json_real((double)(int64_t)(r->cpu_ms * 1000) / 1000));
  json_object_set_new(o, "memory_peak_mb", json_real((double)(int64_t)((double)r->memory_peak / 1048576.0 * 100) / 100));
  json_object_set_new(o, "stdout_bytes", json_integer((json_int_t)r->out_len));
  json_object_set_new(o, "stderr_bytes", json_integer((json_int_t)r->err_len));
  json_object_set_new(o, "cgroup", json_string(r->cgroup_mode ? r->cgroup_mode : "none"));
  if (lim) {
    json_t *l = json_object();
    json_object_set_new(l, "cpu_ms", json_integer(lim->cpu_ms));
    json_object_set_new(l, "wall_ms", json_integer(lim->wall_ms ? lim->wall_ms : 2 * lim->cpu_ms + 1000));
    json_object_set_new(l, "memory_mb", json_integer(lim->memory_mb));
    json_object_set_new(l, "max_procs", json_integer(lim->max_procs));
    json_object_set_new(l, "stdout_cap", json_integer((json_int_t)lim->stdout_cap));
    json_object_set_new(o, "limits", l);
  }
  json_object_set_new(o, "message", json_string(r->message));
  return o;
}
