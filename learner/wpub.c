/* wpub.c: weight versions (snapshot, manifest, checksums) and the publisher holding the last K. */
#include "learner/wpub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/frame.h"
#include "common/util.h"

#define WPUB_MAX_CHUNK_BYTES (1u << 30)

struct zr_wversion {
  uint64_t version, step;
  zr_dtype dtype;
  uint32_t chunk_bytes;
  uint32_t n_chunks;
  uint64_t total_bytes;
  unsigned char *data;
  uint64_t checksum;
  uint64_t *chunk_sums;
  size_t n_tensors;
  Zerorl__TensorInfo *infos;   /* [n_tensors] */
  Zerorl__TensorInfo **info_ptrs;
  uint64_t *shapes;            /* [n_tensors * 2] */
  char **names;
};

struct zr_wpub {
  int keep;
  int n;
  zr_wversion **v; /* oldest first, [keep] */
  /* corrupt-once hook */
  int corrupt_armed;
  uint64_t corrupt_version;
  uint32_t corrupt_index;
  unsigned char *scratch;
  size_t scratch_cap;
  zr_wpub_stats st;
};

static const char *dtype_wire_name(zr_dtype dt) {
  switch (dt) {
  case ZR_DT_F32: return "f32";
  case ZR_DT_BF16: return "bf16";
  case ZR_DT_F16: return "f16";
  default: return "?";
  }
}

void zr_wversion_free(zr_wversion **pv) {
  if (!pv || !*pv) return;
  zr_wversion *v = *pv;
  if (v->names)
    for (size_t i = 0; i < v->n_tensors; i++) free(v->names[i]);
  free(v->names);
  free(v->infos);
  free(v->info_ptrs);
  free(v->shapes);
  free(v->chunk_sums);
  free(v->data);
  free(v);
  *pv = NULL;
}

int zr_wversion_build(zr_wversion **out, zr_tf *m, uint64_t version, uint64_t step, zr_dtype dtype,
                      uint32_t chunk_bytes) {
  ZR_ASSERT(out && m);
  *out = NULL;
  if (dtype != ZR_DT_F32 && dtype != ZR_DT_BF16)
    return zr_seterr(-EINVAL, "wpub: weight dtype must be F32 or BF16, not %s", zr_dtype_name(dtype));
  if (chunk_bytes == 0) chunk_bytes = ZR_WPUB_DEFAULT_CHUNK_BYTES;
  if (chunk_bytes > WPUB_MAX_CHUNK_BYTES)
    return zr_seterr(-EINVAL, "wpub: chunk_bytes %u over the limit %u", chunk_bytes, WPUB_MAX_CHUNK_BYTES);
  size_t esz = zr_dtype_size(dtype);
  size_t nt = zr_tf_n_tensors(m);
  zr_wversion *v = calloc(1, sizeof *v);
  if (!v) return zr_seterr(-ENOMEM, "wpub: out of memory");
  v->version = version;
  v->step = step;
  v->dtype = dtype;
  v->chunk_bytes = chunk_bytes;
  v->n_tensors = nt;
  v->infos = calloc(nt ? nt : 1, sizeof *v->infos);
  v->info_ptrs = calloc(nt ? nt : 1, sizeof *v->info_ptrs);
  v->shapes = calloc(nt ? 2 * nt : 1, sizeof *v->shapes);
  v->names = calloc(nt ? nt : 1, sizeof *v->names);
  if (!v->infos || !v->info_ptrs || !v->shapes || !v->names) goto oom;
  size_t max_numel = 0;
  uint64_t total = 0;
  for (size_t i = 0; i < nt; i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(m, i);
    Zerorl__TensorInfo *ti = &v->infos[i];
    zerorl__tensor_info__init(ti);
    v->names[i] = strdup(t->name);
    if (!v->names[i]) goto oom;
    ti->name = v->names[i];
    ti->dtype = (char *)dtype_wire_name(dtype);
    ti->n_shape = (size_t)t->ndim;
    ti->shape = &v->shapes[2 * i];
    for (int d = 0; d < t->ndim; d++) ti->shape[d] = (uint64_t)t->shape[d];
    ti->offset = total;
    ti->nbytes = (uint64_t)t->numel * esz;
    total += ti->nbytes;
    v->info_ptrs[i] = ti;
    if (t->numel > max_numel) max_numel = t->numel;
  }
  v->total_bytes = total;
  v->n_chunks = (uint32_t)((total + chunk_bytes - 1) / chunk_bytes);
  if ((total + chunk_bytes - 1) / chunk_bytes > UINT32_MAX) {
    zr_wversion_free(&v);
    return zr_seterr(-EINVAL, "wpub: %llu bytes make too many chunks of %u", (unsigned long long)total,
                     chunk_bytes);
  }
  v->data = malloc(total ? total : 1);
  v->chunk_sums = calloc(v->n_chunks ? v->n_chunks : 1, sizeof *v->chunk_sums);
  float *tmp = malloc((max_numel ? max_numel : 1) * sizeof(float));
  if (!v->data || !v->chunk_sums || !tmp) {
    free(tmp);
    goto oom;
  }
  for (size_t i = 0; i < nt; i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(m, i);
    int rc = zr_tf_get_tensor(m, t->name, tmp, t->numel);
    if (rc < 0) {
      free(tmp);
      zr_wversion_free(&v);
      return rc;
    }
    zr_f32_to_dtype(dtype, tmp, v->data + v->infos[i].offset, t->numel);
  }
  free(tmp);
  for (uint32_t c = 0; c < v->n_chunks; c++) {
    uint64_t off = (uint64_t)c * chunk_bytes;
    uint64_t len = total - off < chunk_bytes ? total - off : chunk_bytes;
    v->chunk_sums[c] = zr_checksum64(v->data + off, (size_t)len);
  }
  v->checksum = zr_checksum64(v->data, (size_t)total);
  *out = v;
  return 0;
oom:
  zr_wversion_free(&v);
  return zr_seterr(-ENOMEM, "wpub: out of memory building version %llu", (unsigned long long)version);
}

