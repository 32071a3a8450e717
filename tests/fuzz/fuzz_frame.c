/* libFuzzer target for the wire decoder (common/frame.c): the bytes become up to three frames
 * (the first byte picks how many and where they split). Whatever is accepted must re-encode
 * and decode again to the same type. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t n_frames = 1 + data[0] % 3;
  data++, size--;
  zr_bytes frames[3];
  size_t cut1 = n_frames > 1 ? size / 2 : size;
  size_t cut2 = n_frames > 2 ? cut1 + (size - cut1) / 2 : size;
  frames[0] = (zr_bytes){data, cut1};
  frames[1] = (zr_bytes){data + cut1, cut2 - cut1};
  frames[2] = (zr_bytes){data + cut2, size - cut2};
  zr_frame_limits lim = zr_frame_limits_default();
  lim.max_bulk_frames = 2;
  lim.max_decoded_bytes = 64u << 20;
  zr_frame_msg msg;
  const char *job = (size & 1) ? NULL : "fuzz-job";
  if (zr_frame_decode(&msg, frames, n_frames, job, &lim) != 0) return 0;
  Zerorl__MsgType type = msg.env->type;
  uint8_t *buf;
  size_t len;
  char jobbuf[256], sender[256];
  strncpy(jobbuf, msg.env->job_id, sizeof jobbuf - 1);
  jobbuf[sizeof jobbuf - 1] = 0;
  strncpy(sender, msg.env->sender_id, sizeof sender - 1);
  sender[sizeof sender - 1] = 0;
  char *orig_job = msg.env->job_id, *orig_sender = msg.env->sender_id;
  if (jobbuf[0] && sender[0] && strlen(orig_job) < sizeof jobbuf && strlen(orig_sender) < sizeof sender) {
    ZR_ASSERT(zr_frame_encode(msg.env, jobbuf, sender, (uint32_t)msg.n_bulk, &buf, &len) == 0);
    zr_frame_msg again;
    frames[0] = (zr_bytes){buf, len};
    for (size_t i = 0; i < msg.n_bulk; i++) frames[i + 1] = msg.bulk[i];
    ZR_ASSERT(zr_frame_decode(&again, frames, 1 + msg.n_bulk, NULL, &lim) == 0);
    ZR_ASSERT(again.env->type == type);
    zr_frame_msg_release(&again);
    free(buf);
    /* encode pointed the envelope at our stack copies; give it back its own strings */
    msg.env->job_id = orig_job;
    msg.env->sender_id = orig_sender;
  }
  zr_frame_msg_release(&msg);
  return 0;
}
