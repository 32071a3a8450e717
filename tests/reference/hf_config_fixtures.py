"""HF config fixtures for tests/unit/test_hf_config.c (called by make_safetensors_fixtures.py).

Writes tests/fixtures/hf_config/<name>.json (config.json files) and expected.json: for each config,
what transformers makes of it (AutoConfig, then the model's own attention and rotary-embedding
modules, built on the meta device where weights would be big) and the rotary inv_freq /
attention scaling it computes.

The four real configs are written by hand from the hub's config.json files of
Qwen/Qwen2.5-Math-1.5B, Qwen/Qwen3-0.6B, deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B and
meta-llama/Llama-3.2-1B (legacy layout: top-level rope_theta, rope_scaling, torch_dtype). The
others vary one thing each: rope-scaling kinds and their legacy/new spellings, the
transformers-5 layout (rope_parameters, dtype), and minimal configs that rely on defaults.
"""
import json
import os
import shutil
import tempfile

import torch
import transformers
from transformers import AutoConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

QWEN25_MATH_15B = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 1536,
    "initializer_range": 0.02,
    "intermediate_size": 8960,
    "max_position_embeddings": 4096,
    "max_window_layers": 21,
    "model_type": "qwen2",
    "num_attention_heads": 12,
    "num_hidden_layers": 28,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000,
    "sliding_window": 4096,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.37.0",
    "use_cache": True,
    "use_mrope": False,
    "use_sliding_window": False,
    "vocab_size": 151936,
}

QWEN3_06B = {
    "architectures": ["Qwen3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 1024,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 40960,
    "max_window_layers": 28,
    "model_type": "qwen3",
    "num_attention_heads": 16,
    "num_hidden_layers": 28,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000,
    "sliding_window": None,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.51.0",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 151936,
}

R1_DISTILL_QWEN_15B = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 1536,
    "initializer_range": 0.02,
    "intermediate_size": 8960,
    "max_position_embeddings": 131072,
    "max_window_layers": 21,
    "model_type": "qwen2",
    "num_attention_heads": 12,
    "num_hidden_layers": 28,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.44.0",
    "use_cache": True,
    "use_mrope": False,
    "use_sliding_window": False,
    "vocab_size": 151936,
}

LLAMA32_1B = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "initializer_range": 0.02,
    "intermediate_size": 8192,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 16,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.45.0.dev0",
    "use_cache": True,
    "vocab_size": 128256,
}


def variant(base, **changes):
    c = json.loads(json.dumps(base))
    for k, v in changes.items():
        if v is ...:
            c.pop(k, None)
        else:
            c[k] = v
    return c


CONFIGS = {
    "qwen2.5-math-1.5b": QWEN25_MATH_15B,
    "qwen3-0.6b": QWEN3_06B,
    "deepseek-r1-distill-qwen-1.5b": R1_DISTILL_QWEN_15B,
    "llama-3.2-1b": LLAMA32_1B,
    # Llama-3.2-1B-Instruct: three end-of-turn ids
    "llama-3.2-1b-instruct": variant(LLAMA32_1B, eos_token_id=[128001, 128008, 128009]),
    # Llama-3.1-8B-style llama3 scaling (factor 8)
    "llama-3.1-8b": variant(LLAMA32_1B, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                            head_dim=..., tie_word_embeddings=False,
                            rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                          "original_max_position_embeddings": 8192, "rope_type": "llama3"}),
    # Qwen2.5 long-context recipe from the model cards: legacy "type" key
    "qwen2.5-yarn": variant(QWEN25_MATH_15B, max_position_embeddings=131072, rope_theta=1000000.0,
                            rope_scaling={"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}),
    # Qwen3 YaRN with explicit betas and attention factor
    "qwen3-yarn": variant(QWEN3_06B, max_position_embeddings=131072,
                          rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768,
                                        "beta_fast": 16.0, "beta_slow": 2.0, "attention_factor": 1.25}),
    # YaRN with DeepSeek-style mscale / mscale_all_dim (attention factor derived from both)
    "qwen3-yarn-mscale": variant(QWEN3_06B, max_position_embeddings=163840,
                                 rope_scaling={"rope_type": "yarn", "factor": 40.0, "mscale": 1.0,
                                               "mscale_all_dim": 0.707, "original_max_position_embeddings": 4096}),
    # YaRN without original_max_position_embeddings: transformers uses max_position_embeddings
    "qwen2-yarn-no-orig": variant(QWEN25_MATH_15B, rope_scaling={"rope_type": "yarn", "factor": 2.0}),
    "llama-linear": variant(LLAMA32_1B, max_position_embeddings=4096, rope_theta=10000.0,
                            rope_scaling={"type": "linear", "factor": 2.0}),
    "llama-dynamic": variant(LLAMA32_1B, max_position_embeddings=4096, rope_theta=10000.0,
                             rope_scaling={"type": "dynamic", "factor": 2.0}),
    "qwen2-dynamic": variant(R1_DISTILL_QWEN_15B, max_position_embeddings=32768,
                             rope_scaling={"rope_type": "dynamic", "factor": 4.0}),
    # explicit default type and a legacy config without head_dim but hidden/heads odd-sized
    "qwen2-default-explicit": variant(QWEN25_MATH_15B, rope_scaling={"rope_type": "default"}),
    # minimal configs: transformers' class defaults fill the rest
    "qwen2-minimal": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"},
    # (Qwen3's head_dim defaults to 128 whatever hidden_size / num_attention_heads is)
    "qwen3-minimal": {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024},
    "llama-minimal": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_key_value_heads": None},
    # model_type only (no architectures): AutoModelForCausalLM picks the class from model_type
    "llama-no-architectures": variant(LLAMA32_1B, architectures=...),
    # Llama with q/k/v/o biases (attention_bias) and float16
    "llama-attention-bias": variant(LLAMA32_1B, attention_bias=True, torch_dtype="float16"),
    # float32 and no dtype at all
    "qwen3-f32": variant(QWEN3_06B, torch_dtype="float32", tie_word_embeddings=False),
    "qwen3-no-dtype": variant(QWEN3_06B, torch_dtype=...),
    # Qwen2 with sliding window named but off for every layer
    "qwen2-sliding-off": variant(R1_DISTILL_QWEN_15B, use_sliding_window=True, max_window_layers=28),
}


