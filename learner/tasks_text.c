/* tasks_text.c: prompt templates, SFT files and the JSONL line reader (tasks.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/tasks.h"
#include "learner/tasks_internal.h"

/* ---- reading files --------------------------------------------------------------------- */

int zr_read_all_(const char *path, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) return zr_seterr(errno == ENOENT ? -ENOENT : -EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  int rc = buf ? 0 : zr_seterr(-ENOMEM, "%s: out of memory", path);
  while (rc == 0) {
    if (cap - len < 2) {
      char *p = cap > ((size_t)1 << 40) ? NULL : realloc(buf, cap * 2);
      if (!p) {
        rc = zr_seterr(-ENOMEM, "%s: out of memory (%zu bytes read)", path, len);
        break;
      }
      buf = p;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) rc = zr_seterr(-EIO, "%s: read error: %s", path, strerror(errno));
      break;
    }
  }
  if (!is_stdin) fclose(f);
  if (rc) {
    free(buf);
    return rc;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return 0;
}

int zr_jsonl_each_(const char *buf, size_t len, const char *what,
                   int (*fn)(const char *line, size_t len, long lineno, const char *what, void *ctx), void *ctx) {
  size_t i = 0;
  long lineno = 0;
  while (i < len) {
    lineno++;
    const char *nl = memchr(buf + i, '\n', len - i);
    size_t end = nl ? (size_t)(nl - buf) : len;
    size_t n = end - i;
    if (n > 0 && buf[i + n - 1] == '\r') n--;
    if (n > ZR_TASK_MAX_LINE)
      return zr_seterr(-EINVAL, "%s:%ld: line: too long (%zu bytes, limit %u)", what, lineno, n, ZR_TASK_MAX_LINE);
    size_t k = 0;
    while (k < n && (buf[i + k] == ' ' || buf[i + k] == '\t')) k++;
    if (k < n) {
      int rc = fn(buf + i, n, lineno, what, ctx);
      if (rc) return rc;
    }
    i = end + 1;
  }
  return 0;
}

/* ---- a growing string ------------------------------------------------------------------ */

typedef struct {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static int sb_finish(sbuf *b, char **out) {
  if (!b->oom && !b->p) sb_add(b, "", 0);
  if (b->oom) {
    free(b->p);
    *out = NULL;
    return zr_seterr(-ENOMEM, "out of memory rendering a prompt");
  }
  *out = b->p;
  return 0;
}

/* ---- templates ------------------------------------------------------------------------- */

static const char r1zero_head[] =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>.\nUser: ";

int zr_template_parse(const char *s, zr_template *out) {
  if (s && (strcmp(s, "r1zero") == 0 || strcmp(s, "r1") == 0)) *out = ZR_TEMPLATE_R1ZERO;
  else if (s && strcmp(s, "chatml") == 0) *out = ZR_TEMPLATE_CHATML;
  else if (s && strcmp(s, "raw") == 0) *out = ZR_TEMPLATE_RAW;
  else return zr_seterr(-EINVAL, "unknown prompt template '%s' (r1zero, chatml, raw)", s ? s : "(null)");
  return 0;
}

const char *zr_template_name(zr_template t) {
  switch (t) {
    case ZR_TEMPLATE_R1ZERO: return "r1zero";
    case ZR_TEMPLATE_CHATML: return "chatml";
    case ZR_TEMPLATE_RAW: return "raw";
  }
  return "?";
}

static void chatml_msg(sbuf *b, const char *role, const char *content) {
  sb_str(b, "<|im_start|>");
  sb_str(b, role);
  sb_str(b, "\n");
  sb_str(b, content);
  sb_str(b, "<|im_end|>\n");
}

int zr_chatml_render(const zr_message *m, size_t n, bool add_open, char **out) {
  sbuf b = {0};
  for (size_t i = 0; i < n; i++) chatml_msg(&b, m[i].role, m[i].content);
  if (add_open) sb_str(&b, "<|im_start|>assistant\n");
  return sb_finish(&b, out);
}

int zr_template_render(zr_template t, const zr_task *task, char **out) {
  *out = NULL;
  sbuf b = {0};
  switch (t) {
    case ZR_TEMPLATE_R1ZERO:
      sb_str(&b, r1zero_head);
      sb_str(&b, zr_task_prompt_text(task));
      sb_str(&b, "\nAssistant:");
      break;
    case ZR_TEMPLATE_CHATML:
      if (task->n_messages) return zr_chatml_render(task->messages, task->n_messages, true, out);
      chatml_msg(&b, "user", zr_task_prompt_text(task));
      sb_str(&b, "<|im_start|>assistant\n");
      break;
    case ZR_TEMPLATE_RAW:
      sb_str(&b, zr_task_prompt_text(task));
      break;
    default:
      return zr_seterr(-EINVAL, "unknown prompt template %d", (int)t);
  }
  return sb_finish(&b, out);
}

/* ---- SFT sets -------------------------------------------------------------------------- */

struct zr_sftset {
  zr_sft_example *ex;
  size_t n, cap;
};

int zr_sftset_new(zr_sftset **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : zr_seterr(-ENOMEM, "SFT set: out of memory");
}

size_t zr_sftset_count(const zr_sftset *s) { return s ? s->n : 0; }

const zr_sft_example *zr_sftset_get(const zr_sftset *s, size_t i) {
  ZR_ASSERT(s && i < s->n);
  return &s->ex[i];
}

/* Moves prompt and completion in (frees them on failure). */
static int sft_take(zr_sftset *s, char *prompt, char *completion) {
  if (!prompt || !completion) goto oom;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    zr_sft_example *p = realloc(s->ex, cap * sizeof *p);
    if (!p) goto oom;
    s->ex = p;
    s->cap = cap;
  }
  s->ex[s->n].prompt = prompt;
  s->ex[s->n].completion = completion;
  s->n++;
  return 0;
oom:
  free(prompt);
  free(completion);
  return zr_seterr(-ENOMEM, "SFT set: out of memory");
}

