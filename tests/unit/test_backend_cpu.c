/* test_backend_cpu.c: every CPU backend op against a naive scalar reference in double precision
 * on random inputs; backward ops against finite differences of the double reference (so the
 * numerical gradient is exact to ~1e-8, and the op's fp32 gradient is what is measured); the fused
 * LM head against a full log-softmax with chunk sizes that do and do not divide the vocabulary and
 * with several row tiles. Everything runs with 1 and with 3 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/backend.h"
#include "common/error.h"
#include "model/backend_cpu_impl.h"
#include "tests/test.h"

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { /* xorshift64*, uniform in [0,1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static float frand(float s) { return (float)((urand() * 2 - 1) * s); }
static float *rvec(size_t n, float s) {
  float *v = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) v[i] = frand(s);
  return v;
}
static double *dvec(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* max |a-b| / max(max|b|, floor) */
static double rel_err(const float *a, const double *b, size_t n, double floor) {
  double md = 0, mb = floor;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
    if (fabs(b[i]) > mb) mb = fabs(b[i]);
  }
  return md / mb;
}

#define CHECK_REL(a, b, n, tol)                                                          \
  do {                                                                                   \
    double e_ = rel_err((a), (b), (n), 1e-30);                                           \
    if (!(e_ <= (tol))) fprintf(stderr, "  %s: rel err %.3g > %.3g\n", #a, e_, (double)(tol)); \
    CHECK(e_ <= (tol));                                                                  \
  } while (0)

/* ---- GEMM ------------------------------------------------------------------------------ */

static void test_gemm(zr_backend *b) {
  /* shape classes of cpu_gemm: one sgemm call; pieces split over m or over n (2 m n k >= 4e6);
   * x W^T with at most 48 rows (zr_cpu_vec_gemm_nt: 4-row W tiles, 3/2/1-row x tiles, k tails),
   * 49 rows split over n */
  static const int shapes[][3] = {{37, 29, 41}, {1, 29, 41},    {3, 7, 8},      {5, 33, 19},  {16, 130, 67},
                                  {17, 9, 5},   {300, 150, 50}, {40, 400, 130}, {48, 70, 37}, {49, 700, 60}};
  for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
      int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 5;
      int arows = ta ? k : m, brows = tb ? n : k;
      float *A = rvec((size_t)arows * lda, 1), *B = rvec((size_t)brows * ldb, 1), *C = rvec((size_t)m * ldc, 1);
      double *R = dvec((size_t)m * ldc);
      float alpha = 0.7f, beta = (ta ^ (int)(sh & 1)) ? -0.5f : 0.0f;
      for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++) {
          if (j >= n) {
            R[i * ldc + j] = C[i * ldc + j];
            continue;
          }
          double s = 0;
          for (int p = 0; p < k; p++) {
            double a = ta ? A[p * lda + i] : A[i * lda + p], bb = tb ? B[j * ldb + p] : B[p * ldb + j];
            s += a * bb;
          }
          R[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * C[i * ldc + j]);
        }
      b->gemm(b, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
      CHECK_REL(C, R, (size_t)m * ldc, 1e-5);
      free(A), free(B), free(C), free(R);
    }
  /* the portable small-row kernel (used where the CPU lacks AVX2 + FMA) on the same kinds of shape */
  static const int small[][3] = {{1, 29, 41}, {3, 7, 8}, {5, 33, 19}, {48, 70, 37}};
  for (size_t sh = 0; sh < sizeof small / sizeof small[0]; sh++) {
    int m = small[sh][0], n = small[sh][1], k = small[sh][2], lda = k + 3, ldb = k + 1, ldc = n + 5;
    float *A = rvec((size_t)m * lda, 1), *B = rvec((size_t)n * ldb, 1), *C = rvec((size_t)m * ldc, 1);
    double *R = dvec((size_t)m * ldc);
    float alpha = 0.7f, beta = sh & 1 ? -0.5f : 0.0f;
    for (int i = 0; i < m; i++)
      for (int j = 0; j < ldc; j++) {
        double s = 0;
        for (int p = 0; j < n && p < k; p++) s += (double)A[i * lda + p] * B[j * ldb + p];
        R[i * ldc + j] = j >= n ? C[i * ldc + j] : alpha * s + (beta == 0 ? 0 : beta * C[i * ldc + j]);
      }
    zr_cpu_vec_gemm_nt_portable(m, 0, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    CHECK_REL(C, R, (size_t)m * ldc, 1e-5);
    free(A), free(B), free(C), free(R);
  }
  /* k = 0: C = beta C */
  float C0[4] = {1, 2, 3, 4};
  b->gemm(b, false, false, 2, 2, 0, 1.0f, C0, 1, C0, 1, 0.5f, C0, 2);
  CHECK(C0[0] == 0.5f && C0[3] == 2.0f);
  /* batched: 3 independent [4x5]x[5x6] */
  float *A = rvec(3 * 20, 1), *B = rvec(3 * 30, 1), *C = rvec(3 * 24, 1);
  double *R = dvec(3 * 24);
  for (int t = 0; t < 3; t++)
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 6; j++) {
        double s = 0;
        for (int p = 0; p < 5; p++) s += (double)A[t * 20 + i * 5 + p] * B[t * 30 + p * 6 + j];
        R[t * 24 + i * 6 + j] = s + C[t * 24 + i * 6 + j];
      }
  b->gemm_batched(b, false, false, 4, 6, 5, 1.0f, A, 5, 20, B, 6, 30, 1.0f, C, 6, 24, 3);
  CHECK_REL(C, R, 72, 1e-5);
  free(A), free(B), free(C), free(R);
}

