#!/usr/bin/env python3
"""Tokenizer throughput: zerorl vs Hugging Face `tokenizers`, single thread, Qwen3 tokenizer.

Input: every GSM8K test record as question + "\\n" + answer ($ZERORL_SHARED_DATA/gsm8k/test.jsonl,
1,319 texts, about 245k tokens), encoded with HF's defaults (special tokens parsed, no BOS).

zerorl: `zerorl tokenize --tokenizer DIR --bench REPS` reads all texts first, then times only
the encode calls of each repetition in-process (no process start, tokenizer loading, JSON
parsing or output), and prints the timings as a JSON line on stderr; its ids are checked
against HF's.
HF: the Rust library through its Python binding with TOKENIZERS_PARALLELISM=false and
RAYON_NUM_THREADS=1, timed two ways per repetition: a Python loop of tok.encode(text) (the
per-call way) and one tok.encode_batch(texts) (no per-text Python overhead; the faster of the
two is the one compared against).

Both keep their BPE caches across repetitions, so the median (of REPS) is a warm-cache figure
for each. Prints tokens/s for each and the ratio zerorl / fastest HF.

Usage: python3 bench/tokenizer.py [--zerorl build/tools/zerorl] [--reps 7]
"""
import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from tokenizers import Tokenizer  # noqa: E402


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    shared = os.environ.get("ZERORL_SHARED_DATA", os.path.join(root, "..", "shared", "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zerorl", default=os.path.join(root, "build", "tools", "zerorl"))
    ap.add_argument("--tokenizer", default=os.path.join(shared, "tokenizers", "qwen3"))
    ap.add_argument("--data", default=os.path.join(shared, "gsm8k", "test.jsonl"))
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()

    with open(args.data, encoding="utf-8") as f:
        texts = [r["question"] + "\n" + r["answer"] for r in map(json.loads, f)]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)

    # --- HF tokenizers -------------------------------------------------------------------
    tok = Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    loop_s, batch_s = [], []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        hf_ids = [tok.encode(t).ids for t in texts]
        loop_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        batch = tok.encode_batch(texts)
        batch_s.append(time.perf_counter() - t0)
    assert [e.ids for e in batch] == hf_ids
    ntok = sum(len(i) for i in hf_ids)

    # --- zerorl --------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, "in.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        t0 = time.perf_counter()
        with open(inp, "rb") as fin:
            p = subprocess.run([args.zerorl, "tokenize", "--tokenizer", args.tokenizer, "--bench", str(args.reps)],
                               stdin=fin, capture_output=True, check=False)
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"zerorl tokenize failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    stats = json.loads(p.stderr.decode().strip().splitlines()[-1])
    z_ids = [json.loads(line)["ids"] for line in p.stdout.decode().splitlines()]
    same = z_ids == hf_ids

    z_med = stats["median_s"]
    hf_loop, hf_batch = statistics.median(loop_s), statistics.median(batch_s)
    hf_best = min(hf_loop, hf_batch)
    print(f"input: {len(texts)} GSM8K test texts, {nbytes} bytes, {ntok} tokens; {args.reps} repetitions, medians")
    print(f"zerorl tokenize (in-process encode time): {z_med * 1e3:8.1f} ms  {ntok / z_med / 1e6:6.2f} M tokens/s"
          f"  (min {stats['min_s'] * 1e3:.1f} ms; whole process incl. load and {args.reps} reps: {wall:.2f} s)")
    print(f"HF tokenizers encode() loop:              {hf_loop * 1e3:8.1f} ms  {ntok / hf_loop / 1e6:6.2f} M tokens/s")
    print(f"HF tokenizers encode_batch(), 1 thread:   {hf_batch * 1e3:8.1f} ms  {ntok / hf_batch / 1e6:6.2f} M tokens/s")
    print(f"ratio zerorl / fastest HF: {hf_best / z_med:.2f}x   ids identical: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
