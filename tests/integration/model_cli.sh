#!/usr/bin/env bash
# `zerorl model init|info` and `zerorl generate` as a user runs them: a byte-vocabulary model and
# one with a fixture tokenizer (tests/fixtures/tokenizers/, file and directory forms), model info,
# `zerorl tokenize` on the written tokenizer, greedy generation twice (identical), seeded sampling
# (deterministic in the seed), --n blocks, and bad flags (exit 2, naming the flag).
# Usage: model_cli.sh PATH/TO/zerorl   (needs ZERORL_SOURCE_DIR; only bash, grep, cmp)
set -u
zerorl=$1
src=${ZERORL_SOURCE_DIR:?}
fix=$src/tests/fixtures/tokenizers
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

shape=(--layers 2 --hidden 32 --heads 4 --kv-heads 2 --intermediate 64)

# ---- help and usage errors ------------------------------------------------------------------
expect 0 'usage: zerorl model init' -- "$zerorl" model --help
expect 0 'usage: zerorl model init' -- "$zerorl" model init --help
expect 0 'usage: zerorl generate --model DIR --prompt TEXT' -- "$zerorl" generate --help
expect 2 'usage: zerorl model' -- "$zerorl" model
expect 2 "unknown subcommand 'frob'" -- "$zerorl" model frob
expect 2 "--arch: unknown architecture 'gpt5'" -- "$zerorl" model init --arch gpt5 "${shape[@]}" --byte-vocab --out "$tmp/x"
expect 2 'missing --arch' -- "$zerorl" model init "${shape[@]}" --byte-vocab --out "$tmp/x"
expect 2 'missing --layers' -- "$zerorl" model init --arch qwen2 --hidden 32 --heads 4 --kv-heads 2 --intermediate 64 --byte-vocab --out "$tmp/x"
expect 2 '--layers needs an integer' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --layers two --byte-vocab --out "$tmp/x"
expect 2 '--hidden needs an integer' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --hidden 0 --byte-vocab --out "$tmp/x"
expect 2 'exactly one of --vocab-from PATH and --byte-vocab' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --out "$tmp/x"
expect 2 'exactly one of --vocab-from PATH and --byte-vocab' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --vocab-from "$fix/gpt2" --out "$tmp/x"
expect 2 'not a multiple of --kv-heads' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --kv-heads 3 --byte-vocab --out "$tmp/x"
expect 2 'not divisible by --heads' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --hidden 30 --byte-vocab --out "$tmp/x"
expect 2 "--dtype: unknown dtype 'f8'" -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --dtype f8 --out "$tmp/x"
expect 2 "unknown option '--frob'" -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --frob --out "$tmp/x"
expect 2 'missing --out' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab
expect 2 '--vocab 100 is below' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --vocab 100 --out "$tmp/x"
expect 1 "$tmp/nope: no such file" -- "$zerorl" model init --arch qwen2 "${shape[@]}" --vocab-from "$tmp/nope" --out "$tmp/x"
[[ -e $tmp/x ]] && fail "a failed init left $tmp/x behind"
expect 2 'expected one model directory' -- "$zerorl" model info
expect 1 "$tmp/nope/config.json" -- "$zerorl" model info "$tmp/nope"

# ---- init: byte vocabulary ------------------------------------------------------------------
expect 0 "wrote $tmp/bytes: Qwen2ForCausalLM, 2 layers.*vocab 259 \(tokenizer 259\)" -- \
  "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --seed 7 --out "$tmp/bytes"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
  [[ -s $tmp/bytes/$f ]] || fail "model init did not write $f"
done
expect 1 'already holds a model.*--force' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --out "$tmp/bytes"
# deterministic in the seed; --force overwrites
expect 0 'wrote' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --seed 7 --out "$tmp/bytes2"
cmp -s "$tmp/bytes/model.safetensors" "$tmp/bytes2/model.safetensors" || fail "same seed gave different weights"
expect 0 'wrote' -- "$zerorl" model init --arch qwen2 "${shape[@]}" --byte-vocab --seed 8 --force --out "$tmp/bytes2"
cmp -s "$tmp/bytes/model.safetensors" "$tmp/bytes2/model.safetensors" && fail "another seed gave the same weights"

expect 0 'architecture +Qwen2ForCausalLM' -- "$zerorl" model info "$tmp/bytes"
expect 0 'heads +4 \(kv heads 2, head_dim 8\)' -- "$zerorl" model info "$tmp/bytes"
expect 0 'parameters +[0-9,]+ ' -- "$zerorl" model info "$tmp/bytes"
expect 0 'weights: 27 F32 tensors' -- "$zerorl" model info "$tmp/bytes"
expect 0 'vocab +259$' -- "$zerorl" model info "$tmp/bytes"
expect 0 'eos +<\|im_end\|> \(258\)' -- "$zerorl" model info "$tmp/bytes"
expect 0 'stop ids +<\|im_end\|> \(258\), <\|endoftext\|> \(256\)' -- "$zerorl" model info "$tmp/bytes"
expect 0 'special tokens 3: <\|endoftext\|> <\|im_start\|> <\|im_end\|>' -- "$zerorl" model info "$tmp/bytes"

# the written tokenizer: bytes are their own ids, special tokens are parsed
out=$(printf '{"text":"Hi \\u00e9<|im_end|>"}\n' | "$zerorl" tokenize --tokenizer "$tmp/bytes")
[[ $out == '{"ids":[72,105,32,195,169,258]}' ]] || fail "byte tokenizer ids: $out"
out=$(printf '{"ids":[72,105,32,195,169,258]}\n' | "$zerorl" detokenize --tokenizer "$tmp/bytes")
[[ $out == '{"text":"Hi é<|im_end|>"}' ]] || fail "byte tokenizer decode: $out"