/* ---- elementwise ----------------------------------------------------------------------- */

static void test_elementwise(zr_backend *b) {
  size_t n = 100003;
  float *x = rvec(n, 2), *y = rvec(n, 2);
  double *r = dvec(n);
  for (size_t i = 0; i < n; i++) r[i] = ((double)y[i] + x[i]) * 0.25;
  b->add(b, y, x, n);
  b->scale(b, y, 0.25f, n);
  CHECK_REL(y, r, n, 1e-6);
  double ss = 0;
  for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
  CHECK(fabs(b->sumsq(b, x, n) - ss) <= 1e-9 * ss);

  int rows = 301, d = 131;
  float *Y = rvec((size_t)rows * d, 1), *bias = rvec(d, 1), *db = rvec(d, 1);
  double *RY = dvec((size_t)rows * d), *Rdb = dvec(d);
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < d; j++) RY[i * d + j] = (double)Y[i * d + j] + bias[j];
  for (int j = 0; j < d; j++) {
    Rdb[j] = db[j];
    for (int i = 0; i < rows; i++) Rdb[j] += RY[i * d + j];
  }
  b->bias_fwd(b, Y, bias, rows, d);
  CHECK_REL(Y, RY, (size_t)rows * d, 1e-6);
  b->bias_bwd(b, db, Y, rows, d);
  CHECK_REL(db, Rdb, d, 1e-6);

  /* swiglu fwd vs formula; bwd vs central differences of the double formula */
  float *g = rvec(n, 6), *u = rvec(n, 3), *o = rvec(n, 1), *dout = rvec(n, 1), *dg = rvec(n, 1), *du = rvec(n, 1);
  double *Ro = dvec(n), *Rdg = dvec(n), *Rdu = dvec(n);
  for (size_t i = 0; i < n; i++) {
    double G = g[i], U = u[i], h = 1e-5;
    Ro[i] = G / (1 + exp(-G)) * U;
    double fp = (G + h) / (1 + exp(-(G + h))) * U, fm = (G - h) / (1 + exp(-(G - h))) * U;
    Rdg[i] = dout[i] * (fp - fm) / (2 * h);
    Rdu[i] = dout[i] * G / (1 + exp(-G));
  }
  b->swiglu_fwd(b, o, g, u, n);
  CHECK_REL(o, Ro, n, 1e-6);
  b->swiglu_bwd(b, dg, du, dout, g, u, n);
  CHECK_REL(dg, Rdg, n, 1e-5);
  CHECK_REL(du, Rdu, n, 1e-6);

  /* first_nonfinite: lowest bad index across blocks, n when all finite */
  CHECK(b->first_nonfinite(b, x, n) == n);
  float keep1 = x[n - 2], keep2 = x[70001];
  x[n - 2] = NAN;
  CHECK(b->first_nonfinite(b, x, n) == n - 2);
  CHECK(isnan(b->sumsq(b, x, n)));
  x[70001] = -INFINITY;
  CHECK(b->first_nonfinite(b, x, n) == 70001);
  CHECK(b->first_nonfinite(b, x, 70001) == 70001);
  x[n - 2] = keep1, x[70001] = keep2;

  /* adamw (torch's operation order) against the same formula in double */
  size_t na = 5000;
  float *p = rvec(na, 1), *gr = rvec(na, 1), *m = rvec(na, 0.1f), *v = rvec(na, 0.1f);
  for (size_t i = 0; i < na; i++) v[i] = fabsf(v[i]);
  double *Rp = dvec(na), *Rm = dvec(na), *Rv = dvec(na);
  double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1, bc1 = 1 - b1 * b1, bc2 = 1 - b2 * b2;
  zr_adamw_coef c = {.decay = (float)(1 - lr * wd), .w1 = (float)(1 - b1), .beta2 = (float)b2, .w2 = (float)(1 - b2),
                     .step_size = (float)(lr / bc1), .bc2_sqrt = (float)sqrt(bc2), .eps = (float)eps};
  for (size_t i = 0; i < na; i++) {
    double G = gr[i];
    Rm[i] = b1 * (double)m[i] + (1 - b1) * G;
    Rv[i] = b2 * (double)v[i] + (1 - b2) * G * G;
    Rp[i] = p[i] * (1 - lr * wd) - lr * (Rm[i] / bc1) / (sqrt(Rv[i] / bc2) + eps);
  }
  b->adamw(b, p, gr, m, v, na, &c);
  CHECK_REL(p, Rp, na, 1e-6);
  CHECK_REL(m, Rm, na, 1e-6);
  CHECK_REL(v, Rv, na, 1e-6);

  free(x), free(y), free(r), free(Y), free(bias), free(db), free(RY), free(Rdb);
  free(g), free(u), free(o), free(dout), free(dg), free(du), free(Ro), free(Rdg), free(Rdu);
  free(p), free(gr), free(m), free(v), free(Rp), free(Rm), free(Rv);
}

