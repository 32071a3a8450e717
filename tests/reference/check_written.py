#!/usr/bin/env python3
"""Checks that what zerorl writes loads in the Python ecosystem unchanged.

    python3 tests/reference/check_written.py --bin BUILD/tests/unit_hf_config

Runs `unit_hf_config --write-model DIR`, which re-writes the tiny transformers Qwen2 model of
tests/fixtures/safetensors/qwen2_sharded with zr_st_write_dir (DIR/single: one file; DIR/sharded:
shards + index) and zr_hf_config_write (config.json), and every config of tests/fixtures/hf_config
with zr_hf_config_load + zr_hf_config_write (DIR/configs/NAME/config.json). Then:

  1. every weight file opens with the `safetensors` package (safe_open, load_file) and every
     tensor is bit-identical to the transformers-written original;
  2. transformers' AutoModelForCausalLM.from_pretrained loads both directories (no missing or
     unexpected keys) and gives bit-identical logits to the original model;
  3. every re-written config.json loads with AutoConfig and transformers derives exactly the
     same model from it as from the original (sizes, head_dim, biases, q/k norms, token ids,
     dtype) and exactly the same rotary inv_freq / attention scaling.

Exit status 0 when everything matches; prints one line per check.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
import hf_config_fixtures  # noqa: E402

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def load_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    out = {}
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for fn in files:
        path = os.path.join(d, fn)
        with safe_open(path, framework="pt") as sf:
            meta = sf.metadata()
            check(meta == {"format": "pt"}, f"{path}: __metadata__ is {meta}")
            for k in sf.keys():
                out[k] = sf.get_tensor(k)
        loaded = load_file(path)
        check(all(torch.equal(loaded[k], out[k]) for k in loaded), f"{path}: load_file agrees with safe_open")
    return out, files


def check_weights(d, ref):
    got, files = load_weights(d)
    check(set(got) == set(ref), f"{d}: {len(got)} tensors in {len(files)} file(s), same names as the original")
    same = all(got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape and
               torch.equal(got[k].view(torch.uint8) if got[k].numel() else got[k],
                           ref[k].view(torch.uint8) if ref[k].numel() else ref[k]) for k in ref if k in got)
    check(same, f"{d}: every tensor bit-identical (dtype, shape, bytes)")


def check_model(d, ref_model, ids):
    from transformers import AutoModelForCausalLM
    model, info = AutoModelForCausalLM.from_pretrained(d, output_loading_info=True, dtype=torch.float32)
    model.eval()
    missing = info.get("missing_keys", []), info.get("unexpected_keys", []), info.get("mismatched_keys", [])
    check(not any(missing), f"{d}: from_pretrained: no missing / unexpected / mismatched keys {missing}")
    check(type(model).__name__ == "Qwen2ForCausalLM", f"{d}: loads as {type(model).__name__}")
    with torch.no_grad():
        a = model(ids).logits
        b = ref_model(ids).logits
    check(torch.equal(a, b), f"{d}: logits bit-identical to the original model (max |diff| {(a - b).abs().max().item():.3g})")


def same_expected(a, b):
    """expected_for() outputs: equal in every field that describes the model."""
    diffs = []
    for k in a:
        if k == "rope_parameters":
            pa, pb = a[k], b[k]
            for key in ("rope_theta", "factor", "low_freq_factor", "high_freq_factor",
                        "original_max_position_embeddings"):
                if pa.get(key) != pb.get(key):
                    diffs.append(f"rope_parameters.{key}: {pa.get(key)} vs {pb.get(key)}")
            for key, default in (("beta_fast", 32), ("beta_slow", 1)):
                if (pa.get(key) or default) != (pb.get(key) or default):
                    diffs.append(f"rope_parameters.{key}")
        elif k == "attention_scaling":
            if abs(a[k] - b[k]) > 1e-12 * abs(a[k]):
                diffs.append(f"attention_scaling {a[k]} vs {b[k]}")
        elif a[k] != b[k]:
            diffs.append(f"{k}: {str(a[k])[:60]} vs {str(b[k])[:60]}")
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="path to the unit_hf_config test binary")
    ap.add_argument("--keep", help="write into this directory and keep it")
    args = ap.parse_args()
    out = args.keep or tempfile.mkdtemp(prefix="zerorl-written-")
    env = dict(os.environ, ZERORL_SOURCE_DIR=os.path.abspath(os.path.join(HERE, "..", "..")))
    r = subprocess.run([args.bin, "--write-model", out], env=env, capture_output=True, text=True)
    check(r.returncode == 0, f"{args.bin} --write-model {out} {r.stderr.strip()}")
    if r.returncode != 0:
        return 1

    from transformers import AutoModelForCausalLM
    src = os.path.join(FIXTURES, "safetensors", "qwen2_sharded")
    ref, _ = load_weights(src)
    ref_model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    with open(os.path.join(FIXTURES, "safetensors", "manifest.json")) as f:
        ids = torch.tensor([json.load(f)["sets"]["qwen2_sharded"]["logits_input_ids"]])
    for sub in ("single", "sharded"):
        d = os.path.join(out, sub)
        check_weights(d, ref)
        check_model(d, ref_model, ids)

    with open(os.path.join(FIXTURES, "hf_config", "expected.json")) as f:
        expected = json.load(f)["configs"]
    for name, want in expected.items():
        path = os.path.join(out, "configs", name, "config.json")
        with open(path) as f:
            written = json.load(f)
        got = hf_config_fixtures.expected_for(written)
        diffs = same_expected(want, got)
        check(not diffs, f"configs/{name}: transformers builds the same model and rope" +
              ("" if not diffs else ": " + "; ".join(diffs[:4])))
    print(f"{'PASS' if failures == 0 else 'FAIL'}: {failures} failure(s); files in {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