# ---- init: a fixture tokenizer (directory and file), other architectures, bf16 ------------
expect 0 'LlamaForCausalLM.*tied embeddings' -- "$zerorl" model init --arch llama "${shape[@]}" --vocab-from "$fix/llama3" \
  --tie --dtype bf16 --out "$tmp/llama"
expect 0 'dtype +bfloat16 \(config\); weights: [0-9]+ BF16 tensors' -- "$zerorl" model info "$tmp/llama"
expect 0 'tied embedding yes' -- "$zerorl" model info "$tmp/llama"
expect 0 'bos +<\|begin_of_text\|>' -- "$zerorl" model info "$tmp/llama"
expect 0 'Qwen3ForCausalLM.*head_dim 16.*vocab 4096' -- "$zerorl" model init --arch qwen3 "${shape[@]}" --head-dim 16 \
  --vocab-from "$fix/qwen2-pairs/tokenizer.json" --vocab 4096 --out "$tmp/qwen3"
expect 0 'attention bias no, qk norm yes' -- "$zerorl" model info "$tmp/qwen3"
for d in llama qwen3; do
  cmp -s "$tmp/$d/tokenizer.json" "$fix/$([[ $d == llama ]] && echo llama3 || echo qwen2-pairs)/tokenizer.json" ||
    fail "$d: tokenizer.json is not a copy of the source"
  [[ -s $tmp/$d/tokenizer_config.json ]] || fail "$d: no tokenizer_config.json"
done
printf '{"text":"Hello world"}\n' >"$tmp/in.jsonl"
"$zerorl" tokenize --tokenizer "$fix/qwen2-pairs" <"$tmp/in.jsonl" >"$tmp/want.jsonl"
"$zerorl" tokenize --tokenizer "$tmp/qwen3" <"$tmp/in.jsonl" >"$tmp/got.jsonl" || fail "tokenize with the copied tokenizer"
cmp -s "$tmp/want.jsonl" "$tmp/got.jsonl" || fail "copied tokenizer encodes differently"

# ---- generate -------------------------------------------------------------------------------
expect 2 'missing --model' -- "$zerorl" generate --prompt hi
expect 2 'missing --prompt' -- "$zerorl" generate --model "$tmp/bytes"
expect 2 '--temperature needs a number' -- "$zerorl" generate --model "$tmp/bytes" --prompt hi --temperature -1
expect 2 '--n needs an integer' -- "$zerorl" generate --model "$tmp/bytes" --prompt hi --n 0
expect 2 '--top-p needs a number' -- "$zerorl" generate --model "$tmp/bytes" --prompt hi --top-p 2
expect 2 "unknown option '--beams'" -- "$zerorl" generate --model "$tmp/bytes" --prompt hi --beams 4
expect 2 '--max-new-tokens needs a value' -- "$zerorl" generate --model "$tmp/bytes" --prompt hi --max-new-tokens
expect 1 "$tmp/nope" -- "$zerorl" generate --model "$tmp/nope" --prompt hi

for d in bytes llama qwen3; do
  gen=("$zerorl" generate --model "$tmp/$d" --prompt "Once upon a time" --max-new-tokens 12 --threads 2)
  "${gen[@]}" --temperature 0 >"$tmp/g1" 2>"$tmp/err" || fail "$d: greedy generate failed: $(cat "$tmp/err")"
  "${gen[@]}" --temperature 0 >"$tmp/g2" 2>/dev/null
  cmp -s "$tmp/g1" "$tmp/g2" || fail "$d: greedy generation differs between runs"
  grep -qE '^\{"prompt_tokens":[0-9]+,"n":1,"new_tokens":[0-9]+,.*"tokens_per_s":[0-9.]+,"threads":2' "$tmp/err" ||
    fail "$d: no statistics line on stderr: $(cat "$tmp/err")"
  "${gen[@]}" --raw --temperature 0 >"$tmp/g3" 2>/dev/null || fail "$d: --raw generate failed"
  "${gen[@]}" --seed 11 --top-p 0.9 --top-k 50 >"$tmp/s1" 2>/dev/null || fail "$d: sampling failed"
  "${gen[@]}" --seed 11 --top-p 0.9 --top-k 50 >"$tmp/s2" 2>/dev/null
  cmp -s "$tmp/s1" "$tmp/s2" || fail "$d: seeded sampling is not deterministic"
  "${gen[@]}" --seed 11 --top-p 0.9 --top-k 50 --n 3 >"$tmp/n3" 2>/dev/null || fail "$d: --n 3 failed"
  [[ $(grep -c '^==> completion [1-3]/3 <==$' "$tmp/n3") -eq 3 ]] || fail "$d: --n 3 did not print 3 headed blocks"
done
# a different seed gives other samples (bytes model: 12 tokens from 259, a collision is negligible)
gen=("$zerorl" generate --model "$tmp/bytes" --prompt "Once upon a time" --max-new-tokens 12 --ignore-eos)
"${gen[@]}" --seed 1 >"$tmp/a" 2>/dev/null
"${gen[@]}" --seed 2 >"$tmp/b" 2>"$tmp/err"
cmp -s "$tmp/a" "$tmp/b" && fail "seeds 1 and 2 sampled the same text"
grep -q '"new_tokens":12,' "$tmp/err" || fail "--ignore-eos did not generate all 12 tokens: $(cat "$tmp/err")"

[[ $fails -eq 0 ]] && echo "model_cli: all checks passed" && exit 0
exit 1