/* ---- rows ------------------------------------------------------------------------------- */

static void test_rows(zr_backend *b) {
  int V = 50, d = 70, n = 200;
  float *T = rvec((size_t)V * d, 1), *out = rvec((size_t)n * d, 1), *dout = rvec((size_t)n * d, 1),
        *dT = rvec((size_t)V * d, 1);
  int ids[200];
  for (int i = 0; i < n; i++) ids[i] = (int)(urand() * V) % V; /* many repeats */
  double *Ro = dvec((size_t)n * d), *RdT = dvec((size_t)V * d);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) Ro[i * d + j] = T[ids[i] * d + j];
  for (size_t i = 0; i < (size_t)V * d; i++) RdT[i] = dT[i];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) RdT[ids[i] * d + j] += dout[i * d + j];
  b->embed_fwd(b, out, T, ids, n, d);
  CHECK_REL(out, Ro, (size_t)n * d, 0);
  b->embed_bwd(b, dT, dout, ids, n, d);
  CHECK_REL(dT, RdT, (size_t)V * d, 1e-6);

  int idx[7] = {3, 9, 0, 44, 12, 1, 49};
  float *G = rvec(7 * (size_t)d, 1);
  double *RG = dvec(7 * (size_t)d), *RS = dvec((size_t)V * d);
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < d; j++) RG[i * d + j] = T[idx[i] * d + j];
  b->gather_rows(b, G, T, idx, 7, d);
  CHECK_REL(G, RG, 7 * (size_t)d, 0);
  for (size_t i = 0; i < (size_t)V * d; i++) RS[i] = T[i];
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < d; j++) RS[idx[i] * d + j] += G[i * d + j];
  b->scatter_add_rows(b, T, G, idx, 7, d);
  CHECK_REL(T, RS, (size_t)V * d, 1e-7);
  free(T), free(out), free(dout), free(dT), free(Ro), free(RdT), free(G), free(RG), free(RS);
}

