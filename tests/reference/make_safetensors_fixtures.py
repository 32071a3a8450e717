#!/usr/bin/env python3
"""Writes the reference fixtures for model/safetensors.c and model/hf_config.c.

    python3 tests/reference/make_safetensors_fixtures.py [--out tests/fixtures]

Needs torch, safetensors, transformers (5.x) and numpy. Everything is deterministic (fixed seeds),
so rerunning it reproduces the committed files byte for byte (transformers' version string in the
tiny model's config.json aside).

tests/fixtures/safetensors/
  basic.safetensors       F32/F16/BF16/I64 tensors of assorted shapes (scalar, empty, 1-4 dims),
                          written by safetensors.torch.save_file with extra __metadata__.
  alldtypes.safetensors   one tensor of every dtype zerorl knows (F64, I32, I16, I8, U8, BOOL too),
                          written by safetensors.numpy.save_file.
  qwen2_sharded/          a tiny random Qwen2ForCausalLM saved by transformers' save_pretrained with
                          a small max_shard_size: config.json, model.safetensors.index.json and the
                          model-0000K-of-0000N.safetensors shards.
  dtype_conv.safetensors  torch's float conversions: every f16 bit pattern and its fp32 value, a set
                          of bf16 patterns and their fp32 values, and fp32 inputs (ties, subnormals,
                          overflow, inf, NaN, random) with torch's bf16 and f16 roundings.
  manifest.json           for each file above: every tensor's name, dtype, shape, data_offsets, and
                          either its exact values (small tensors) or sum / sum of squares / first and
                          last values (large ones), plus the file's __metadata__ and, for the sharded
                          directory, the weight map. Floats are written with repr() of the fp32
                          value as a Python float, so they round-trip exactly.

tests/fixtures/hf_config/
  *.json                  config.json files shaped like the hub's (Qwen2.5-Math-1.5B, Qwen3-0.6B,
                          DeepSeek-R1-Distill-Qwen-1.5B, Llama-3.2-1B) and rope-scaling variants
                          (linear, dynamic, yarn, llama3), plus minimal configs relying on defaults.
  expected.json           for each config: the fields transformers reads from it (AutoConfig) and the
                          rotary inv_freq / attention scaling transformers computes for it
                          (ROPE_INIT_FUNCTIONS, or the model's default rope), at one or more
                          sequence lengths for the dynamic kind.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch
import safetensors.numpy
import safetensors.torch
from safetensors import safe_open


def f32_list(t):
    """Exact fp32 values as Python floats (inf/nan as strings, JSON has no literals for them)."""
    out = []
    for v in t.detach().to(torch.float32).reshape(-1).tolist():
        if math.isnan(v):
            out.append("nan")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(v)
    return out


def describe_file(path, small=64):
    """Manifest entry for one safetensors file, read back with the safetensors package."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    entry = {"header_len": n, "file_size": os.path.getsize(path),
             "metadata": header.pop("__metadata__", None), "tensors": []}
    with safe_open(path, framework="pt") as sf:
        for name in sorted(header, key=lambda k: header[k]["data_offsets"]):
            h = header[name]
            t = sf.get_tensor(name)
            e = {"name": name, "dtype": h["dtype"], "shape": h["shape"], "data_offsets": h["data_offsets"]}
            if h["dtype"] in ("F32", "F16", "BF16", "F64"):
                v = t.to(torch.float64).reshape(-1)
                if v.numel() <= small:
                    e["values"] = f32_list(t) if h["dtype"] != "F64" else v.tolist()
                else:
                    e["sum"] = v.sum().item()
                    e["sumsq"] = (v * v).sum().item()
                    e["first"] = v[0].item()
                    e["last"] = v[-1].item()
            else:
                v = t.to(torch.int64).reshape(-1)
                if v.numel() <= small:
                    e["values"] = v.tolist()
                else:
                    e["sum"] = v.sum().item()
            entry["tensors"].append(e)
    return entry


