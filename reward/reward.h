/* reward.h: the reward tier's shared vocabulary. A task's reward is a weighted sum of named
 * components (accuracy, format, language, length, ...); each component reports its value,
 * weight and a short status, and the whole check reports one verifier status. The modules of
 * reward/ (extract, mathexpr/mathequal, rewards, codetest, sandbox) fill these in. */
#ifndef ZR_REWARD_H
#define ZR_REWARD_H

#include <stddef.h>

#define ZR_REWARD_MAX_COMPONENTS 8

typedef enum {
  ZR_VERIFY_OK = 1,        /* scored: right or wrong */
  ZR_VERIFY_NO_ANSWER = 2, /* no answer could be extracted: a status, not an error */
  ZR_VERIFY_TIMEOUT = 3,   /* the check ran out of its time or memory budget */
  ZR_VERIFY_ERROR = 4,     /* the check itself failed (bad spec, sandbox failure) */
} zr_verify_status;          /* numbered like proto VerifierStatus */

typedef struct {
  char name[32];
  double value;  /* unweighted */
  double weight;
  char status[32];
} zr_reward_component;

typedef struct {
  double reward; /* sum of value * weight */
  int correct;   /* the accuracy component's verdict */
  zr_verify_status status;
  zr_reward_component components[ZR_REWARD_MAX_COMPONENTS];
  int n_components;
  char detail[256];
} zr_reward_result;

#endif