/* ---- RMSNorm ------------------------------------------------------------------------------ */

static void ref_rmsnorm(const double *x, const float *w, int n, int d, double eps, double *y) {
  for (int i = 0; i < n; i++) {
    double ss = 0;
    for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
    double r = 1 / sqrt(ss / d + eps);
    for (int j = 0; j < d; j++) y[i * d + j] = w[j] * x[i * d + j] * r;
  }
}

static void test_rmsnorm(zr_backend *b) {
  int n = 23, d = 96;
  float eps = 1e-6f;
  float *x = rvec((size_t)n * d, 2), *w = rvec(d, 1.5f), *y = rvec((size_t)n * d, 1), *rstd = rvec(n, 1),
        *c = rvec((size_t)n * d, 1);
  float *dx = rvec((size_t)n * d, 1), *dw = rvec(d, 1);
  double *X = dvec((size_t)n * d), *Y = dvec((size_t)n * d), *Rdx = dvec((size_t)n * d), *Rdw = dvec(d);
  for (size_t i = 0; i < (size_t)n * d; i++) X[i] = x[i];
  ref_rmsnorm(X, w, n, d, eps, Y);
  b->rmsnorm_fwd(b, y, rstd, x, w, n, d, eps);
  CHECK_REL(y, Y, (size_t)n * d, 1e-6);
  /* L = sum c*y: numerical dL/dx (rows independent) and dL/dw */
  double h = 1e-6;
  for (size_t i = 0; i < (size_t)n * d; i++) Rdx[i] = dx[i];
  for (int j = 0; j < d; j++) Rdw[j] = dw[j];
  double *Yp = dvec((size_t)n * d);
  for (size_t i = 0; i < (size_t)n * d; i++) {
    double keep = X[i], lp = 0, lm = 0;
    int row = (int)(i / d);
    X[i] = keep + h;
    ref_rmsnorm(X + row * d, w, 1, d, eps, Yp);
    for (int j = 0; j < d; j++) lp += c[row * d + j] * Yp[j];
    X[i] = keep - h;
    ref_rmsnorm(X + row * d, w, 1, d, eps, Yp);
    for (int j = 0; j < d; j++) lm += c[row * d + j] * Yp[j];
    X[i] = keep;
    Rdx[i] += (lp - lm) / (2 * h);
  }
  for (int j = 0; j < d; j++) /* y linear in w: dL/dw_j = sum_i c_ij y_ij / w_j */
    for (int i = 0; i < n; i++) Rdw[j] += c[i * d + j] * Y[i * d + j] / w[j];
  b->rmsnorm_bwd(b, dx, dw, c, x, w, rstd, n, d);
  CHECK_REL(dx, Rdx, (size_t)n * d, 1e-5);
  CHECK_REL(dw, Rdw, d, 1e-5);
  free(x), free(w), free(y), free(rstd), free(c), free(dx), free(dw), free(X), free(Y), free(Rdx), free(Rdw),
      free(Yp);
}

/* ---- RoPE ------------------------------------------------------------------------------- */

static void test_rope(zr_backend *b) {
  int n = 13, heads = 3, hd = 24, half = hd / 2;
  float inv[12];
  for (int j = 0; j < half; j++) inv[j] = (float)pow(10000.0, -2.0 * j / hd);
  int pos[13];
  for (int i = 0; i < n; i++) pos[i] = (i * 37) % 200;
  float scaling = 1.25f;
  size_t sz = (size_t)n * heads * hd;
  float *x = rvec(sz, 1), *x0 = malloc(sz * sizeof(float));
  memcpy(x0, x, sz * sizeof(float));
  double *R = dvec(sz);
  for (int i = 0; i < n; i++)
    for (int h = 0; h < heads; h++)
      for (int j = 0; j < hd; j++) {
        int jj = j % half;
        double ang = (double)(float)((float)pos[i] * inv[jj]); /* fp32 angle, as HF */
        double cs = cos(ang) * scaling, sn = sin(ang) * scaling;
        const float *v = x0 + (i * heads + h) * hd;
        double rot = j < half ? -v[j + half] : v[j - half]; /* rotate_half */
        R[(i * heads + h) * hd + j] = v[j] * cs + rot * sn;
      }
  b->rope(b, x, pos, inv, n, heads, hd, scaling, false);
  CHECK_REL(x, R, sz, 1e-6);
  /* inverse is the transpose: rope(x) . c == x . rope_inv(c) */
  float *c = rvec(sz, 1);
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < sz; i++) lhs += (double)x[i] * c[i];
  b->rope(b, c, pos, inv, n, heads, hd, scaling, true);
  for (size_t i = 0; i < sz; i++) rhs += (double)x0[i] * c[i];
  CHECK(fabs(lhs - rhs) <= 1e-5 * fabs(lhs) + 1e-6);
  free(x), free(x0), free(R), free(c);
}

