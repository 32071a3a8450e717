/* optim_internal.h: the zr_adamw struct, shared by optim.c (the update) and optim_state.c (the
 * state file). Not part of the public API. */
#ifndef ZR_OPTIM_INTERNAL_H
#define ZR_OPTIM_INTERNAL_H

#include "model/optim.h"

struct zr_adamw {
  zr_backend *be;          /* borrowed */
  size_t n;                /* elements in the flat buffers */
  zr_adamw_config cfg;
  zr_optim_group *groups;  /* sorted by offset, non-overlapping, wd flag 0/1 */
  size_t n_groups;
  float *state;            /* exp_avg [n] then exp_avg_sq [n]; backend memory */
  int64_t step;
  double last_lr;
};

#endif
