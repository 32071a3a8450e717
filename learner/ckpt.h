/* ckpt.h: the learner's checkpoints in the run directory.
 *
 * Layout: RUN/checkpoints/step-000000123/ is a Hugging Face model directory (config.json,
 * model.safetensors in fp32, tokenizer files copied from the model's source directory) plus
 * whatever the caller's save_extra callback writes there (the trainer's optimizer state and
 * trainer_state.json: step, version, RNG, data cursor, config digest). RUN/checkpoints/latest is
 * a one-line file with the newest directory's name (for operators and tools).
 *
 * Crash safety: a checkpoint is written into step-N.tmp, every file and the directory are
 * fsynced, then it is renamed to step-N (atomically replacing an older step-N, if any) and the
 * checkpoints directory is fsynced; `latest` is replaced by rename. Old checkpoints are removed
 * by renaming them to *.del first. So a directory named step-N (no suffix) is always complete,
 * and a crash at any point leaves the previous checkpoint or the new one. zr_ckpt_latest trusts
 * the directories, not the `latest` file: it returns the highest complete step and removes
 * *.tmp / *.del leftovers.
 *
 * Not thread-safe; the learner saves from its compute thread (the model must not change
 * meanwhile). Errors: 0 or a negative errno-style code with zr_errmsg() naming the path. */
#ifndef ZR_CKPT_H
#define ZR_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "model/transformer.h"

#define ZR_CKPT_SUBDIR "checkpoints"
#define ZR_CKPT_LATEST "latest"

/* save_extra(user, dir) writes the caller's files into dir (the .tmp directory); it returns 0
 * or a negative code (the checkpoint is then abandoned and the .tmp removed). Files it writes
 * need not be fsynced: the whole directory is fsynced before the rename. */
typedef int (*zr_ckpt_extra_fn)(void *user, const char *dir);

/* Writes the checkpoint of step (>= 0) for model m into run_dir/checkpoints/step-%09lld,
 * creating run_dir/checkpoints if needed. tokenizer_src_dir (may be NULL): tokenizer.json,
 * tokenizer_config.json, generation_config.json (and special_tokens_map.json, vocab.json,
 * merges.txt) are copied when present. save_extra may be NULL. keep_last > 0: afterwards the
 * oldest complete checkpoints beyond keep_last are removed (never the one just written);
 * keep_last <= 0 keeps all. out_dir (may be NULL) receives the checkpoint's path. Weights are
 * saved in fp32 (exact resume). */
int zr_ckpt_save(const char *run_dir, int64_t step, zr_tf *m, const char *tokenizer_src_dir,
                 zr_ckpt_extra_fn save_extra, void *user, int keep_last, char *out_dir, size_t cap);

/* As zr_ckpt_save with the weights in dtype (ZR_DT_F32, ZR_DT_BF16 or ZR_DT_F16). */
int zr_ckpt_save_dtype(const char *run_dir, int64_t step, zr_tf *m, zr_dtype dtype,
                       const char *tokenizer_src_dir, zr_ckpt_extra_fn save_extra, void *user,
                       int keep_last, char *out_dir, size_t cap);

/* 0 and the path of the newest complete checkpoint in out_dir (and its step in *step, may be
 * NULL); -ENOENT when there is none; -ENAMETOOLONG when cap is too small. Removes *.tmp and
 * *.del leftovers of crashed saves. */
int zr_ckpt_latest(const char *run_dir, char *out_dir, size_t cap);
int zr_ckpt_latest_step(const char *run_dir, int64_t *step, char *out_dir, size_t cap);

/* The step of a checkpoint directory name or path ("…/step-000000123" -> 123); -1 if not one. */
int64_t zr_ckpt_step_of(const char *path);

#endif
