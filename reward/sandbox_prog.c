/* sandbox_prog.c: programs in a language from the table (lang.h): compile once inside a jail,
 * keep the binary the compiler left (read back by the jail's init, never executed on the host),
 * then run it, or the interpreter on the source, as many times as there are test cases. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "reward/sandbox.h"

void zr_sandbox_prog_release(zr_sandbox_prog *prog) {
  if (!prog) return;
  free(prog->source);
  free(prog->binary);
  memset(prog, 0, sizeof *prog);
}

int zr_sandbox_prog_build(zr_sandbox_prog *prog, const zr_lang *lang, const char *source, size_t len,
                          zr_sandbox_result *compile_out) {
  ZR_ASSERT(prog && lang && (source || len == 0));
  memset(prog, 0, sizeof *prog);
  zr_sandbox_result local;
  zr_sandbox_result *r = compile_out ? compile_out : &local;
  memset(r, 0, sizeof *r);
  prog->lang = lang;
  prog->source = malloc(len + 1);
  if (!prog->source) return zr_seterr(-ENOMEM, "sandbox: out of memory for a %zu-byte source", len);
  if (len) memcpy(prog->source, source, len);
  prog->source[len] = '\0';
  prog->source_len = len;
  if (!zr_lang_is_compiled(lang)) {
    r->status = ZR_SANDBOX_OK;
    r->exit_code = 0;
    r->cgroup_mode = "none";
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    if (r == &local) zr_sandbox_result_release(&local);
    return 0;
  }
  zr_sandbox_spec spec;
  zr_sandbox_spec_init(&spec);
  zr_sandbox_file file = {.name = lang->source_file, .data = source, .len = len, .mode = 0644};
  spec.argv = lang->compile_argv;
  spec.ro_paths = lang->ro_paths;
  spec.files = &file;
  spec.n_files = 1;
  spec.collect = lang->binary_file;
  spec.collect_cap = 64u << 20;
  spec.limits.cpu_ms = lang->compile_cpu_ms;
  spec.limits.wall_ms = lang->compile_cpu_ms + 10000;
  spec.limits.memory_mb = lang->compile_memory_mb;
  spec.limits.as_mb = 4 * lang->compile_memory_mb;
  spec.limits.max_procs = lang->compile_procs;
  spec.limits.tmpfs_mb = lang->compile_tmpfs_mb;
  spec.limits.fsize_mb = 64;
  spec.limits.stdout_cap = 1 << 20;
  spec.limits.stderr_cap = 1 << 20;
  int rc = zr_sandbox_run(&spec, r);
  if (rc < 0) {
    if (r == &local) zr_sandbox_result_release(&local);
    zr_sandbox_prog_release(prog);
    return rc;
  }
  if (r->status != ZR_SANDBOX_OK || !r->collected || r->collected_len == 0) {
    char why[200]; /* a long reason is cut; the compiler's own words are in r->err */
    snprintf(why, sizeof why, "%.199s", r->status == ZR_SANDBOX_OK ? "the compiler left no binary" : r->message);
    snprintf(r->message, sizeof r->message, "compile failed: %s", why);
    r->status = ZR_SANDBOX_COMPILE_ERROR;
    if (r == &local) zr_sandbox_result_release(&local);
    zr_sandbox_prog_release(prog);
    prog->lang = lang;
    return 1;
  }
  prog->binary = r->collected;
  prog->binary_len = r->collected_len;
  r->collected = NULL;
  r->collected_len = 0;
  if (r == &local) zr_sandbox_result_release(&local);
  return 0;
}

int zr_sandbox_prog_spec(const zr_sandbox_prog *prog, const char *stdin_data, size_t stdin_len,
                         const zr_sandbox_limits *lim, zr_sandbox_spec *spec, zr_sandbox_file *file) {
  ZR_ASSERT(prog && prog->lang && lim && spec && file);
  const zr_lang *lang = prog->lang;
  zr_sandbox_spec_init(spec);
  if (zr_lang_is_compiled(lang)) {
    if (!prog->binary) return zr_seterr(-EINVAL, "sandbox: program in %s has no binary (did it compile?)", lang->name);
    *file = (zr_sandbox_file){.name = lang->binary_file, .data = prog->binary, .len = prog->binary_len, .mode = 0755};
  } else {
    *file = (zr_sandbox_file){.name = lang->source_file, .data = prog->source, .len = prog->source_len, .mode = 0644};
  }
  spec->argv = lang->run_argv;
  spec->ro_paths = lang->ro_paths;
  spec->files = file;
  spec->n_files = 1;
  spec->stdin_data = stdin_data;
  spec->stdin_len = stdin_len;
  spec->oom_marker = lang->oom_marker;
  spec->limits = *lim;
  return 0;
}

int zr_sandbox_prog_run(const zr_sandbox_prog *prog, const char *stdin_data, size_t stdin_len,
                        const zr_sandbox_limits *lim, zr_sandbox_result *out) {
  zr_sandbox_spec spec;
  zr_sandbox_file file;
  int rc = zr_sandbox_prog_spec(prog, stdin_data, stdin_len, lim, &spec, &file);
  if (rc < 0) {
    memset(out, 0, sizeof *out);
    out->status = ZR_SANDBOX_SANDBOX_ERROR;
    out->exit_code = -1;
    out->cgroup_mode = "none";
    out->out = calloc(1, 1);
    out->err = calloc(1, 1);
    snprintf(out->message, sizeof out->message, "%s", zr_errmsg());
    return rc;
  }
  return zr_sandbox_run(&spec, out);
}
