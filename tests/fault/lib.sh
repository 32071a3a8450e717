# shellcheck shell=bash
# lib.sh: shared pieces of the fault-injection tests (chaos.sh, netns.sh). Source it; it
# defines functions only.
#
#   zr_trained_check RUN TASKFILE G DONE   prints one JSON object with the exactly-once figures
#                                          from RUN/trained.jsonl (DONE=1: the job finished, so
#                                          every task of epoch 0 must be there)
#   zr_trained_assert CHECK TASKS DONE     calls `fail MESSAGE` (the caller's) for each broken
#                                          invariant in CHECK (the JSON above); DONE=1 also wants
#                                          exactly TASKS lines
#   zr_json_field JSON KEY                 one field of a JSON object

zr_trained_check() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, os, sys
run, taskfile, G, done = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
want = set()
for line in open(taskfile):
    want.add(json.loads(line)["id"])
seen, twice, bad, unknown, epochs, lines = {}, [], 0, 0, set(), 0
path = os.path.join(run, "trained.jsonl")
for line in open(path) if os.path.exists(path) else []:
    lines += 1
    try:
        o = json.loads(line)
        k = (o["task_id"], int(o["epoch"]))
        if len(o["samples"]) != G or sorted(o["samples"]) != list(range(G)):
            bad += 1
    except Exception:
        bad += 1
        continue
    if k in seen:
        twice.append(k)
    seen[k] = seen.get(k, 0) + 1
    epochs.add(k[1])
    if k[0] not in want:
        unknown += 1
missing = [t for t in want if (t, 0) not in seen] if done else []
# the last checkpoint's trained set must be in the file (the file is the record)
ck_missing = 0
latest = os.path.join(run, "checkpoints", "latest")
if os.path.exists(latest):
    name = open(latest).read().split()[0]
    st = json.load(open(os.path.join(run, "checkpoints", name, "learner_state.json")))
    for e in st.get("trained", {}).get("done", []):
        if (e[0], int(e[1])) not in seen:
            ck_missing += 1
print(json.dumps({"lines": lines, "distinct": len(seen), "twice": len(twice), "twice_examples": [list(t) for t in twice[:5]],
                  "missing": len(missing), "missing_examples": missing[:5], "unknown": unknown, "bad": bad,
                  "ckpt_not_in_file": ck_missing, "epochs": sorted(epochs)}))
PY
}

zr_json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

zr_trained_assert() {
  local check=$1 tasks=$2 done=$3
  if [ -z "$check" ]; then
    fail "the trained.jsonl check itself failed"
    return
  fi
  [ "$(zr_json_field "$check" twice)" = 0 ] || fail "$(zr_json_field "$check" twice) (task, epoch) trained twice, e.g. $(zr_json_field "$check" twice_examples)"
  [ "$(zr_json_field "$check" missing)" = 0 ] || fail "$(zr_json_field "$check" missing) tasks of the finished epoch missing, e.g. $(zr_json_field "$check" missing_examples)"
  [ "$(zr_json_field "$check" unknown)" = 0 ] || fail "$(zr_json_field "$check" unknown) unknown tasks in trained.jsonl"
  [ "$(zr_json_field "$check" bad)" = 0 ] || fail "$(zr_json_field "$check" bad) malformed lines in trained.jsonl"
  [ "$(zr_json_field "$check" ckpt_not_in_file)" = 0 ] || fail "$(zr_json_field "$check" ckpt_not_in_file) groups in the last checkpoint are not in trained.jsonl"
  if [ "$done" = 1 ]; then
    [ "$(zr_json_field "$check" lines)" = "$tasks" ] || fail "trained.jsonl has $(zr_json_field "$check" lines) groups, want $tasks"
  fi
}
