#!/usr/bin/env bash
# `zerorl tokenize` / `zerorl detokenize` as a user runs them, against the Hugging Face goldens
# in tests/fixtures/tokenizers/ (and the real Qwen3 tokenizer when $ZERORL_SHARED_DATA has it):
# ids and decoded text line by line, --no-special, --skip-special, --bench, round trips, and
# every kind of bad input with its exit status and the line number it names.
# Usage: tokenize_cli.sh PATH/TO/zerorl   (needs ZERORL_SOURCE_DIR; only bash, sed, grep, cmp)
set -u
zerorl=$1
src=${ZERORL_SOURCE_DIR:?}
fix=$src/tests/fixtures/tokenizers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS PATTERN -- command...: runs it (stdin from $tmp/stdin), checks exit status and
# that the combined output matches
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$@" <"$tmp/stdin" 2>&1)
  status=$?
  [[ $status -eq $want ]] || fail "'$*' exited $status, expected $want; output: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "'$*' output does not match /$pattern/: $out"
}

# From a golden.jsonl (Python json.dumps lines): the inputs and the expected outputs.
text_of() { sed -E 's/^\{"text": ("([^"\\]|\\.)*"), .*/{"text":\1}/' "$1"; }
ids_of() { sed -E "s/.*\"$2\": \\[([^]]*)\\].*/{\"ids\":[\\1]}/; s/, /,/g" "$1"; }
decoded_of() { sed -E "s/.*\"$2\": (\"([^\"\\\\]|\\\\.)*\").*/{\"text\":\\1}/" "$1"; }
ids_input() { sed -E 's/.*"ids": \[([^]]*)\].*/{"ids":[\1]}/' "$1"; }

: >"$tmp/stdin"
expect 0 'usage: zerorl tokenize --tokenizer PATH' -- "$zerorl" tokenize --help
expect 0 'stops the command' -- "$zerorl" tokenize --help
expect 0 'usage: zerorl detokenize --tokenizer PATH' -- "$zerorl" detokenize --help
expect 2 'missing --tokenizer' -- "$zerorl" tokenize
expect 2 "unknown or incomplete option '--frob'" -- "$zerorl" tokenize --tokenizer "$fix/llama3" --frob
expect 2 "unknown or incomplete option '--no-special'" -- "$zerorl" detokenize --tokenizer "$fix/llama3" --no-special
expect 2 'repetition count' -- "$zerorl" tokenize --tokenizer "$fix/llama3" --bench 0
expect 1 "$tmp/nope: no such file" -- "$zerorl" tokenize --tokenizer "$tmp/nope"
printf '{"model": {"type": "Unigram", "vocab": [], "merges": []}}' >"$tmp/unigram.json"
expect 1 'model.type: Unigram is not supported' -- "$zerorl" tokenize --tokenizer "$tmp/unigram.json"

# every golden line, in order, for the three fixture tokenizers
for name in llama3 gpt2 qwen2-pairs; do
  g=$fix/$name/golden.jsonl
  n=$(wc -l <"$g")
  text_of "$g" >"$tmp/in.jsonl"
  ids_of "$g" ids >"$tmp/want_ids"
  "$zerorl" tokenize --tokenizer "$fix/$name" <"$tmp/in.jsonl" >"$tmp/got_ids" || fail "$name: tokenize exited $?"
  [[ $(wc -l <"$tmp/got_ids") -eq $n ]] || fail "$name: tokenize wrote $(wc -l <"$tmp/got_ids") lines for $n"
  cmp -s "$tmp/got_ids" "$tmp/want_ids" || fail "$name: ids differ from HF's: $(diff "$tmp/got_ids" "$tmp/want_ids" | head -4)"
  # detokenize the golden ids, with and without special tokens
  ids_input "$g" >"$tmp/ids.jsonl"
  for mode in decoded decoded_skip; do
    flag=()
    [[ $mode == decoded_skip ]] && flag=(--skip-special)
    decoded_of "$g" "$mode" >"$tmp/want_text"
    "$zerorl" detokenize --tokenizer "$fix/$name" "${flag[@]}" <"$tmp/ids.jsonl" >"$tmp/got_text" ||
      fail "$name: detokenize ${flag[*]} exited $?"
    cmp -s "$tmp/got_text" "$tmp/want_text" ||
      fail "$name: detokenize ${flag[*]} differs from HF's: $(diff "$tmp/got_text" "$tmp/want_text" | head -4)"
  done
done

# --no-special: special tokens are text and nothing is added (qwen2-pairs adds nothing anyway,
# so HF's encode with encode_special_tokens=True is the reference)
g=$fix/qwen2-pairs/golden.jsonl
text_of "$g" >"$tmp/in.jsonl"
ids_of "$g" ids_split_special >"$tmp/want_ids"
"$zerorl" tokenize --tokenizer "$fix/qwen2-pairs" --no-special <"$tmp/in.jsonl" >"$tmp/got_ids" || fail "--no-special exited $?"
cmp -s "$tmp/got_ids" "$tmp/want_ids" || fail "--no-special ids differ: $(diff "$tmp/got_ids" "$tmp/want_ids" | head -4)"
# round trip: llama3 has no normalizer, so plain text comes back byte for byte
text_of "$fix/llama3/golden.jsonl" >"$tmp/in.jsonl"
"$zerorl" tokenize --tokenizer "$fix/llama3" --no-special <"$tmp/in.jsonl" |
  "$zerorl" detokenize --tokenizer "$fix/llama3" >"$tmp/back.jsonl" || fail "round trip pipeline failed"