uint64_t zr_wversion_number(const zr_wversion *v) { return v->version; }
uint64_t zr_wversion_step(const zr_wversion *v) { return v->step; }
uint64_t zr_wversion_total_bytes(const zr_wversion *v) { return v->total_bytes; }
uint32_t zr_wversion_n_chunks(const zr_wversion *v) { return v->n_chunks; }
uint64_t zr_wversion_checksum(const zr_wversion *v) { return v->checksum; }
const void *zr_wversion_data(const zr_wversion *v) { return v->data; }

/* ---- publisher --------------------------------------------------------------------------- */

int zr_wpub_new(zr_wpub **out, int keep) {
  ZR_ASSERT(out);
  *out = NULL;
  if (keep < 1) return zr_seterr(-EINVAL, "wpub: keep must be >= 1, not %d", keep);
  zr_wpub *p = calloc(1, sizeof *p);
  if (!p) return zr_seterr(-ENOMEM, "wpub: out of memory");
  p->v = calloc((size_t)keep, sizeof *p->v);
  if (!p->v) {
    free(p);
    return zr_seterr(-ENOMEM, "wpub: out of memory");
  }
  p->keep = keep;
  *out = p;
  return 0;
}

void zr_wpub_free(zr_wpub **pp) {
  if (!pp || !*pp) return;
  zr_wpub *p = *pp;
  for (int i = 0; i < p->n; i++) zr_wversion_free(&p->v[i]);
  free(p->v);
  free(p->scratch);
  free(p);
  *pp = NULL;
}

int zr_wpub_add(zr_wpub *p, zr_wversion *v) {
  ZR_ASSERT(p && v);
  if (p->n > 0 && v->version <= p->v[p->n - 1]->version) {
    uint64_t have = p->v[p->n - 1]->version, got = v->version;
    zr_wversion_free(&v);
    return zr_seterr(-EINVAL, "wpub: version %llu is not newer than the newest held (%llu)",
                     (unsigned long long)got, (unsigned long long)have);
  }
  if (p->n == p->keep) {
    if (p->corrupt_armed && p->corrupt_version == p->v[0]->version) p->corrupt_armed = 0;
    zr_wversion_free(&p->v[0]);
    memmove(p->v, p->v + 1, (size_t)(p->n - 1) * sizeof *p->v);
    p->n--;
    p->st.versions_evicted++;
  }
  p->v[p->n++] = v;
  p->st.versions_added++;
  return 0;
}

static zr_wversion *find(const zr_wpub *p, uint64_t version) {
  for (int i = 0; i < p->n; i++)
    if (p->v[i]->version == version) return p->v[i];
  return NULL;
}