/* ---- attention -------------------------------------------------------------------------- */

/* naive causal GQA attention in double over packed sequences */
static void ref_attn(const double *q, const double *k, const double *v, const int *cu, int ns, int hq, int hkv,
                     int hd, double scale, double *out, double *lse) {
  int qd = hq * hd, kvd = hkv * hd, g = hq / hkv;
  for (int s = 0; s < ns; s++)
    for (int i = cu[s]; i < cu[s + 1]; i++)
      for (int h = 0; h < hq; h++) {
        int kh = h / g;
        int nk = i - cu[s] + 1;
        double sc[256], mx = -INFINITY, sum = 0;
        ZR_ASSERT(nk <= 256);
        for (int j = 0; j < nk; j++) {
          double t = 0;
          for (int c = 0; c < hd; c++) t += q[i * qd + h * hd + c] * k[(cu[s] + j) * kvd + kh * hd + c];
          sc[j] = t * scale;
          if (sc[j] > mx) mx = sc[j];
        }
        for (int j = 0; j < nk; j++) sum += exp(sc[j] - mx);
        for (int c = 0; c < hd; c++) {
          double o = 0;
          for (int j = 0; j < nk; j++) o += exp(sc[j] - mx) / sum * v[(cu[s] + j) * kvd + kh * hd + c];
          out[i * qd + h * hd + c] = o;
        }
        if (lse) lse[i * hq + h] = mx + log(sum);
      }
}

static double *to_d(const float *x, size_t n) {
  double *d = dvec(n);
  for (size_t i = 0; i < n; i++) d[i] = x[i];
  return d;
}