def make_basic(out):
    g = torch.Generator().manual_seed(1234)
    tensors = {
        "scalar.f32": torch.tensor(3.25, dtype=torch.float32),
        "empty.f32": torch.zeros(0, dtype=torch.float32),
        "empty2d.bf16": torch.zeros(4, 0, dtype=torch.bfloat16),
        "vec.f32": torch.tensor([1.0, -2.5, 1e-30, 3.4e38, -0.0, float("inf")], dtype=torch.float32),
        "mat.f16": (torch.randn(3, 5, generator=g) * 4).to(torch.float16),
        "mat.bf16": (torch.randn(2, 7, generator=g) * 100).to(torch.bfloat16),
        "cube.f32": torch.randn(2, 3, 4, generator=g),
        "ids.i64": torch.tensor([[0, 1, -1], [2**62, -(2**62), 151643]], dtype=torch.int64),
        "t4.f16": torch.randn(1, 2, 3, 2, generator=g).to(torch.float16),
        "big.bf16": torch.randn(64, 40, generator=g).to(torch.bfloat16),
        "big.f32": torch.randn(33, 17, generator=g),
    }
    path = os.path.join(out, "basic.safetensors")
    safetensors.torch.save_file(tensors, path, metadata={"format": "pt", "note": "zerorl fixture", "empty": ""})
    return describe_file(path)


def make_alldtypes(out):
    rng = np.random.default_rng(7)
    tensors = {
        "f64": rng.standard_normal((3, 2)),
        "f32": rng.standard_normal(5).astype(np.float32),
        "f16": rng.standard_normal(4).astype(np.float16),
        "i64": np.array([-(2**63), 2**63 - 1, 0], dtype=np.int64),
        "i32": np.array([[-(2**31), 2**31 - 1], [5, -6]], dtype=np.int32),
        "i16": np.array([-32768, 32767, 1], dtype=np.int16),
        "i8": np.array([-128, 127, 0, 3], dtype=np.int8),
        "u8": np.array([0, 255, 17], dtype=np.uint8),
        "bool": np.array([True, False, True, True, False]),
    }
    path = os.path.join(out, "alldtypes.safetensors")
    safetensors.numpy.save_file(tensors, path)
    return describe_file(path)


def make_qwen2_sharded(out):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                      bos_token_id=1, eos_token_id=2, architectures=["Qwen2ForCausalLM"])
    model = Qwen2ForCausalLM(cfg).to(torch.float32).eval()
    d = os.path.join(out, "qwen2_sharded")
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, max_shard_size="40KB", safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        index = json.load(f)
    entry = {"weight_map": index["weight_map"], "index_metadata": index.get("metadata"), "files": {}}
    for shard in sorted(set(index["weight_map"].values())):
        entry["files"][shard] = describe_file(os.path.join(d, shard))
    # Reference logits on a fixed prompt, for tests/reference/check_written.py.
    ids = torch.tensor([[1, 5, 17, 42, 88, 3, 64, 2]])
    with torch.no_grad():
        logits = model(ids).logits[0]
    entry["logits_input_ids"] = ids[0].tolist()
    entry["logits_sum"] = logits.double().sum().item()
    entry["logits_last"] = f32_list(logits[-1])
    return entry


def f32_bits(vals):
    return torch.from_numpy(np.array(vals, dtype=np.uint32).view(np.float32).copy())


