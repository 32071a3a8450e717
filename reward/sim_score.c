/* sim_score.c: the reward worker's simulated scorer (`[reward] engine = sim`, see worker.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reward/worker.h"

void zr_rworker_score_sim(double mean_ms, double p_correct, zr_simrng *rng, zr_rscore *out) {
  memset(out, 0, sizeof *out);
  double ms = zr_simdist_jitter_ms(mean_ms, rng);
  bool correct = zr_simrng_u01(rng) < p_correct;
  if (ms > 0) {
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  out->reward = correct ? 1.0 : 0.0;
  out->correct = correct;
  out->status = ZR_VERIFY_OK;
  out->n_components = 1;
  snprintf(out->components[0].name, sizeof out->components[0].name, "accuracy");
  out->components[0].value = out->reward;
  out->components[0].weight = 1;
  snprintf(out->components[0].status, sizeof out->components[0].status, "%s", correct ? "correct" : "wrong");
  snprintf(out->detail, sizeof out->detail, "simulated scorer");
  out->score_ms = (uint32_t)(ms + 0.5);
}