bool zr_wpub_latest_version(const zr_wpub *p, uint64_t *version) {
  if (p->n == 0) return false;
  if (version) *version = p->v[p->n - 1]->version;
  return true;
}

bool zr_wpub_has_version(const zr_wpub *p, uint64_t version) { return find(p, version) != NULL; }
int zr_wpub_n_versions(const zr_wpub *p) { return p->n; }

int zr_wpub_announcement(const zr_wpub *p, uint64_t version, const char *endpoint,
                         Zerorl__WeightVersion *wv) {
  ZR_ASSERT(p && wv);
  zerorl__weight_version__init(wv);
  const zr_wversion *v = version == 0 ? (p->n ? p->v[p->n - 1] : NULL) : find(p, version);
  if (!v) return zr_seterr(-ENOENT, "wpub: version %llu is not held", (unsigned long long)version);
  wv->version = v->version;
  wv->step = v->step;
  wv->n_tensors = v->n_tensors;
  wv->tensors = v->info_ptrs;
  wv->total_bytes = v->total_bytes;
  wv->chunk_bytes = v->chunk_bytes;
  wv->n_chunk_checksums = v->n_chunks;
  wv->chunk_checksums = v->chunk_sums;
  wv->checksum = v->checksum;
  wv->endpoint = (char *)(endpoint ? endpoint : "");
  return 0;
}

int zr_wpub_encode_announcement(const zr_wpub *p, uint64_t version, const char *endpoint,
                                const char *job_id, const char *sender_id, uint8_t **buf, size_t *len) {
  Zerorl__WeightVersion wv;
  int rc = zr_wpub_announcement(p, version, endpoint, &wv);
  wv.learner_id = (char *)sender_id; /* a restarted learner is a new sender: actors resync to it */
  if (rc < 0) return rc;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_VERSION;
  env.weight_version = &wv;
  return zr_frame_encode(&env, job_id, sender_id, 0, buf, len);
}

static int locate(zr_wpub *p, uint64_t version, uint32_t index, zr_wversion **vo) {
  zr_wversion *v = find(p, version);
  if (!v) return zr_seterr(-ENOENT, "wpub: version %llu is gone", (unsigned long long)version);
  if (index >= v->n_chunks)
    return zr_seterr(-ERANGE, "wpub: chunk %u of version %llu out of range (%u chunks)", index,
                     (unsigned long long)version, v->n_chunks);
  *vo = v;
  return 0;
}

int zr_wpub_chunk(zr_wpub *p, uint64_t version, uint32_t index, const void **data, uint32_t *len,
                  uint64_t *offset, uint64_t *checksum) {
  ZR_ASSERT(p);
  zr_wversion *v;
  int rc = locate(p, version, index, &v);
  if (rc < 0) {
    p->st.chunk_misses++;
    return rc;
  }
  uint64_t off = (uint64_t)index * v->chunk_bytes;
  uint32_t n = (uint32_t)(v->total_bytes - off < v->chunk_bytes ? v->total_bytes - off : v->chunk_bytes);
  const void *d = v->data + off;
  if (p->corrupt_armed && p->corrupt_version == version && p->corrupt_index == index) {
    p->corrupt_armed = 0;
    if (n > 0) {
      if (p->scratch_cap < n) {
        unsigned char *s = realloc(p->scratch, n);
        if (!s) return zr_seterr(-ENOMEM, "wpub: out of memory");
        p->scratch = s;
        p->scratch_cap = n;
      }
      memcpy(p->scratch, d, n);
      p->scratch[n / 2] ^= 0x5a;
      d = p->scratch;
    }
  }
  if (data) *data = d;
  if (len) *len = n;
  if (offset) *offset = off;
  if (checksum) *checksum = v->chunk_sums[index];
  p->st.chunks_served++;
  p->st.bytes_served += n;
  return 0;
}

int zr_wpub_corrupt_once(zr_wpub *p, uint64_t version, uint32_t index) {
  zr_wversion *v;
  int rc = locate(p, version, index, &v);
  if (rc < 0) return rc;
  p->corrupt_armed = 1;
  p->corrupt_version = version;
  p->corrupt_index = index;
  return 0;
}

zr_wpub_stats zr_wpub_get_stats(const zr_wpub *p) { return p->st; }
