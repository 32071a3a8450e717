/* result.c: nothing but the reward tier's shared types for now (reward.h); keeps libzr_reward
 * a library while its modules land. */
#include "reward/reward.h"