cmp -s "$tmp/back.jsonl" "$tmp/in.jsonl" || fail "round trip differs: $(diff "$tmp/back.jsonl" "$tmp/in.jsonl" | head -4)"
# --bench: same ids on stdout, timings as one JSON line on stderr
"$zerorl" tokenize --tokenizer "$fix/llama3" --bench 2 <"$tmp/in.jsonl" >"$tmp/bench_ids" 2>"$tmp/bench_err" ||
  fail "--bench exited $?"
ids_of "$fix/llama3/golden.jsonl" ids >"$tmp/want_ids"
cmp -s "$tmp/bench_ids" "$tmp/want_ids" || fail "--bench ids differ"
grep -qE '^\{"bench":"tokenize","reps":2,"lines":[0-9]+,.*"tokens_per_s":[0-9]+\}$' "$tmp/bench_err" ||
  fail "--bench stats line: $(cat "$tmp/bench_err")"

# bad lines stop the command at that line (exit 1), after writing the lines before it
printf '{"text": "a"}\n{"text": oops}\n{"text": "b"}\n' >"$tmp/stdin"
expect 1 'zerorl tokenize: line 2: invalid JSON' -- "$zerorl" tokenize --tokenizer "$fix/llama3"
[[ $("$zerorl" tokenize --tokenizer "$fix/llama3" <"$tmp/stdin" 2>/dev/null | wc -l) -eq 1 ]] ||
  fail "tokenize did not write exactly the line before the bad one"
printf '{"text": "a"}\n{"text": "b"}\n{"txt": "c"}\n' >"$tmp/stdin"
expect 1 'line 3: missing string "text"' -- "$zerorl" tokenize --tokenizer "$fix/llama3"
printf '{"text": 5}\n' >"$tmp/stdin"
expect 1 'line 1: missing string "text"' -- "$zerorl" tokenize --tokenizer "$fix/llama3"
printf '{"text": "a"}\n\n' >"$tmp/stdin"
expect 1 'line 2: empty line' -- "$zerorl" tokenize --tokenizer "$fix/llama3"
printf '["text"]\n' >"$tmp/stdin"
expect 1 'line 1: expected a JSON object' -- "$zerorl" tokenize --tokenizer "$fix/llama3"
printf '{"text": "no newline at the end"}' >"$tmp/stdin"
expect 0 '^\{"ids":\[[0-9,]+\]\}$' -- "$zerorl" tokenize --tokenizer "$fix/llama3"
printf '{"ids": [1, 2]}\n{"ids": [1, 99999]}\n' >"$tmp/stdin"
expect 1 'line 2: ids\[1\] = 99999 is not a token id' -- "$zerorl" detokenize --tokenizer "$fix/llama3"
printf '{"ids": [-1]}\n' >"$tmp/stdin"
expect 1 'line 1: ids\[0\] = -1 is not a token id' -- "$zerorl" detokenize --tokenizer "$fix/llama3"
printf '{"ids": ["a"]}\n' >"$tmp/stdin"
expect 1 'line 1: ids\[0\] is not an integer' -- "$zerorl" detokenize --tokenizer "$fix/llama3"
printf '{"text": [1]}\n' >"$tmp/stdin"
expect 1 'line 1: missing array "ids"' -- "$zerorl" detokenize --tokenizer "$fix/llama3"
# control characters and quotes come back escaped
printf '{"text": "tab\\there \\"q\\" \\\\ nul\\u0000 \\u001b"}\n' >"$tmp/stdin"
out=$("$zerorl" tokenize --tokenizer "$fix/llama3" --no-special <"$tmp/stdin" | "$zerorl" detokenize --tokenizer "$fix/llama3")
[[ $out == '{"text":"tab\there \"q\" \\ nul\u0000 \u001b"}' ]] || fail "escaping: $out"

# the real Qwen3 tokenizer, when the shared data is here
qwen=${ZERORL_SHARED_DATA:-$src/../shared/data}/tokenizers/qwen3
if [[ -f $qwen/tokenizer.json ]]; then
  for g in "$qwen/golden.jsonl" "$fix/qwen3/golden.jsonl"; do
    sed -E 's/^\{"text":/{"text": /; s/,"ids":\[/, "ids": [/; s/\],"decoded":/], "decoded":/' "$g" >"$tmp/g.jsonl"
    text_of "$tmp/g.jsonl" >"$tmp/in.jsonl"
    ids_of "$tmp/g.jsonl" ids >"$tmp/want_ids"
    "$zerorl" tokenize --tokenizer "$qwen" <"$tmp/in.jsonl" >"$tmp/got_ids" || fail "qwen3: tokenize exited $?"
    cmp -s "$tmp/got_ids" "$tmp/want_ids" || fail "qwen3 $g: ids differ: $(diff "$tmp/got_ids" "$tmp/want_ids" | head -4)"
  done
else
  echo "note: $qwen not found; the real Qwen3 tokenizer part was skipped"
fi

[[ $fails -eq 0 ]] && echo "tokenize_cli: all checks passed"
exit $((fails > 0))