def make_dtype_conv(out):
    # every f16 pattern and torch's fp32 value for it
    f16_all = torch.from_numpy(np.arange(65536, dtype=np.uint16).view(np.float16).copy())
    f16_all_f32 = f16_all.to(torch.float32)
    # bf16: every exponent with a spread of mantissas and both signs (incl. subnormals, inf, NaN)
    pats = []
    for sign in (0, 0x8000):
        for exp in range(256):
            for man in (0, 1, 2, 0x3F, 0x40, 0x41, 0x55, 0x7E, 0x7F):
                pats.append(sign | (exp << 7) | man)
    bf16_pats = torch.from_numpy(np.array(pats, dtype=np.uint16).view(np.int16).copy()).view(torch.bfloat16)
    bf16_pats_f32 = bf16_pats.to(torch.float32)
    # fp32 inputs for the f32 -> bf16 / f16 roundings
    bits = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
            0x7FA00000, 0xFF812345, 0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000001, 0x007FFFFF,
            0x00800000, 0x3F800000]
    rng = np.random.default_rng(42)
    # bf16 ties and near-ties: low 16 bits around 0x8000 with even and odd kept bits
    for hi in rng.integers(0, 0xFFFF, size=400):
        hi = int(hi)
        for lo in (0x7FFF, 0x8000, 0x8001, 0x0000, 0xFFFF):
            bits.append((hi << 16) | lo)
    # f16 ties: mantissa low 13 bits around 0x1000, normal f16 range (f32 exponent 113..142)
    for _ in range(1500):
        exp = int(rng.integers(113, 143))
        man_hi = int(rng.integers(0, 1 << 10))
        for lo in (0x0FFF, 0x1000, 0x1001, 0x0000, 0x1FFF):
            bits.append((int(rng.integers(0, 2)) << 31) | (exp << 23) | (man_hi << 13) | lo)
    # f16 subnormal and underflow range (f32 exponent 90..113), including exact halfway points
    for _ in range(3000):
        exp = int(rng.integers(90, 114))
        bits.append((int(rng.integers(0, 2)) << 31) | (exp << 23) | int(rng.integers(0, 1 << 23)))
    for k in range(0, 1024, 3):  # halfway between f16 subnormals k and k+1: (2k+1) * 2^-25
        v = np.float32((2 * k + 1) * 2.0 ** -25)
        bits.append(int(np.array([v], dtype=np.float32).view(np.uint32)[0]))
    # f16 overflow boundary: 65504 is max, 65520 is the halfway point to inf
    for v in (65504.0, 65519.996, 65520.0, 65536.0, 1e5, -65520.0, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08):
        bits.append(int(np.array([v], dtype=np.float32).view(np.uint32)[0]))
    # random normals across the whole exponent range
    bits += [int(b) for b in rng.integers(0, 2**32, size=4000, dtype=np.uint64)]
    f32_in = f32_bits(bits)
    tensors = {
        "f16_all": f16_all,
        "f16_all_f32": f16_all_f32,
        "bf16_pats": bf16_pats,
        "bf16_pats_f32": bf16_pats_f32,
        "f32_in": f32_in,
        "f32_in_bf16": f32_in.to(torch.bfloat16),
        "f32_in_f16": f32_in.to(torch.float16),
    }
    path = os.path.join(out, "dtype_conv.safetensors")
    safetensors.torch.save_file(tensors, path, metadata={"format": "pt", "torch": torch.__version__})
    return {"tensors": {k: {"dtype": str(v.dtype), "n": v.numel()} for k, v in tensors.items()}}


def make_safetensors(root):
    out = os.path.join(root, "safetensors")
    os.makedirs(out, exist_ok=True)
    manifest = {
        "generator": "tests/reference/make_safetensors_fixtures.py",
        "versions": {"torch": torch.__version__, "safetensors": safetensors.__version__},
        "files": {"basic.safetensors": make_basic(out), "alldtypes.safetensors": make_alldtypes(out)},
        "sets": {"qwen2_sharded": make_qwen2_sharded(out)},
        "dtype_conv": make_dtype_conv(out),
    }
    import transformers
    manifest["versions"]["transformers"] = transformers.__version__
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures"))
    ap.add_argument("--only", choices=["safetensors", "hf_config"], default=None)
    args = ap.parse_args()
    if args.only in (None, "safetensors"):
        make_safetensors(args.out)
    if args.only in (None, "hf_config"):
        sys.path.insert(0, here)
        import hf_config_fixtures
        hf_config_fixtures.make(os.path.join(args.out, "hf_config"))


if __name__ == "__main__":
    main()