static void test_attention(zr_backend *b) {
  /* sequences crossing the 16-row query blocks and 64-key tiles, and a length-1 sequence */
  int lens[] = {70, 1, 17, 130}, ns = 4, hq = 4, hkv = 2, hd = 16;
  int cu[5] = {0};
  for (int s = 0; s < ns; s++) cu[s + 1] = cu[s] + lens[s];
  int n = cu[ns], qd = hq * hd, kvd = hkv * hd;
  float scale = 1.0f / sqrtf((float)hd);
  float *q = rvec((size_t)n * qd, 2), *k = rvec((size_t)n * kvd, 2), *v = rvec((size_t)n * kvd, 1);
  float *out = rvec((size_t)n * qd, 1), *lse = rvec((size_t)n * hq, 1);
  double *Q = to_d(q, (size_t)n * qd), *K = to_d(k, (size_t)n * kvd), *Vd = to_d(v, (size_t)n * kvd);
  double *RO = dvec((size_t)n * qd), *RL = dvec((size_t)n * hq);
  ref_attn(Q, K, Vd, cu, ns, hq, hkv, hd, scale, RO, RL);
  CHECK_INT(b->attn_fwd(b, out, lse, q, k, v, cu, ns, 130, hq, hkv, hd, scale), 0);
  CHECK_REL(out, RO, (size_t)n * qd, 1e-5);
  CHECK_REL(lse, RL, (size_t)n * hq, 1e-6);

  /* backward: L = sum c*out; numerical gradient of the double reference on a small case */
  {
    int lens2[] = {9, 3, 20}, ns2 = 3;
    int cu2[4] = {0};
    for (int s = 0; s < ns2; s++) cu2[s + 1] = cu2[s] + lens2[s];
    int n2 = cu2[ns2];
    float *q2 = rvec((size_t)n2 * qd, 2), *k2 = rvec((size_t)n2 * kvd, 2), *v2 = rvec((size_t)n2 * kvd, 1);
    float *o2 = rvec((size_t)n2 * qd, 1), *l2 = rvec((size_t)n2 * hq, 1), *c = rvec((size_t)n2 * qd, 1);
    float *dq = rvec((size_t)n2 * qd, 1), *dk = rvec((size_t)n2 * kvd, 1), *dv = rvec((size_t)n2 * kvd, 1);
    CHECK_INT(b->attn_fwd(b, o2, l2, q2, k2, v2, cu2, ns2, 20, hq, hkv, hd, scale), 0);
    CHECK_INT(b->attn_bwd(b, dq, dk, dv, c, q2, k2, v2, o2, l2, cu2, ns2, 20, hq, hkv, hd, scale), 0);
    double *Q2 = to_d(q2, (size_t)n2 * qd), *K2 = to_d(k2, (size_t)n2 * kvd), *V2 = to_d(v2, (size_t)n2 * kvd);
    double *O = dvec((size_t)n2 * qd);
    double *arrs[3] = {Q2, K2, V2};
    size_t sizes[3] = {(size_t)n2 * qd, (size_t)n2 * kvd, (size_t)n2 * kvd};
    float *grads[3] = {dq, dk, dv};
    for (int t = 0; t < 3; t++) {
      double *R = dvec(sizes[t]);
      size_t width = sizes[t] / n2;
      for (size_t i = 0; i < sizes[t]; i++) {
        /* an entry of row r only moves its own sequence's outputs: re-run just that sequence */
        int r = (int)(i / width), s = 0;
        while (cu2[s + 1] <= r) s++;
        int one[2] = {0, cu2[s + 1] - cu2[s]}, r0 = cu2[s];
        double keep = arrs[t][i], h = 1e-6, lp = 0, lm = 0;
        for (int sign = 1; sign >= -1; sign -= 2) {
          arrs[t][i] = keep + sign * h;
          ref_attn(Q2 + (size_t)r0 * qd, K2 + (size_t)r0 * kvd, V2 + (size_t)r0 * kvd, one, 1, hq, hkv, hd, scale, O,
                   NULL);
          double acc = 0;
          for (size_t j = 0; j < (size_t)one[1] * qd; j++) acc += c[(size_t)r0 * qd + j] * O[j];
          if (sign > 0) lp = acc;
          else lm = acc;
        }
        arrs[t][i] = keep;
        R[i] = (lp - lm) / (2 * h);
      }
      double e = rel_err(grads[t], R, sizes[t], 1e-30);
      if (e > 1e-4) fprintf(stderr, "  attn grad %d rel err %.3g\n", t, e);
      CHECK(e <= 1e-4);
      free(R);
    }
    free(q2), free(k2), free(v2), free(o2), free(l2), free(c), free(dq), free(dk), free(dv), free(Q2), free(K2),
        free(V2), free(O);
  }

  /* KV cache: store every sequence into its own slot (slots reversed), then
   * (a) prefill of all tokens, (b) decode of the last token, (c) a middle chunk of new tokens */
  int max_len = 160, n_slots = ns;
  float *kc = rvec((size_t)n_slots * max_len * kvd, 9), *vc = rvec((size_t)n_slots * max_len * kvd, 9);
  int *rows = malloc(n * sizeof(int)), slot[4], kv_len[4];
  for (int s = 0; s < ns; s++) {
    slot[s] = ns - 1 - s;
    for (int i = 0; i < lens[s]; i++) rows[cu[s] + i] = slot[s] * max_len + i;
  }
  b->kv_store(b, kc, vc, k, v, rows, n, kvd);
  float *o = rvec((size_t)n * qd, 1);
  for (int s = 0; s < ns; s++) kv_len[s] = lens[s];
  CHECK_INT(b->attn_cached(b, o, q, kc, vc, cu, slot, kv_len, ns, 130, 130, max_len, hq, hkv, hd, scale), 0);
  CHECK_REL(o, RO, (size_t)n * qd, 1e-5);
  /* decode: one query per sequence = the last row */
  int cu1[5] = {0, 1, 2, 3, 4};
  float *q1 = malloc((size_t)ns * qd * sizeof(float)), *o1 = rvec((size_t)ns * qd, 1);
  double *R1 = dvec((size_t)ns * qd);
  for (int s = 0; s < ns; s++) {
    memcpy(q1 + s * qd, q + (size_t)(cu[s + 1] - 1) * qd, qd * sizeof(float));
    for (int c = 0; c < qd; c++) R1[s * qd + c] = RO[(size_t)(cu[s + 1] - 1) * qd + c];
  }
  CHECK_INT(b->attn_cached(b, o1, q1, kc, vc, cu1, slot, kv_len, ns, 1, 130, max_len, hq, hkv, hd, scale), 0);
  CHECK_REL(o1, R1, (size_t)ns * qd, 1e-5);
  /* chunk: rows [5, 40) of sequence 3 with the cache holding 40 keys */
  int s3 = 3, a0 = 5, a1 = 40, cuc[2] = {0, a1 - a0}, kl = a1;
  float *oc = rvec((size_t)(a1 - a0) * qd, 1);
  CHECK_INT(b->attn_cached(b, oc, q + (size_t)(cu[s3] + a0) * qd, kc, vc, cuc, &slot[s3], &kl, 1, a1 - a0, a1, max_len,
                           hq, hkv, hd, scale),
            0);
  CHECK_REL(oc, RO + (size_t)(cu[s3] + a0) * qd, (size_t)(a1 - a0) * qd, 1e-5);

  free(q), free(k), free(v), free(out), free(lse), free(Q), free(K), free(Vd), free(RO), free(RL);
  free(kc), free(vc), free(rows), free(o), free(q1), free(o1), free(R1), free(oc);
}

