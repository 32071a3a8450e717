#!/usr/bin/env bash
# R1's distillation, on the demo's result (run examples/demo.sh first):
#
#   1. rejection-sample the RL model on the training split: actors sample, reward workers
#      score, the learner keeps the correct completions (mode rejection-sample -> accepted.jsonl)
#   2. SFT a smaller student on those completions
#   3. SFT the same student on the cold-start traces alone, with the same steps
#   4. evaluate both students on the held-out tasks and print them side by side
#
#   examples/distill.sh RUN_DIR        (RUN_DIR: a demo run directory, runs/r1-demo-...)
#
# Results go to RUN_DIR/distill/ (distill-report.json). Not part of the 15-minute demo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=${1:?usage: examples/distill.sh RUN_DIR (a demo run directory)}
RUN=$(cd "$RUN" && pwd)
Z=${ZERORL_BIN:-$ROOT/build/tools/zerorl}
CFG=$ROOT/examples/demo.ini
N_TASKS=${DISTILL_TASKS:-4000} STEPS=${DISTILL_STEPS:-400}
[ "${ZERORL_DEMO_SHORT:-0}" = 1 ] && N_TASKS=100 STEPS=10
RL_MODEL=$RUN/rl/checkpoints/$(cat "$RUN/rl/checkpoints/latest")
OUT=$RUN/distill
mkdir -p "$OUT"
head -n "$N_TASKS" "$RUN/data/train.jsonl" > "$OUT/tasks.jsonl"

echo "== 1. rejection sampling with $RL_MODEL on $N_TASKS training tasks"
if [ -s "$OUT/distill.jsonl" ]; then
  echo "(kept from an earlier run: $OUT/distill.jsonl; remove $OUT to start over)"
else
"$Z" run "$CFG" --run-dir "$OUT/rs" --quiet --set algo.mode=rejection-sample --set "model.path=$RL_MODEL" \
  --set "data.train=$OUT/tasks.jsonl" --set data.epochs=1 --set algo.group_size=4 \
  --set "net.learner_tasks=ipc://$OUT/tasks.ipc" --set "net.learner_weights=ipc://$OUT/weights.ipc" \
  --set "net.learner_announce=ipc://$OUT/announce.ipc"
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
seen, n = set(), 0
with open(f"{out}/distill.jsonl", "w") as f:
    for line in open(f"{out}/rs/accepted.jsonl"):
        a = json.loads(line)
        key = (a["prompt"], a["completion"])
        if key in seen:
            continue
        seen.add(key)
        f.write(json.dumps({"prompt": a["prompt"], "completion": a["completion"]}) + "\n")
        n += 1
print(f"{n} distinct correct completions kept")
if n == 0:
    sys.exit("no correct completion: the RL model solved none of the sampled training tasks")
EOF
fi

student() { # name sft-file
  # 3 layers instead of the teacher's 4 (about 0.64M parameters against 0.84M)
  "$Z" model init --arch llama --layers 3 --hidden 128 --heads 4 --kv-heads 4 --intermediate 352 --tie \
    --byte-vocab --add-tokens '<think>,</think>,<answer>,</answer>' --max-pos 256 --seed 7 --std 0.05 \
    --out "$OUT/$1-init" --force >/dev/null
  "$Z" run "$CFG" --run-dir "$OUT/$1" --quiet --set algo.mode=sft --set "model.path=$OUT/$1-init" \
    --set "data.train=$2" --set learner.lr=2e-3 --set learner.lr_schedule=cosine --set learner.warmup_steps=30 \
    --set learner.weight_decay=0.1 \
    --set "learner.total_steps=$STEPS" --set algo.groups_per_batch=64
  local m="$OUT/$1/checkpoints/$(cat "$OUT/$1/checkpoints/latest")"
  "$Z" eval --model "$m" --tasks "$RUN/data/heldout.jsonl" --max-new-tokens 64 --out "$OUT/$1-eval.json" >/dev/null
}
echo "== 2. student SFT on the RL model's correct completions"
student student-distilled "$OUT/distill.jsonl"
echo "== 3. the same student SFT on the cold-start traces"
student student-coldstart "$RUN/data/sft.jsonl"

python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
d = json.load(open(f"{out}/student-distilled-eval.json"))["overall"]
c = json.load(open(f"{out}/student-coldstart-eval.json"))["overall"]
rep = {"student_distilled_heldout_accuracy": d["pass@1"], "student_coldstart_heldout_accuracy": c["pass@1"],
       "heldout_tasks": d["tasks"]}
json.dump(rep, open(f"{out}/distill-report.json", "w"), indent=2)
print(f"== held-out greedy accuracy of the student ({d['tasks']} tasks)")
print(f"  distilled from the RL model: {100*d['pass@1']:5.1f}%")
print(f"  cold-start traces only:      {100*c['pass@1']:5.1f}%")
print(f"report: {out}/distill-report.json")
EOF
