#!/usr/bin/env bash
# The zerorl tool as a user runs it: help, version, config check (valid file, overrides, each
# kind of error with its exit status and message), config docs. Usage: cli.sh PATH/TO/zerorl
set -u
zerorl=$1
src=${ZERORL_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS PATTERN -- command...: runs it, checks exit status and that output matches
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$@" 2>&1)
  status=$?
  [[ $status -eq $want ]] || fail "'$*' exited $status, expected $want; output: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "'$*' output does not match /$pattern/: $out"
}

expect 0 '^  version ' -- "$zerorl" --help
expect 0 '^  config ' -- "$zerorl" --help
expect 2 'usage: zerorl' -- "$zerorl"
expect 2 "unknown command 'frobnicate'" -- "$zerorl" frobnicate
expect 0 '^zerorl [0-9]+\.[0-9]+\.[0-9]+ \(commit ' -- "$zerorl" version
expect 0 '^protocol 1$' -- "$zerorl" version
expect 0 'cuda backend: ' -- "$zerorl" version
expect 0 'usage: zerorl config check' -- "$zerorl" config --help

# dataset import: usage, a good file, a bad line named by file and line
expect 0 'usage: zerorl data import' -- "$zerorl" data --help
printf '{"question": "1+1?", "answer": "so\\n#### 2"}\n' >"$tmp/g.jsonl"
expect 0 '"answer":"2"' -- "$zerorl" data import gsm8k "$tmp/g.jsonl"
printf '{"question": "1+1?", "answer": "so\\n#### 2"}\n{"question": "x"}\n' >"$tmp/bad.jsonl"
expect 1 'bad.jsonl:2: ' -- "$zerorl" data import gsm8k "$tmp/bad.jsonl"
expect 2 'nosuchformat' -- "$zerorl" data import nosuchformat "$tmp/g.jsonl"

# valid files: the shipped examples
for f in examples/demo.ini deploy/config/zerorl.ini; do
  expect 0 '^\[redis\]' -- "$zerorl" config check "$src/$f"
done
# overrides win over the file and are marked as changed
expect 0 '^port = 6390 +# changed' -- "$zerorl" config check "$src/examples/demo.ini" --set redis.port=6390
expect 0 '^password = "\*\*\*"' -- "$zerorl" config check "$src/examples/demo.ini" --set redis.password=hunter2
out=$("$zerorl" config check "$src/examples/demo.ini" --set redis.password=hunter2 2>&1)
grep -q hunter2 <<<"$out" && fail "config check printed a password"

# every kind of error names the file, line and key, and exits 1
printf '[job]\nname = x\n[redis]\nprot = 6379\n' >"$tmp/unknown.ini"
expect 1 'unknown.ini:4: \[redis\] prot: unknown key' -- "$zerorl" config check "$tmp/unknown.ini"
printf '[redis]\n\nport = 70000\n' >"$tmp/range.ini"
expect 1 'range.ini:3: \[redis\] port: .*out of range' -- "$zerorl" config check "$tmp/range.ini"
printf '[redis]\nheartbeat_interval = 10s\nheartbeat_ttl = 5s\n' >"$tmp/cross.ini"
expect 1 'heartbeat_ttl' -- "$zerorl" config check "$tmp/cross.ini"
printf '[nosuch]\nkey = 1\n' >"$tmp/section.ini"
expect 1 'section.ini:1: .*nosuch' -- "$zerorl" config check "$tmp/section.ini"
expect 1 '\[redis\] port' -- "$zerorl" config check "$src/examples/demo.ini" --set redis.port=abc
expect 1 'unknown key' -- "$zerorl" config check "$src/examples/demo.ini" --set redis.nope=1
expect 1 "$tmp/missing.ini" -- "$zerorl" config check "$tmp/missing.ini"
expect 2 'missing FILE' -- "$zerorl" config check
expect 2 '--set needs' -- "$zerorl" config check "$src/examples/demo.ini" --set

# the generated reference is the committed one
"$zerorl" config docs >"$tmp/config.md" || fail "config docs failed"
cmp -s "$tmp/config.md" "$src/docs/config.md" || fail "docs/config.md is stale: run 'zerorl config docs > docs/config.md'"

[[ $fails -eq 0 ]] && echo "cli: all checks passed" && exit 0
exit 1