/* ---- fused LM head --------------------------------------------------------------------------- */

static void test_lmhead(zr_backend *b) {
  int n = 37, d = 24, V = 1000;
  float *h = rvec((size_t)n * d, 1), *W = rvec((size_t)V * d, 1), *g = rvec(n, 1);
  int *tg = malloc(n * sizeof(int));
  for (int i = 0; i < n; i++) tg[i] = i % 9 == 4 ? -1 : (int)(urand() * V) % V;
  tg[1] = 0;
  tg[2] = V - 1;
  /* reference: full logits and log-softmax in double */
  double *Rlp = dvec(n), *Rlse = dvec(n), *Rent = dvec(n), *Rdh = dvec((size_t)n * d), *RdW = dvec((size_t)V * d);
  double *z = dvec(V);
  for (int i = 0; i < n; i++) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < V; j++) {
      double t = 0;
      for (int c = 0; c < d; c++) t += (double)h[i * d + c] * W[j * d + c];
      z[j] = t;
      mx = t > mx ? t : mx;
    }
    for (int j = 0; j < V; j++) s += exp(z[j] - mx);
    double l = mx + log(s), ent = 0;
    for (int j = 0; j < V; j++) {
      double p = exp(z[j] - l);
      ent -= p * (z[j] - l);
    }
    Rlse[i] = l;
    Rent[i] = ent;
    Rlp[i] = tg[i] >= 0 ? z[tg[i]] - l : 0;
    if (tg[i] < 0) continue;
    for (int j = 0; j < V; j++) { /* dz = g (onehot - p) */
      double dzj = g[i] * ((j == tg[i]) - exp(z[j] - l));
      for (int c = 0; c < d; c++) {
        Rdh[i * d + c] += dzj * W[j * d + c];
        RdW[j * d + c] += dzj * h[i * d + c];
      }
    }
  }
  int chunks[] = {250, 300, 7, 4096, 0, 1000};
  size_t tiles[] = {(size_t)1 << 22, 250 * 5, 300 * 8, 7 * 37, (size_t)1 << 22, 999};
  for (int ci = 0; ci < 6; ci++) {
    zr_cpu(b)->lmhead_tile = tiles[ci]; /* several row tiles in most cases */
    float *lp = rvec(n, 1), *lse = rvec(n, 1), *ent = rvec(n, 1), *dh = calloc((size_t)n * d, 4),
          *dW = calloc((size_t)V * d, 4);
    CHECK_INT(b->lmhead_fwd(b, lp, lse, ci % 2 ? ent : NULL, h, W, tg, n, d, V, chunks[ci]), 0);
    CHECK_REL(lp, Rlp, n, 1e-5);
    CHECK_REL(lse, Rlse, n, 1e-6);
    if (ci % 2) CHECK_REL(ent, Rent, n, 1e-5);
    for (int i = 0; i < n; i++)
      if (tg[i] < 0) CHECK(lp[i] == 0.0f);
    CHECK_INT(b->lmhead_bwd(b, dh, dW, g, h, W, tg, lse, n, d, V, chunks[ci]), 0);
    CHECK_REL(dh, Rdh, (size_t)n * d, 1e-5);
    CHECK_REL(dW, RdW, (size_t)V * d, 1e-5);
    free(lp), free(lse), free(ent), free(dh), free(dW);
  }
  zr_cpu(b)->lmhead_tile = (size_t)1 << 22;
  /* numerical check of the backward on one logit path: perturb h[3, 5] */
  {
    float keep = h[3 * d + 5], hh = 1e-2f, lp[40], lse[40];
    double lplus = 0, lminus = 0;
    h[3 * d + 5] = keep + hh;
    b->lmhead_fwd(b, lp, lse, NULL, h, W, tg, n, d, V, 300);
    for (int i = 0; i < n; i++) lplus += g[i] * lp[i];
    h[3 * d + 5] = keep - hh;
    b->lmhead_fwd(b, lp, lse, NULL, h, W, tg, n, d, V, 300);
    for (int i = 0; i < n; i++) lminus += g[i] * lp[i];
    h[3 * d + 5] = keep;
    double num = (lplus - lminus) / (2 * hh);
    CHECK(fabs(num - Rdh[3 * d + 5]) <= 1e-3 * (fabs(num) + 1e-3));
  }
  free(h), free(W), free(g), free(tg), free(Rlp), free(Rlse), free(Rent), free(Rdh), free(RdW), free(z);
}

