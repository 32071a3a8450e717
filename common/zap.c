/* zap.c: the ZAP handler (RFC 27) that enforces the CURVE client allow-list. See zap.h. */
#include "common/zap.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/error.h"
#include "common/log.h"
#include "common/zsock.h"

#define COMP "zap"
#define MAX_FILE_BYTES (16u << 20)

/* ---- the allow-list -------------------------------------------------------------------- */

static int cmp_key(const void *a, const void *b) { return memcmp(a, b, 32); }

void zr_zap_list_release(zr_zap_list *l) {
  if (!l) return;
  free(l->keys);
  l->keys = NULL;
  l->n = 0;
}

bool zr_zap_list_has(const zr_zap_list *l, const uint8_t key[32]) {
  return l && l->n && bsearch(key, l->keys, l->n, 32, cmp_key) != NULL;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

int zr_zap_list_parse(zr_zap_list *out, const char *text, const char *origin) {
  out->keys = NULL;
  out->n = 0;
  size_t cap = 0;
  int line = 0;
  for (const char *p = text; *p;) {
    line++;
    const char *end = strchr(p, '\n');
    if (!end) end = p + strlen(p);
    const char *s = p;
    p = *end ? end + 1 : end;
    while (s < end && is_space(*s)) s++;
    if (s == end) continue;
    /* '#' is a Z85 character (never the first of a key): "#" ends a key only after a blank */
    const char *w = s;
    while (w < end && !is_space(*w)) w++;
    size_t n = (size_t)(w - s);
    const char *rest = w;
    while (rest < end && is_space(*rest)) rest++;
    char z85[ZR_ZSOCK_Z85_KEY_LEN + 1];
    uint8_t key[32];
    bool ok = n == ZR_ZSOCK_Z85_KEY_LEN;
    if (ok) {
      memcpy(z85, s, n);
      z85[n] = '\0';
      ok = zmq_z85_decode(key, z85) != NULL;
    }
    if (!ok && *s == '#') continue;
    ok = ok && (rest == end || *rest == '#');
    if (!ok) {
      zr_zap_list_release(out);
      return zr_seterr(-EINVAL,
                       "%s:%d: not a Z85 CURVE public key (one 40-character key per line, '#' comments): '%.*s'",
                       origin, line, (int)((end - s) > 60 ? 60 : (end - s)), s);
    }
    if (out->n == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      void *k = realloc(out->keys, ncap * 32);
      if (!k) {
        zr_zap_list_release(out);
        return zr_seterr(-ENOMEM, "%s: out of memory", origin);
      }
      out->keys = k;
      cap = ncap;
    }
    memcpy(out->keys[out->n++], key, 32);
  }
  if (out->n > 1) qsort(out->keys, out->n, 32, cmp_key);
  return 0;
}

int zr_zap_list_load(zr_zap_list *out, const char *path) {
  out->keys = NULL;
  out->n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return zr_seterr(-errno, "%s: cannot open the allow-list: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n + 1 == cap) {
      if (cap >= MAX_FILE_BYTES) break;
      char *b = realloc(buf, cap * 2);
      if (!b) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
    size_t k = fread(buf + n, 1, cap - n - 1, f);
    if (k == 0) break;
    n += k;
  }
  int err = ferror(f);
  fclose(f);
  if (!buf) return zr_seterr(-ENOMEM, "%s: out of memory", path);
  if (err || n + 1 == cap) {
    free(buf);
    return zr_seterr(err ? -EIO : -EFBIG, "%s: %s", path, err ? "read error" : "allow-list file too large");
  }
  buf[n] = '\0';
  if (strlen(buf) != n) {
    free(buf);
    return zr_seterr(-EINVAL, "%s: the allow-list contains a NUL byte", path);
  }
  int rc = zr_zap_list_parse(out, buf, path);
  free(buf);
  return rc;
}

/* ---- the handler ----------------------------------------------------------------------- */

struct zr_zap {
  void *ctx;
  zr_zsock *sock;
  char *path;
  zr_zap_list list;
  zr_zap_stats st;
  zr_zap *next; /* registry */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static zr_zap *reg_head;

zr_zap *zr_zap_for_context(void *zmq_ctx) {
  pthread_mutex_lock(&reg_mu);
  zr_zap *z = reg_head;
  while (z && z->ctx != zmq_ctx) z = z->next;
  pthread_mutex_unlock(&reg_mu);
  return z;
}

static void frame_str(const zmq_msg_t *m, char *out, size_t cap) {
  size_t n = zmq_msg_size((zmq_msg_t *)m);
  if (n >= cap) n = cap - 1;
  memcpy(out, zmq_msg_data((zmq_msg_t *)m), n);
  out[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e) out[i] = '?';
}

static void reply(zr_zap *z, const zmq_msg_t *request_id, const char *code, const char *text, const char *user) {
  zr_zsock_part p[6] = {
      {"1.0", 3},
      {request_id ? zmq_msg_data((zmq_msg_t *)request_id) : "", request_id ? zmq_msg_size((zmq_msg_t *)request_id) : 0},
      {code, strlen(code)},
      {text, strlen(text)},
      {user, strlen(user)},
      {"", 0}, /* metadata */
  };
  if (zr_zsock_send(z->sock, p, 6) < 0)
    zr_log_limited("zap-send", 5000, ZR_LOG_ERROR, COMP, "cannot answer a ZAP request: %s", zr_errmsg());
}

/* Request (the REP socket has removed the envelope): version, request id, domain, address,
 * routing id, mechanism, credentials... */
static void on_request(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  zr_zap *z = user;
  z->st.requests++;
  char version[8] = "", mech[16] = "", address[64] = "";
  if (n >= 1) frame_str(&parts[0], version, sizeof version);
  if (n < 6 || strcmp(version, "1.0") != 0) {
    z->st.bad++;
    zr_log_limited("zap-bad", 60000, ZR_LOG_WARN, COMP, "malformed ZAP request frames=%zu version=%s", n, version);
    reply(z, n >= 2 ? &parts[1] : NULL, "500", "malformed ZAP request", "");
    return;
  }
  frame_str(&parts[3], address, sizeof address);
  frame_str(&parts[5], mech, sizeof mech);
  if (strcmp(mech, "CURVE") != 0 || n != 7 || zmq_msg_size(&parts[6]) != 32) {
    z->st.refused++;
    zr_log_limited("zap-mech", 60000, ZR_LOG_WARN, COMP,
                   "refused a client: mechanism %s is not CURVE address=%s refused=%llu", mech, address,
                   (unsigned long long)z->st.refused);
    reply(z, &parts[1], "400", "CURVE required", "");
    return;
  }
  const uint8_t *key = zmq_msg_data(&parts[6]);
  char z85[ZR_ZSOCK_Z85_KEY_LEN + 1];
  if (!zmq_z85_encode(z85, key, 32)) snprintf(z85, sizeof z85, "?");
  if (zr_zap_list_has(&z->list, key)) {
    z->st.accepted++;
    reply(z, &parts[1], "200", "OK", z85);
    return;
  }
  z->st.refused++;
  char lkey[80];
  snprintf(lkey, sizeof lkey, "zap-refused:%s", z85);
  zr_log_limited(lkey, 60000, ZR_LOG_WARN, COMP,
                 "refused a CURVE client: key not in the allow-list key=%s address=%s file=%s refused=%llu", z85,
                 address, z->path, (unsigned long long)z->st.refused);
  reply(z, &parts[1], "400", "key not allowed", "");
}

zr_zap *zr_zap_new(uv_loop_t *loop, void *zmq_ctx, const char *allowed_clients_file) {
  if (!allowed_clients_file || !allowed_clients_file[0]) {
    zr_seterr(-EINVAL, "zap: no allow-list file ([security] allowed_clients_file)");
    return NULL;
  }
  if (zr_zap_for_context(zmq_ctx)) {
    zr_seterr(-EEXIST, "zap: this zmq context has a ZAP handler already");
    return NULL;
  }
  zr_zap *z = calloc(1, sizeof *z);
  if (!z || !(z->path = strdup(allowed_clients_file))) {
    free(z);
    zr_seterr(-ENOMEM, "out of memory");
    return NULL;
  }
  z->ctx = zmq_ctx;
  if (zr_zap_list_load(&z->list, allowed_clients_file) < 0) goto fail;
  zr_zsock_opts o = zr_zsock_opts_default();
  o.linger_ms = 0;
  o.max_parts = 16;
  o.max_msg_bytes = 65536;
  if (!(z->sock = zr_zsock_new(loop, zmq_ctx, ZMQ_REP, &o, on_request, z))) goto fail;
  if (zr_zsock_bind(z->sock, ZR_ZAP_ENDPOINT) < 0) goto fail;
  z->st.keys = z->list.n;
  pthread_mutex_lock(&reg_mu);
  z->next = reg_head;
  reg_head = z;
  pthread_mutex_unlock(&reg_mu);
  if (z->list.n == 0)
    ZR_WARN(COMP, "the allow-list is empty: every CURVE client will be refused file=%s", z->path);
  else
    ZR_INFO(COMP, "CURVE allow-list loaded keys=%zu file=%s", z->list.n, z->path);
  return z;
fail: {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", zr_errmsg());
  zr_zsock_free(&z->sock);
  zr_zap_list_release(&z->list);
  free(z->path);
  free(z);
  zr_seterr(-EINVAL, "%s", msg);
  return NULL;
}
}

void zr_zap_free(zr_zap **zp) {
  zr_zap *z = zp ? *zp : NULL;
  if (!z) return;
  *zp = NULL;
  pthread_mutex_lock(&reg_mu);
  for (zr_zap **pp = &reg_head; *pp; pp = &(*pp)->next)
    if (*pp == z) {
      *pp = z->next;
      break;
    }
  pthread_mutex_unlock(&reg_mu);
  zr_zsock_free(&z->sock);
  zr_zap_list_release(&z->list);
  free(z->path);
  free(z);
}

int zr_zap_reload(zr_zap *z) {
  zr_zap_list l;
  int rc = zr_zap_list_load(&l, z->path);
  if (rc < 0) {
    ZR_ERROR(COMP, "allow-list not reloaded, the previous one stays in force: %s", zr_errmsg());
    return rc;
  }
  zr_zap_list_release(&z->list);
  z->list = l;
  z->st.keys = l.n;
  z->st.reloads++;
  ZR_INFO(COMP, "CURVE allow-list reloaded keys=%zu file=%s", l.n, z->path);
  return 0;
}

zr_zap_stats zr_zap_get_stats(const zr_zap *z) { return z->st; }
