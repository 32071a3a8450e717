#!/usr/bin/env bash
# `zerorl data gen` as a user runs it: arith and countdown task files (counts, keys, answers that
# are the sums, deterministic in --seed, train and held-out files disjoint), --sft traces in the
# R1 format, `zerorl data import` still working, bad arguments (exit 2, naming the problem); and
# `zerorl model init --byte-vocab --add-tokens` making the R1 tags single tokens (ids 259..262)
# in zerorl's tokenizer and, when python3 has transformers, identically in AutoTokenizer.
# Usage: data_cli.sh PATH/TO/zerorl   (needs bash, grep, cmp, python3 for JSON checks)
set -u
zerorl=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS PATTERN -- command...: runs it, checks exit status and that output matches
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$@" </dev/null 2>&1)
  status=$?
  [[ $status -eq $want ]] || fail "'$*' exited $status, expected $want; output: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "'$*' output does not match /$pattern/: $out"
}

# ---- help and usage errors ------------------------------------------------------------------
expect 0 'zerorl data gen arith\|countdown' -- "$zerorl" data --help
expect 0 'usage: zerorl data import' -- "$zerorl" data gen --help
expect 2 "unknown kind 'poetry'" -- "$zerorl" data gen poetry --n 3 --out "$tmp/x"
expect 2 'missing KIND' -- "$zerorl" data gen --n 3 --out "$tmp/x"
expect 2 'missing --n N' -- "$zerorl" data gen arith --out "$tmp/x"
expect 2 'missing --out FILE' -- "$zerorl" data gen arith --n 3
expect 2 "--n: 'many' is not an integer" -- "$zerorl" data gen arith --n many --out "$tmp/x"
expect 2 "--n: '-3' is not an integer" -- "$zerorl" data gen arith --n -3 --out "$tmp/x"
expect 2 "unknown split 'dev'" -- "$zerorl" data gen arith --n 3 --split dev --out "$tmp/x"
expect 2 'arith difficulty 31 out of range' -- "$zerorl" data gen arith --n 3 --difficulty 31 --out "$tmp/x"
expect 2 'countdown difficulty 9 out of range' -- "$zerorl" data gen countdown --n 3 --difficulty 9 --out "$tmp/x"
expect 2 "unknown option '--bogus'" -- "$zerorl" data gen arith --n 3 --bogus --out "$tmp/x"
expect 2 '--seed needs a value' -- "$zerorl" data gen arith --n 3 --out "$tmp/x" --seed
expect 1 'cannot create' -- "$zerorl" data gen arith --n 3 --out "$tmp/no/such/dir/x.jsonl"
[[ -e $tmp/x ]] && fail "a refused command wrote $tmp/x"

# ---- arith ----------------------------------------------------------------------------------
expect 0 '^$' -- "$zerorl" data gen arith --n 500 --seed 7 --difficulty 5 --out "$tmp/a.jsonl"
expect 0 '^$' -- "$zerorl" data gen arith --n 500 --seed 7 --difficulty 5 --out "$tmp/a2.jsonl"
expect 0 '^$' -- "$zerorl" data gen arith --n 500 --seed 8 --difficulty 5 --out "$tmp/a3.jsonl"
expect 0 '^$' -- "$zerorl" data gen arith --n 500 --seed 7 --difficulty 5 --split heldout --out "$tmp/ah.jsonl"
cmp -s "$tmp/a.jsonl" "$tmp/a2.jsonl" || fail "arith is not deterministic in --seed"
cmp -s "$tmp/a.jsonl" "$tmp/a3.jsonl" && fail "arith --seed 7 and 8 gave the same file"
[[ $(wc -l <"$tmp/a.jsonl") -eq 500 ]] || fail "arith: expected 500 lines"
head -1 "$tmp/a.jsonl" | grep -qE '^\{"id":"arith-5-train-7-0","prompt":"[1-9][0-9]{4}\+[1-9][0-9]{4}=","kind":"exact","answer":"[0-9]+","extractor":"answer"\}$' ||
  fail "arith line: $(head -1 "$tmp/a.jsonl")"
"$zerorl" data gen arith --n 3 --seed 7 --out - >"$tmp/stdout.jsonl" || fail "--out - failed"
cmp -s "$tmp/stdout.jsonl" <(head -3 "$tmp/a.jsonl") || fail "--out - differs from the file's first lines"
expect 0 '^$' -- "$zerorl" data gen arith --n 200 --seed 7 --sft --out "$tmp/sft.jsonl"
grep -qE '^\{"prompt":"[0-9]{5}\+[0-9]{5}=","completion":"<think>([0-9]\+[0-9]\+[01]=[0-9]+,){4}[0-9]\+[0-9]\+[01]=[0-9]+</think><answer>[0-9]+</answer>"\}$' \
  <(head -1 "$tmp/sft.jsonl") || fail "sft line: $(head -1 "$tmp/sft.jsonl")"