int zr_sftset_add(zr_sftset *s, const char *prompt, const char *completion) {
  return sft_take(s, zr_strndup_(prompt, strlen(prompt)), zr_strndup_(completion, strlen(completion)));
}

void zr_sftset_free(zr_sftset **ps) {
  if (!ps || !*ps) return;
  for (size_t i = 0; i < (*ps)->n; i++) {
    free((*ps)->ex[i].prompt);
    free((*ps)->ex[i].completion);
  }
  free((*ps)->ex);
  free(*ps);
  *ps = NULL;
}

static int sft_string(const json_t *obj, const char *key, const char *where, const char **out, size_t *n) {
  json_t *v = json_object_get(obj, key);
  if (!v) return zr_seterr(-EINVAL, "%s: %s: missing", where, key);
  if (!json_is_string(v)) return zr_seterr(-EINVAL, "%s: %s: must be a string", where, key);
  *out = json_string_value(v);
  *n = json_string_length(v);
  if (memchr(*out, '\0', *n)) return zr_seterr(-EINVAL, "%s: %s: contains a NUL byte", where, key);
  if (*n > ZR_TASK_MAX_PROMPT) return zr_seterr(-EINVAL, "%s: %s: too long (%zu bytes, limit %u)", where, key, *n, ZR_TASK_MAX_PROMPT);
  return 0;
}

static int sft_line(const char *line, size_t len, long lineno, const char *what, void *ctx) {
  zr_sftset *s = ctx;
  char where[1200];
  snprintf(where, sizeof where, "%s:%ld", what, lineno);
  json_error_t e;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
  if (!obj) return zr_seterr(-EINVAL, "%s: json: invalid JSON at column %d: %s", where, e.column, e.text);
  int rc = 0;
  if (!json_is_object(obj)) {
    rc = zr_seterr(-EINVAL, "%s: line: expected a JSON object", where);
  } else if (json_object_get(obj, "messages")) {
    /* reuse the task parser for the messages array */
    zr_task t;
    json_t *wrap = json_pack("{s:s, s:s, s:s, s:O}", "id", "sft", "kind", "exact", "answer", "-", "messages",
                             json_object_get(obj, "messages"));
    if (!wrap) rc = zr_seterr(-ENOMEM, "%s: out of memory", where);
    else rc = zr_task_from_json(wrap, where, &t);
    json_decref(wrap);
    if (rc == 0) {
      size_t n = t.n_messages;
      if (n < 2 || strcmp(t.messages[n - 1].role, "assistant") != 0) {
        rc = zr_seterr(-EINVAL, "%s: messages: the last message must be the assistant's, after at least one other", where);
      } else {
        char *prompt = NULL, *completion = NULL;
        rc = zr_chatml_render(t.messages, n - 1, true, &prompt);
        if (rc == 0) {
          size_t cl = strlen(t.messages[n - 1].content);
          completion = malloc(cl + sizeof "<|im_end|>");
          if (completion) {
            memcpy(completion, t.messages[n - 1].content, cl);
            memcpy(completion + cl, "<|im_end|>", sizeof "<|im_end|>");
          }
          rc = sft_take(s, prompt, completion);
        }
      }
      zr_task_release(&t);
    }
  } else {
    const char *p, *c;
    size_t pn, cn;
    if ((rc = sft_string(obj, "prompt", where, &p, &pn)) == 0 && (rc = sft_string(obj, "completion", where, &c, &cn)) == 0) {
      if (cn == 0) rc = zr_seterr(-EINVAL, "%s: completion: must not be empty", where);
      else rc = sft_take(s, zr_strndup_(p, pn), zr_strndup_(c, cn));
    }
  }
  json_decref(obj);
  return rc;
}

int zr_sftset_parse(zr_sftset **out, const char *buf, size_t len, const char *what) {
  *out = NULL;
  zr_sftset *s;
  int rc = zr_sftset_new(&s);
  if (rc) return rc;
  if ((rc = zr_jsonl_each_(buf, len, what, sft_line, s))) {
    zr_sftset_free(&s);
    return rc;
  }
  *out = s;
  return 0;
}

int zr_sftset_load(zr_sftset **out, const char *path) {
  *out = NULL;
  char *buf;
  size_t len;
  int rc = zr_read_all_(path, &buf, &len);
  if (rc) return rc;
  rc = zr_sftset_parse(out, buf, len, path);
  free(buf);
  return rc;
}