def v5_layout():
    """The same models as transformers 5 writes them (rope_parameters, dtype, layer_types)."""
    out = {}
    for name in ("llama-3.2-1b", "qwen3-0.6b", "qwen2.5-yarn"):
        cfg = AutoConfig.for_model(**{k: v for k, v in CONFIGS[name].items() if k != "model_type"},
                                   model_type=CONFIGS[name]["model_type"])
        d = json.loads(cfg.to_json_string(use_diff=False))
        for k in ("transformers_version", "_name_or_path"):
            d.pop(k, None)
        out[name + "-v5"] = d
    return out


def model_classes(cfg):
    arch = cfg.architectures[0] if cfg.architectures else None
    mt = cfg.model_type
    if mt == "qwen2":
        from transformers.models.qwen2 import modeling_qwen2 as m
        return m.Qwen2Attention, m.Qwen2MLP, m.Qwen2RotaryEmbedding, arch or "Qwen2ForCausalLM"
    if mt == "qwen3":
        from transformers.models.qwen3 import modeling_qwen3 as m
        return m.Qwen3Attention, m.Qwen3MLP, m.Qwen3RotaryEmbedding, arch or "Qwen3ForCausalLM"
    from transformers.models.llama import modeling_llama as m
    return m.LlamaAttention, m.LlamaMLP, m.LlamaRotaryEmbedding, arch or "LlamaForCausalLM"


def floats(t):
    return [float(v) for v in t.to(torch.float32).tolist()]


def expected_for(config_dict):
    tmp = tempfile.mkdtemp()
    try:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config_dict, f)
        cfg = AutoConfig.from_pretrained(tmp)
    finally:
        shutil.rmtree(tmp)
    Attn, Mlp, Rope, arch = model_classes(cfg)
    with torch.device("meta"):
        attn = Attn(cfg, layer_idx=0)
        mlp = Mlp(cfg)
    rope = Rope(config=cfg)
    eos = cfg.eos_token_id
    eos = [] if eos is None else (eos if isinstance(eos, list) else [eos])
    rp = dict(cfg.rope_parameters)
    dtype = cfg.dtype
    e = {
        "architecture": arch,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "num_layers": cfg.num_hidden_layers,
        "num_heads": cfg.num_attention_heads,
        "num_kv_heads": cfg.num_key_value_heads,
        "head_dim": attn.head_dim,
        "q_out": attn.q_proj.out_features,
        "k_out": attn.k_proj.out_features,
        "intermediate_size": mlp.gate_proj.out_features,
        "max_position_embeddings": cfg.max_position_embeddings,
        "rope_theta": rp["rope_theta"],
        "rope_type": rp.get("rope_type", "default"),
        "rope_parameters": rp,
        "rms_norm_eps": cfg.rms_norm_eps,
        "tie_word_embeddings": bool(cfg.tie_word_embeddings),
        "attention_bias": attn.q_proj.bias is not None,
        "o_proj_bias": attn.o_proj.bias is not None,
        "mlp_bias": mlp.gate_proj.bias is not None,
        "qk_norm": hasattr(attn, "q_norm"),
        "bos_token_id": -1 if cfg.bos_token_id is None else cfg.bos_token_id,
        "eos_token_ids": eos,
        "dtype": {None: "F32", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[dtype],
        "inv_freq": floats(rope.inv_freq),
        "attention_scaling": float(rope.attention_scaling),
        "rope": [],
    }
    rtype = e["rope_type"]
    if rtype == "dynamic":
        mp = cfg.max_position_embeddings
        for seq_len in (1, mp, mp + 1, 2 * mp, int(3.7 * mp)):
            inv, scale = ROPE_INIT_FUNCTIONS["dynamic"](cfg, None, seq_len=seq_len)
            e["rope"].append({"seq_len": seq_len, "inv_freq": floats(inv), "attention_scaling": float(scale)})
    return e


def make(out):
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old.endswith(".json"):
            os.remove(os.path.join(out, old))
    configs = dict(CONFIGS)
    configs.update(v5_layout())
    expected = {"generator": "tests/reference/make_safetensors_fixtures.py (hf_config_fixtures.py)",
                "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
                "configs": {}}
    for name, c in configs.items():
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(c, f, indent=2)
            f.write("\n")
        expected["configs"][name] = expected_for(c)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