# ---- countdown ------------------------------------------------------------------------------
expect 0 '^$' -- "$zerorl" data gen countdown --n 300 --seed 3 --out "$tmp/c.jsonl"
expect 0 '^$' -- "$zerorl" data gen countdown --n 300 --seed 3 --split heldout --out "$tmp/ch.jsonl"
expect 0 '^$' -- "$zerorl" data gen countdown --n 100 --seed 3 --difficulty 4 --sft --out "$tmp/csft.jsonl"
grep -q '"kind":"countdown","numbers":\[' "$tmp/c.jsonl" || fail "countdown lines lack numbers"
grep -qE '"completion":"<think>.* yes</think><answer>[-+*/()0-9]+</answer>"' "$tmp/csft.jsonl" || fail "countdown sft: $(head -1 "$tmp/csft.jsonl")"

# ---- check answers and disjointness with python (JSON) --------------------------------------
if command -v python3 >/dev/null; then
  python3 - "$tmp" <<'PY' || fail "python checks"
import json, sys, re
d = sys.argv[1]
load = lambda f: [json.loads(l) for l in open(f"{d}/{f}")]
a, ah, c, ch = load("a.jsonl"), load("ah.jsonl"), load("c.jsonl"), load("ch.jsonl")
for t in a + ah:
    x, y = t["prompt"][:-1].split("+")
    assert int(t["answer"]) == int(x) + int(y), t
key = lambda t: tuple(sorted(t["prompt"][:-1].split("+")))
assert not {key(t) for t in a} & {key(t) for t in ah}, "arith train/heldout overlap"
ck = lambda t: (tuple(sorted(t["numbers"])), t["target"])
assert not {ck(t) for t in c} & {ck(t) for t in ch}, "countdown train/heldout overlap"
assert len({t["id"] for t in c + ch}) == len(c) + len(ch)
for t in load("csft.jsonl"):
    expr = re.search(r"<answer>(.*)</answer>", t["completion"]).group(1)
    nums = [int(n) for n in re.findall(r"\d+", expr)]
    target = int(re.search(r"equals (\d+)\.", t["prompt"]).group(1))
    given = [int(n) for n in re.search(r"\[([0-9, ]+)\]", t["prompt"]).group(1).split(", ")]
    assert sorted(nums) == sorted(given), t
    assert abs(eval(expr) - target) < 1e-9, t
for t in load("sft.jsonl"):
    x, y = t["prompt"][:-1].split("+")
    assert re.search(r"<answer>(\d+)</answer>", t["completion"]).group(1) == str(int(x) + int(y))
PY
fi

# ---- import still works ---------------------------------------------------------------------
printf '%s\n' '{"question": "What is 1+1?", "answer": "1+1=2\n#### 2"}' >"$tmp/g.jsonl"
expect 0 '"id":"gsm8k-1","prompt":"What is 1\+1\?","kind":"math","answer":"2"' -- "$zerorl" data import gsm8k "$tmp/g.jsonl"

# ---- model init --add-tokens ----------------------------------------------------------------
shape=(--arch qwen2 --layers 1 --hidden 32 --heads 4 --kv-heads 2 --intermediate 64)
expect 2 '--add-tokens needs --byte-vocab' -- "$zerorl" model init "${shape[@]}" --vocab-from "$tmp" --add-tokens '<a>' --out "$tmp/m0"
expect 2 "token 'x' must be 2 to 64 bytes" -- "$zerorl" model init "${shape[@]}" --byte-vocab --add-tokens '<a>,x' --out "$tmp/m0"
expect 2 "'<a>' given twice" -- "$zerorl" model init "${shape[@]}" --byte-vocab --add-tokens '<a>,<a>' --out "$tmp/m0"
expect 2 "already a special token" -- "$zerorl" model init "${shape[@]}" --byte-vocab --add-tokens '<|im_end|>' --out "$tmp/m0"
expect 0 'vocab 263 \(tokenizer 263\)' -- "$zerorl" model init "${shape[@]}" --byte-vocab \
  --add-tokens '<think>,</think>,<answer>,</answer>' --out "$tmp/m"
ids=$(printf '%s\n' '{"text": "<think>1+2</think><answer>3</answer>"}' | "$zerorl" tokenize --tokenizer "$tmp/m")
[[ $ids == '{"ids":[259,49,43,50,260,261,51,262]}' ]] || fail "zerorl tokenize with added tokens: $ids"
if python3 -c 'import transformers' 2>/dev/null; then
  hf=$(python3 - "$tmp/m" <<'PY' 2>/dev/null
import sys
from transformers import AutoTokenizer
t = AutoTokenizer.from_pretrained(sys.argv[1])
ids = t.encode("<think>1+2</think><answer>3</answer>")
print(ids, len(t), t.decode(ids), t.convert_ids_to_tokens([259, 262]))
PY
)
  [[ $hf == "[259, 49, 43, 50, 260, 261, 51, 262] 263 <think>1+2</think><answer>3</answer> ['<think>', '</answer>']" ]] ||
    fail "transformers AutoTokenizer: $hf"
else
  echo "note: python3 transformers not available; AutoTokenizer check skipped"
fi

if [[ $fails -gt 0 ]]; then
  echo "data_cli: $fails failures"
  exit 1
fi
echo "data_cli: ok"
