#!/usr/bin/env python3
"""Checks `zerorl model init` directories against Hugging Face transformers / tokenizers.

  python3 tests/reference/check_model_init.py PATH/TO/zerorl [--shared-data DIR] [--keep DIR]

For each of a few model shapes (byte-level vocabulary for qwen2, qwen3 and llama, one in bf16, and
the shared Qwen3 tokenizer via --vocab-from when $ZERORL_SHARED_DATA/tokenizers/qwen3 exists) it
runs `zerorl model init` into a temporary directory, then:
  - loads it with transformers' AutoModelForCausalLM (fp32) and AutoTokenizer;
  - checks that config.json's sizes are what was asked and the parameter count matches
    `zerorl model info`;
  - tokenizer round trips: for a list of texts (ASCII, whitespace runs, accents, CJK, emoji,
    special tokens written in the text) HF's encode equals `zerorl tokenize`, HF's decode of those
    ids gives the text back, and `zerorl detokenize` equals HF's decode;
  - greedy generation: HF generate(do_sample=False) from a raw prompt and from the ChatML-wrapped
    prompt equals `zerorl generate --temperature 0` (same max new tokens, same eos ids), as text.
Prints one line per check and exits 1 if any fails.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEXTS = [
    "Hello, world!",
    "  leading spaces and\ttabs\n\nnew lines   ",
    "Café naïve résumé — “quotes” ‘single’",
    "数学题：3 + 4 = 7。答案是七。",
    "emoji 😀🚀 and combined 👩‍💻",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "def f(x):\n    return x ** 2  # square\n",
    "",
]
PROMPT = "The answer to 12 * 7 is"
MAX_NEW = 24

failures = 0


def report(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures += 1


def run(cmd, stdin=None):
    # bytes, not text=True: universal newlines would turn a generated "\r\n" into "\n"
    p = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p.stdout.decode()


def check_model(zerorl, name, args, out_dir):
    d = os.path.join(out_dir, name)
    run([zerorl, "model", "init", *args, "--out", d])
    info = run([zerorl, "model", "info", d])
    cfg = json.load(open(os.path.join(d, "config.json")))
    tok = transformers.AutoTokenizer.from_pretrained(d)
    model = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    n_params = sum(p.numel() for p in model.parameters())
    m = re.search(r"parameters\s+([\d,]+)", info)
    report(m and int(m.group(1).replace(",", "")) == n_params,
           f"{name}: parameter count zerorl {m.group(1) if m else '?'} == transformers {n_params}")
    report(type(model).__name__ == cfg["architectures"][0], f"{name}: transformers builds {type(model).__name__}")

    # tokenizer round trips
    lines = "".join(json.dumps({"text": t}) + "\n" for t in TEXTS)
    ours = [json.loads(l)["ids"] for l in run([zerorl, "tokenize", "--tokenizer", d], lines).splitlines()]
    hf = [tok.encode(t) for t in TEXTS]
    report(ours == hf, f"{name}: zerorl tokenize == HF encode on {len(TEXTS)} texts")
    back = [tok.decode(ids) for ids in hf]
    report(back == TEXTS, f"{name}: HF decode(encode(text)) == text")
    det = run([zerorl, "detokenize", "--tokenizer", d], "".join(json.dumps({"ids": i}) + "\n" for i in hf))
    report([json.loads(l)["text"] for l in det.splitlines()] == back, f"{name}: zerorl detokenize == HF decode")

    # greedy generation, raw and ChatML
    gen_cfg = transformers.GenerationConfig.from_pretrained(d)
    eos = gen_cfg.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    for raw in (True, False):
        text = PROMPT if raw else f"<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n"
        ids = torch.tensor([tok.encode(text)])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=MAX_NEW,
                                 eos_token_id=list(eos) or None, pad_token_id=tok.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        if new and new[-1] in eos:
            new = new[:-1]
        want = tok.decode(new)
        cmd = [zerorl, "generate", "--model", d, "--prompt", PROMPT, "--temperature", "0", "--max-new-tokens",
               str(MAX_NEW)] + (["--raw"] if raw else [])
        got = run(cmd)
        assert got.endswith("\n")
        got = got[:-1]
        report(got == want, f"{name}: greedy {'raw' if raw else 'chatml'} ({len(new)} tokens) zerorl == HF: "
                            f"{json.dumps(got)[:60]}{'' if got == want else ' vs ' + json.dumps(want)[:60]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("zerorl")
    ap.add_argument("--shared-data", default=os.environ.get("ZERORL_SHARED_DATA",
                                                            os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--keep", help="write the model directories here instead of a temporary directory")
    a = ap.parse_args()
    torch.manual_seed(0)
    common = ["--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--intermediate", "128"]
    cases = [
        ("qwen2-bytes", ["--arch", "qwen2", *common, "--byte-vocab", "--seed", "1"]),
        ("qwen3-bytes-tied-bf16", ["--arch", "qwen3", *common, "--byte-vocab", "--seed", "2", "--tie", "--dtype",
                                   "bf16", "--head-dim", "32"]),
        ("llama-bytes", ["--arch", "llama", *common, "--byte-vocab", "--seed", "3"]),
    ]
    qwen3_tok = os.path.join(a.shared_data, "tokenizers", "qwen3")
    if os.path.exists(os.path.join(qwen3_tok, "tokenizer.json")):
        cases.append(("qwen3-qwenvocab", ["--arch", "qwen3", *common, "--vocab-from", qwen3_tok, "--seed", "4",
                                          "--std", "0.2"]))
        cases.append(("qwen2-qwenvocab-file", ["--arch", "qwen2", *common, "--vocab-from",
                                               os.path.join(qwen3_tok, "tokenizer.json"), "--vocab", "151936",
                                               "--tie"]))
    else:
        print(f"skip: no Qwen3 tokenizer at {qwen3_tok}")
    with tempfile.TemporaryDirectory() as tmp:
        out = a.keep or tmp
        for name, args in cases:
            try:
                check_model(a.zerorl, name, args, out)
            except Exception as e:  # a crash is a failure of this case, not of the script
                report(False, f"{name}: {type(e).__name__}: {e}")
    print(f"check_model_init: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
