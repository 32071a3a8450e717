#!/usr/bin/env python3
"""zerorl's model engine against PyTorch on the CPU: training steps, decoding, peak memory.

  python3 bench/model.py [--zerorl build/tools/zerorl] [--bench-train build/bench/bench_train]
                         [--threads 2] [--sizes small,0.5b] [--work DIR] [--repeats R]
                         [--decode-batches 1,32] [--decode-new M] [--no-train]

For each size it makes one model directory with `zerorl model init` (random weights, fp32,
untied LM head, Qwen vocabulary from $ZERORL_SHARED_DATA/tokenizers/qwen3 padded to 151936; the
"0.5b" size has Qwen2.5-0.5B's shape but, being untied, 630M parameters instead of 494M) and
runs both implementations on it with the same inputs and the same thread count (zerorl:
--threads T / ZERORL_THREADS=T; PyTorch: torch.set_num_threads(T)), fp32 throughout:

  (a) training step: forward + backward + AdamW (torch.optim.AdamW defaults, lr 1e-4) on a fixed
      batch of B x T random token ids, loss = -sum log p(next token). zerorl: bench_train
      (fused chunked LM head, no B x T x V logits); PyTorch: transformers' model in eager mode
      (default SDPA attention), cross_entropy(reduction="sum"), optimizer.step(). Tokens/s at the
      median step over --steps timed steps after one warm-up step.
  (b) decoding: greedy generation of M new tokens (eos ignored, so every run makes exactly M)
      from the same prompt, batch 1 and batch 32 (the prompt repeated, as a GRPO group or
      `--n` asks for). zerorl: `zerorl generate --temperature 0 --ignore-eos --raw --n B` (its
      generate_s: prefill + decode, no loading; it prefills a repeated prompt once); PyTorch:
      model.generate(do_sample=False, min_new_tokens=M, max_new_tokens=M) on the B x prompt
      batch. Each side is timed making M and making 1 new token (medians over --repeats runs;
      one warm-up run first on the PyTorch side; zerorl runs are separate processes). Two rates:
        generate tokens/s = B * M / t(M)                  (the whole call, prefill included)
        decode step tokens/s = B * (M - 1) / (t(M) - t(1)) (the M - 1 steps after the prefill)
  (c) peak memory: each measurement runs in its own process and reports its peak RSS
      (getrusage ru_maxrss). The PyTorch numbers include the interpreter and the torch /
      transformers imports; their baseline (RSS right after the imports) is printed too.

Prints a JSON line per measurement, then a table with zerorl / PyTorch ratios (> 1: zerorl is
faster or, for memory, PyTorch uses more).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SIZES = {
    # name: init args, train batch, train seq, train steps, decode new tokens, decode repeats
    "small": dict(init=["--layers", "4", "--hidden", "256", "--heads", "4", "--kv-heads", "2", "--intermediate",
                        "1024"], batch=4, seq=256, steps=5, new=32, repeats=3),
    "0.5b": dict(init=["--layers", "24", "--hidden", "896", "--heads", "14", "--kv-heads", "2", "--intermediate",
                       "4864"], batch=1, seq=128, steps=2, new=32, repeats=1),
}
PROMPT = "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May? Answer:"


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fixed_tokens(n, vocab):
    """The ids bench_train.c trains on (xorshift64, same seed)."""
    x, out, m = 0x9E3779B97F4A7C15, [], (1 << 64) - 1
    for _ in range(n):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
        out.append(x % vocab)
    return out


# ---- PyTorch side, each in its own process (python3 bench/model.py --torch-train/--torch-decode) ----

def torch_setup(threads):
    import torch
    import transformers
    torch.set_num_threads(threads)
    return torch, transformers


def torch_train(a):
    torch, transformers = torch_setup(a.threads)
    base = rss_mb()
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    model.train()
    V = model.config.vocab_size
    ids = torch.tensor(fixed_tokens(a.batch * a.seq, V)).view(a.batch, a.seq)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times, fwd, bwd, opt_t, losses = [], [], [], [], []
    for _ in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1),
                                                 reduction="sum")
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        times.append(t3 - t0), fwd.append(t1 - t0), bwd.append(t2 - t1), opt_t.append(t3 - t2)
        losses.append(loss.item() / (a.batch * (a.seq - 1)))
        del logits, loss
    w = a.warmup
    med = statistics.median(times[w:])
    print(json.dumps(dict(impl="pytorch", threads=torch.get_num_threads(), batch=a.batch, seq=a.seq,
                          tokens_per_step=a.batch * a.seq, steps=a.steps, median_step_s=med,
                          median_forward_s=statistics.median(fwd[w:]), median_backward_s=statistics.median(bwd[w:]),
                          median_optim_s=statistics.median(opt_t[w:]), tokens_per_s=a.batch * a.seq / med,
                          loss_first=losses[0], loss_last=losses[-1], peak_rss_mb=rss_mb(), import_rss_mb=base)))


def torch_decode(a):
    torch, transformers = torch_setup(a.threads)
    base = rss_mb()
    tok = transformers.AutoTokenizer.from_pretrained(a.model)
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    ids = torch.tensor([tok.encode(PROMPT)] * a.batch)
    med = {}
    with torch.inference_mode():
        for new in (a.new, 1):
            times = []
            for r in range(a.repeats + 1):
                t0 = time.perf_counter()
                out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=new,
                                     min_new_tokens=new, pad_token_id=tok.pad_token_id)
                dt = time.perf_counter() - t0
                assert out.shape[1] == ids.shape[1] + new
                if r > 0:  # the first run is a warm-up
                    times.append(dt)
                if new == a.new:
                    first = out[0, ids.shape[1]:ids.shape[1] + 8].tolist()
            med[new] = statistics.median(times)
    print(json.dumps(dict(impl="pytorch", batch=a.batch, prompt_tokens=ids.shape[1], new_tokens=a.new,
                          repeats=a.repeats, median_s=med[a.new], median_1_s=med[1],
                          tokens_per_s=a.batch * a.new / med[a.new],
                          step_tokens_per_s=a.batch * (a.new - 1) / (med[a.new] - med[1]),
                          first_tokens=first, peak_rss_mb=rss_mb(), import_rss_mb=base)))


# ---- driver ---------------------------------------------------------------------------------

def sh(cmd, env=None):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p


def last_json(text):
    return json.loads([l for l in text.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zerorl", default=os.path.join(ROOT, "build", "tools", "zerorl"))
    ap.add_argument("--bench-train", default=os.path.join(ROOT, "build", "bench", "bench_train"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="small,0.5b")
    ap.add_argument("--work", default="/tmp/zerorl-bench-models", help="where the model directories go (reused)")
    ap.add_argument("--shared-data", default=os.environ.get("ZERORL_SHARED_DATA",
                                                            os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--repeats", type=int, help="decode repeats (default per size)")
    ap.add_argument("--steps", type=int, help="timed training steps (default per size)")
    ap.add_argument("--decode-batches", default="1,32")
    ap.add_argument("--decode-new", type=int, help="new tokens M per decode run (default per size; >= 2)")
    ap.add_argument("--no-train", action="store_true", help="decoding only")
    # internal: the PyTorch measurements in their own processes
    ap.add_argument("--torch-train", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--torch-decode", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--new", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_train:
        return torch_train(a)
    if a.torch_decode:
        return torch_decode(a)

    T = str(a.threads)
    env = dict(os.environ, ZERORL_THREADS=T, OMP_NUM_THREADS=T, OPENBLAS_NUM_THREADS=T)
    me = [sys.executable, os.path.abspath(__file__), "--threads", T]
    qwen3 = os.path.join(a.shared_data, "tokenizers", "qwen3")
    rows = []
    for size in a.sizes.split(","):
        s = SIZES[size]
        steps = a.steps or s["steps"]
        repeats = a.repeats or s["repeats"]
        if (a.decode_new or s["new"]) < 2:
            sys.exit("--decode-new must be at least 2 (the step rate is the difference of M and 1 new tokens)")
        d = os.path.join(a.work, size)
        if not os.path.exists(os.path.join(d, "config.json")):
            sh([a.zerorl, "model", "init", "--arch", "qwen2", *s["init"], "--vocab-from", qwen3, "--vocab", "151936",
                "--seed", "1", "--out", d], env)
        info = sh([a.zerorl, "model", "info", d], env).stdout
        params = [l.split()[1] for l in info.splitlines() if l.strip().startswith("parameters")][0]

        # (a) training
        if not a.no_train:
            z = last_json(sh([a.bench_train, "--model", d, "--batch", str(s["batch"]), "--seq", str(s["seq"]),
                              "--steps", str(steps), "--warmup", "1", "--threads", T], env).stdout)
            t = last_json(sh(me + ["--torch-train", "--model", d, "--batch", str(s["batch"]), "--seq", str(s["seq"]),
                                   "--steps", str(steps), "--warmup", "1"], env).stdout)
            print(json.dumps(dict(size=size, what="train", zerorl=z, pytorch=t)), flush=True)
            rows.append((size, f"train B{s['batch']}xT{s['seq']} tok/s", z["tokens_per_s"], t["tokens_per_s"], "x"))
            rows.append((size, "train peak RSS MB", z["peak_rss_mb"], t["peak_rss_mb"], "mem"))

        # (b) decoding
        for B in [int(x) for x in a.decode_batches.split(",")]:
            med, zr, M = {}, [], a.decode_new or s["new"]
            for new in (M, 1):
                zt = []
                for _ in range(repeats):
                    p = sh([a.zerorl, "generate", "--model", d, "--prompt", PROMPT, "--raw", "--temperature", "0",
                            "--ignore-eos", "--max-new-tokens", str(new), "--n", str(B), "--threads", T], env)
                    j = last_json(p.stderr)
                    assert j["new_tokens"] == B * new, j
                    zt.append(j["generate_s"])
                    zr.append(j["peak_rss_mb"])
                med[new] = statistics.median(zt)
            t = last_json(sh(me + ["--torch-decode", "--model", d, "--batch", str(B), "--new", str(M),
                                   "--repeats", str(repeats)], env).stdout)
            z = dict(impl="zerorl", batch=B, prompt_tokens=j["prompt_tokens"], new_tokens=M, repeats=repeats,
                     median_s=med[M], median_1_s=med[1], tokens_per_s=B * M / med[M],
                     step_tokens_per_s=B * (M - 1) / (med[M] - med[1]), peak_rss_mb=max(zr))
            print(json.dumps(dict(size=size, what=f"decode b{B}", zerorl=z, pytorch=t)), flush=True)
            rows.append((size, f"generate b{B} ({M} new) tok/s", z["tokens_per_s"], t["tokens_per_s"], "x"))
            rows.append((size, f"decode step b{B} tok/s", z["step_tokens_per_s"], t["step_tokens_per_s"], "x"))
            rows.append((size, f"decode b{B} peak RSS MB", z["peak_rss_mb"], t["peak_rss_mb"], "mem"))
        print(f"# {size}: {params} parameters, torch import baseline RSS {t['import_rss_mb']:.0f} MB", flush=True)

    print(f"\nthreads {a.threads}, fp32, CPU")
    print(f"{'size':6} {'measurement':32} {'zerorl':>12} {'pytorch':>12} {'ratio':>8}")
    for size, what, zv, tv, kind in rows:
        ratio = zv / tv if kind == "x" else tv / zv
        print(f"{size:6} {what:32} {zv:12.1f} {tv:12.1f} {ratio:7.2f}x")
    print("ratio: zerorl/pytorch for speed, pytorch/zerorl for memory (> 1 favours zerorl)")


if __name__ == "__main__":
    main()
