#!/usr/bin/env bash
# The README's demo: an R1-style pipeline on this machine with the real daemons.
#
#   1. a small model with a byte-level tokenizer whose R1 tags are single tokens
#   2. tasks: multi-digit addition (train split, 500 held-out tasks) and reasoning traces
#   3. cold-start SFT on the traces in the R1 format (R1's stage 1)       zerorl run, mode sft
#   4. held-out evaluation of the cold-start checkpoint                    zerorl eval
#   5. GRPO with rule rewards (accuracy + format) through the learner,    zerorl run, mode rl
#      an actor and a reward worker, with a private Redis
#   6. held-out evaluation after RL, report.json, plots, the reward curve
#
# Everything lands in runs/r1-demo-<timestamp>/ (or $ZERORL_DEMO_RUN_DIR). Settings come from
# examples/demo.ini; the stage sizes below can be shrunk for tests with ZERORL_DEMO_SHORT=1.
# ZERORL_DEMO_SKIP_DEPS=1 skips the package installer (CI has already run it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "${ZERORL_DEMO_SKIP_DEPS:-0}" = 1 ] || deploy/install-deps.sh
if [ "${ZERORL_DEMO_SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target zerorl zerorl-learner zerorl-actor zerorl-reward >/dev/null
fi
Z=${ZERORL_BIN:-$ROOT/build/tools/zerorl}
CFG=$ROOT/examples/demo.ini

# stage sizes (the full demo; ZERORL_DEMO_SHORT=1 is the CI smoke version)
DIGITS=${DEMO_DIGITS:-5}
N_TRAIN=20000 N_SFT=20000 N_HELDOUT=500 N_PROBE=200 SFT_STEPS=${DEMO_SFT_STEPS:-} RL_STEPS=${DEMO_RL_STEPS:-}
if [ "${ZERORL_DEMO_SHORT:-0}" = 1 ]; then
  N_TRAIN=400 N_SFT=400 N_HELDOUT=40 N_PROBE=20 SFT_STEPS=${SFT_STEPS:-30} RL_STEPS=${RL_STEPS:-4}
fi
SFT_SET=() RL_SET=()
# ZERORL_DEMO_IPC=1: the daemons talk over ipc:// sockets in the run directory instead of the
# config's TCP ports (tests run next to other jobs)
NET_SET=()
[ -n "$SFT_STEPS" ] && SFT_SET=(--set "learner.total_steps=$SFT_STEPS")
[ -n "$RL_STEPS" ] && RL_SET=(--set "learner.total_steps=$RL_STEPS")

RUN=${ZERORL_DEMO_RUN_DIR:-$ROOT/runs/r1-demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RUN/data"
RUN=$(cd "$RUN" && pwd)
if [ "${ZERORL_DEMO_IPC:-0}" = 1 ]; then
  NET_SET=(--set "net.learner_tasks=ipc://$RUN/tasks.ipc" --set "net.learner_weights=ipc://$RUN/weights.ipc"
           --set "net.learner_announce=ipc://$RUN/announce.ipc")
fi
T0=$(date +%s)
stage() { printf '\n== %s (%ds)\n' "$1" "$(($(date +%s) - T0))"; }

stage "1. model: byte-level tokenizer + R1 tags, Llama-style decoder"
"$Z" model init --arch llama --layers 4 --hidden 128 --heads 4 --kv-heads 4 --intermediate 352 --tie \
  --byte-vocab --add-tokens '<think>,</think>,<answer>,</answer>' --max-pos 256 --seed 1 --std 0.05 \
  --out "$RUN/model-init" --force >/dev/null
"$Z" model info "$RUN/model-init" | head -3

stage "2. tasks: $DIGITS-digit addition ($N_TRAIN train, $N_HELDOUT held-out) and SFT traces"
"$Z" data gen arith --n "$N_TRAIN" --difficulty "$DIGITS" --seed 1 --out "$RUN/data/train.jsonl"
"$Z" data gen arith --n "$N_SFT" --difficulty "$DIGITS" --seed 2 --sft --out "$RUN/data/sft.jsonl"
"$Z" data gen arith --n "$N_HELDOUT" --difficulty "$DIGITS" --seed 3 --split heldout --out "$RUN/data/heldout.jsonl"
# the SFT stage's stopping probe: training-split problems, not the held-out evaluation set
"$Z" data gen arith --n "$N_PROBE" --difficulty "$DIGITS" --seed 4 --out "$RUN/data/probe.jsonl"
head -1 "$RUN/data/sft.jsonl"

# The cold start stops early, in the steep part of its learning curve, once greedy accuracy on
# the probe set reaches 15%: a checkpoint there leaves RL room to improve (a fully converged SFT
# model is near 100% on this task), and its AdamW moments carry into RL.
stage "3. cold-start SFT (stops at 15% probe accuracy)"
"$Z" run "$CFG" --run-dir "$RUN/sft" --quiet --set algo.mode=sft --set "model.path=$RUN/model-init" \
  --set "data.train=$RUN/data/sft.jsonl" --set "data.heldout=$RUN/data/probe.jsonl" --set learner.lr=2e-3 \
  --set learner.lr_schedule=cosine --set learner.warmup_steps=30 --set learner.total_steps=400 \
  --set learner.weight_decay=0.1 --set algo.groups_per_batch=64 --set learner.probe_every=10 \
  --set "learner.probe_tasks=$N_PROBE" --set learner.stop_at_accuracy=0.15 "${SFT_SET[@]}"
SFT_MODEL=$RUN/sft/checkpoints/$(cat "$RUN/sft/checkpoints/latest")

evaluate() { # model out-prefix
  "$Z" eval --model "$1" --tasks "$RUN/data/heldout.jsonl" --max-new-tokens 64 --out "$2-greedy.json" >/dev/null
  "$Z" eval --model "$1" --tasks "$RUN/data/heldout.jsonl" --max-new-tokens 64 --temperature 1 \
    --out "$2-sampled.json" >/dev/null
}
stage "4. held-out evaluation of the cold-start model"
evaluate "$SFT_MODEL" "$RUN/eval-before"

stage "5. GRPO through the learner, an actor and a reward worker"
"$Z" run "$CFG" --run-dir "$RUN/rl" --actors 1 --rewards 1 --set "model.path=$SFT_MODEL" \
  --set "model.optimizer_from=$SFT_MODEL" --set "data.train=$RUN/data/train.jsonl" "${NET_SET[@]}" "${RL_SET[@]}"
RL_MODEL=$RUN/rl/checkpoints/$(cat "$RUN/rl/checkpoints/latest")

stage "6. held-out evaluation after RL"
evaluate "$RL_MODEL" "$RUN/eval-after"
"$Z" plot "$RUN/rl" --out "$RUN/plots" >/dev/null 2>&1 || echo "(plots skipped: gnuplot missing)"

python3 - "$RUN" "$T0" <<'EOF'
import json, sys, time
run, t0 = sys.argv[1], int(sys.argv[2])
def acc(name):
    return json.load(open(f"{run}/{name}.json"))["overall"]["pass@1"]
steps = [json.loads(l) for l in open(f"{run}/rl/metrics.jsonl")]
report = {
    "heldout_accuracy_before_rl": acc("eval-before-greedy"),
    "heldout_accuracy_after_rl": acc("eval-after-greedy"),
    "heldout_pass1_sampled_before_rl": acc("eval-before-sampled"),
    "heldout_pass1_sampled_after_rl": acc("eval-after-sampled"),
    "heldout_tasks": json.load(open(f"{run}/eval-before-greedy.json"))["overall"]["tasks"],
    "rl_steps": max((s.get("step", 0) for s in steps), default=0),
    "wall_seconds": int(time.time()) - t0,
    "run_dir": run,
}
json.dump(report, open(f"{run}/report.json", "w"), indent=2)
print("\n== reward curve (RL steps, mean reward / training accuracy)")
for i in range(0, len(steps), max(1, len(steps) // 12)):
    s = steps[i]
    bar = "#" * int(40 * max(0.0, min(1.0, s.get("accuracy", 0))))
    print(f"  step {s['step']:4d}  reward {s.get('reward_mean', 0):.3f}  acc {s.get('accuracy', 0):.3f}  {bar}")
b, a = report["heldout_accuracy_before_rl"], report["heldout_accuracy_after_rl"]
bs, as_ = report["heldout_pass1_sampled_before_rl"], report["heldout_pass1_sampled_after_rl"]
print(f"\n== held-out accuracy on {report['heldout_tasks']} tasks (greedy exact match)")
print(f"  cold start (SFT): {100*b:5.1f}%   after GRPO: {100*a:5.1f}%   change {100*(a-b):+5.1f} points")
print(f"  sampled pass@1 (temperature 1): {100*bs:5.1f}% -> {100*as_:5.1f}%")
print(f"  {report['rl_steps']} RL steps, {report['wall_seconds']} s in all")
print(f"\nrun directory: {run}  (report.json, plots/, sft/, rl/, logs in */logs/)")
EOF
