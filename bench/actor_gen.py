#!/usr/bin/env python3
"""The actor's group generation (actor/engine.h) against transformers' generate on the CPU.

  python3 bench/actor_gen.py [--zerorl build/tools/zerorl] [--bench-engine BUILD/bench/bench_engine]
                             [--threads 2] [--sizes small] [--groups 8,16] [--prompts 2] [--new 64]
                             [--temperature 1.0] [--top-p 0.95] [--repeats 3] [--work DIR]

For each size it makes one model directory with `zerorl model init` (random weights, fp32, Qwen
vocabulary from $ZERORL_SHARED_DATA/tokenizers/qwen3 padded to 151936; the same sizes as
bench/model.py: "small" = 4 layers, hidden 256; "0.5b" = Qwen2.5-0.5B's shape, slow on 2 cores)
and, for every G, generates G sampled completions of exactly --new tokens (EOS ignored on both
sides) for each of --prompts GSM8K-style prompts, with the same temperature / top-p and the same
thread count (zerorl --threads N, PyTorch torch.set_num_threads(N)):

  zerorl:  bench_engine (one request of G samples per prompt, prompt prefilled once and shared,
           all prompts x G samples in the slots at once, continuous batching);
  PyTorch: model.generate(ids, do_sample=True, num_return_sequences=G, temperature, top_p,
           min_new_tokens = max_new_tokens = --new), the prompts left-padded into one batch.

Both sides time prefill + decode (not loading), one warm-up run, median of --repeats. Prints one
JSON line per measurement and a table of tokens/s with the zerorl / PyTorch ratio (goal >= 2x).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {
    "small": ["--layers", "4", "--hidden", "256", "--heads", "4", "--kv-heads", "2", "--intermediate", "1024"],
    "0.5b": ["--layers", "24", "--hidden", "896", "--heads", "14", "--kv-heads", "2", "--intermediate", "4864"],
}
PROMPTS = [
    "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May? Answer:",
    "Question: Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
    "How much did she earn? Answer:",
    "Question: Betty is saving money for a new wallet which costs $100. Betty has only half of the money she "
    "needs. Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her "
    "parents. How much more money does Betty need to buy the wallet? Answer:",
    "Question: James writes a 3-page letter to 2 different friends twice a week. How many pages does he "
    "write a year? Answer:",
]


def torch_gen(a):
    import torch
    import transformers
    torch.set_num_threads(a.threads)
    tok = transformers.AutoTokenizer.from_pretrained(a.model)
    tok.padding_side = "left"
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    enc = tok(PROMPTS[:a.prompts], return_tensors="pt", padding=True)
    times = []
    with torch.inference_mode():
        for r in range(a.repeats + 1):
            torch.manual_seed(r)
            t0 = time.perf_counter()
            out = model.generate(**enc, do_sample=True, num_return_sequences=a.G, temperature=a.temperature,
                                 top_p=a.top_p, top_k=0, max_new_tokens=a.new, min_new_tokens=a.new,
                                 pad_token_id=tok.pad_token_id)
            dt = time.perf_counter() - t0
            assert out.shape[0] == a.prompts * a.G and out.shape[1] == enc["input_ids"].shape[1] + a.new
            if r > 0:
                times.append(dt)
    med = statistics.median(times)
    n = a.prompts * a.G * a.new
    print(json.dumps(dict(impl="pytorch", prompts=a.prompts, G=a.G, new=a.new, tokens=n, median_s=med,
                          min_s=min(times), tokens_per_s=n / med, threads=a.threads)))


def sh(cmd, env=None):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def last_json(text):
    return json.loads([l for l in text.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zerorl", default=os.path.join(ROOT, "build", "tools", "zerorl"))
    ap.add_argument("--bench-engine", default=os.path.join(ROOT, "build", "bench", "bench_engine"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="small")
    ap.add_argument("--groups", default="8,16")
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default="/tmp/zerorl-bench-actor")
    ap.add_argument("--shared-data", default=os.environ.get("ZERORL_SHARED_DATA",
                                                            os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--torch-gen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--G", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_gen:
        return torch_gen(a)
    import transformers
    env = dict(os.environ, ZERORL_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads),
               OPENBLAS_NUM_THREADS=str(a.threads))
    qwen3 = os.path.join(a.shared_data, "tokenizers", "qwen3")
    rows = []
    for size in a.sizes.split(","):
        d = os.path.join(a.work, size)
        if not os.path.exists(os.path.join(d, "config.json")):
            sh([a.zerorl, "model", "init", "--arch", "qwen2", *SIZES[size], "--vocab-from", qwen3, "--vocab", "151936",
                "--seed", "1", "--out", d], env)
        tok = transformers.AutoTokenizer.from_pretrained(d)
        ids = [",".join(map(str, tok.encode(p))) for p in PROMPTS[:a.prompts]]
        for G in map(int, a.groups.split(",")):
            cmd = [a.bench_engine, "--model", d, "--G", str(G), "--new", str(a.new), "--temperature",
                   str(a.temperature), "--top-p", str(a.top_p), "--threads", str(a.threads), "--repeats",
                   str(a.repeats), "--warmup", "1"]
            for i in ids:
                cmd += ["--prompt-ids", i]
            z = last_json(sh(cmd, env).stdout)
            print(json.dumps(dict(size=size, **z)), flush=True)
            t = last_json(sh([sys.executable, os.path.abspath(__file__), "--torch-gen", "--model", d, "--G", str(G),
                              "--prompts", str(a.prompts), "--new", str(a.new), "--temperature", str(a.temperature),
                              "--top-p", str(a.top_p), "--threads", str(a.threads), "--repeats", str(a.repeats)],
                             env).stdout)
            print(json.dumps(dict(size=size, **t)), flush=True)
            rows.append((size, G, z["tokens_per_s"], t["tokens_per_s"], z["mean_batch"]))
    print(f"\n{'size':6} {'G':>3} {'prompts':>7} {'new':>4} {'zerorl tok/s':>13} {'torch tok/s':>12} {'ratio':>7}")
    for size, G, z, t, mb in rows:
        print(f"{size:6} {G:3d} {a.prompts:7d} {a.new:4d} {z:13.1f} {t:12.1f} {z / t:6.2f}x")


if __name__ == "__main__":
    main()