static void test_memory(zr_backend *b) {
  void *p = NULL;
  CHECK_INT(b->alloc(b, &p, 1000), 0);
  CHECK(p && ((uintptr_t)p % 64) == 0);
  unsigned char host[1000];
  for (int i = 0; i < 1000; i++) host[i] = (unsigned char)i;
  b->upload(b, p, host, 1000);
  unsigned char back[1000] = {0};
  b->download(b, back, p, 1000);
  CHECK(memcmp(host, back, 1000) == 0);
  b->zero(b, p, 500);
  b->download(b, back, p, 1000);
  CHECK(back[0] == 0 && back[499] == 0 && back[500] == host[500]);
  float x[3] = {1, 2, 3};
  CHECK_INT(b->all_reduce_sum(b, x, 3), 0);
  CHECK(x[2] == 3.0f && b->world_size == 1);
  b->free(b, p);
  b->free(b, NULL);
}

int main(void) {
  int threads[] = {1, 3};
  for (int t = 0; t < 2; t++) {
    zr_backend *b = NULL;
    CHECK_INT(zr_backend_cpu_new(&b, threads[t]), 0);
    if (!b) return TEST_DONE();
    CHECK_STR(b->name, "cpu");
    CHECK_INT(b->n_threads, threads[t]);
    struct {
      const char *name;
      void (*fn)(zr_backend *);
    } parts[] = {{"memory", test_memory},   {"gemm", test_gemm}, {"elementwise", test_elementwise},
                 {"rows", test_rows},       {"rmsnorm", test_rmsnorm}, {"rope", test_rope},
                 {"attention", test_attention}, {"lmhead", test_lmhead}};
    fprintf(stderr, "threads=%d:", threads[t]);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
      clock_t c0 = clock();
      parts[i].fn(b);
      fprintf(stderr, " %s %.2fs", parts[i].name, (double)(clock() - c0) / CLOCKS_PER_SEC);
    }
    fprintf(stderr, " (cpu time)\n");
    zr_backend_free(&b);
    CHECK(b == NULL);
  }
  return TEST_DONE();
}
