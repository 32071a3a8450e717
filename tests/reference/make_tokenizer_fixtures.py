#!/usr/bin/env python3
"""Makes the tokenizer fixtures under tests/fixtures/tokenizers/ with Hugging Face `tokenizers`.

It trains three small byte-level BPE tokenizers on a generated corpus (English, code, math,
CJK, other scripts, emoji, combining characters, odd whitespace) and writes, for each, the
tokenizer.json zerorl must load plus golden encodings/decodings made by the Rust library:

  llama3/      Llama-3 style: Llama-3's split regex + ByteLevel(use_regex=false), no normalizer,
               ignore_merges, <|begin_of_text|> added by a TemplateProcessing post-processor,
               merges written as "a b" strings; tokenizer_config.json, generation_config.json.
  gpt2/        GPT-2 style: ByteLevel(add_prefix_space=true, use_regex=true) alone, merges as
               "a b" strings, <|endoftext|> (normalized: true) and added tokens that use
               single_word / lstrip / rstrip.
  qwen2-pairs/ Qwen2 style: Qwen's split regex, the NFC normalizer, merges as [a, b] pairs,
               special and non-special added tokens and normalized added tokens ("café",
               "Ωmega", matched after NFC).
               split_patterns.jsonl: {"pattern", "text", "ids"}, the same tokenizer with its
               pre-tokenizer replaced by Split(pattern) + ByteLevel, for regex edge cases.
  qwen3/       goldens only, for the real Qwen3 tokenizer in $ZERORL_SHARED_DATA (the file
               itself is not copied): the same tricky strings and random id sequences.

Files per folder:
  tokenizer.json            the tokenizer (not for qwen3/)
  golden.jsonl              {"text", "ids", "ids_no_add", "ids_split_special", "decoded",
                             "decoded_skip"}: ids = encode(text) (HF defaults: special tokens
                             parsed, post-processor applied), ids_no_add = encode(text,
                             add_special_tokens=False), ids_split_special = the same with
                             encode_special_tokens=True, decoded / decoded_skip = decode(ids,
                             skip_special_tokens=False / True)
  decode_random.jsonl       {"ids", "decoded", "decoded_skip"} for random id sequences biased
                             towards tokens that are fragments of UTF-8 characters (U+FFFD
                             placement) and including ids past the vocabulary (skipped by HF)

It also writes fuzzing seeds: tests/fuzz/seeds/tokenizer_json/ (three tiny tokenizer.json files
in the three styles, for fuzz_tokenizer_json) and tests/fuzz/seeds/tokenizer/ (tricky strings,
for fuzz_tokenizer).

Usage: python3 tests/reference/make_tokenizer_fixtures.py [--out tests/fixtures/tokenizers]
Deterministic: the same `tokenizers` version gives the same files (made with 0.23.3).
"""
import argparse
import json
import os
import random

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

WORDS = ("the a an of to and in is it that for on with as was he she they we you I be at by this have from or "
         "one had not but what all were when there can said which do their time if will way about many then them "
         "would write like so these her long make thing see him two has look more day could go come did number "
         "sound no most people my over know water than call first who may down side been now find any new work "
         "part take get place made live where after back little only round man year came show every good me give "
         "our under name very through just form sentence great think say help low line differ turn cause much "
         "mean before move right boy old too same tell does set three want air well also play small end put home "
         "read hand port large spell add even land here must big high such follow act why ask men change went "
         "light kind off need house picture try us again animal point mother world near build self earth father "
         "Janet ducks eggs market dollars apples oranges train speed hours minutes percent total each remaining "
         "solve equation answer therefore because compute integer prime divisible probability triangle circle").split()
CJK = ["你好", "世界", "数学", "问题", "答案", "我们", "计算", "因为", "所以", "学生", "老师", "中文", "日本語", "テキスト",
       "です", "ありがとう", "こんにちは", "한국어", "안녕하세요", "텍스트", "감사합니다", "漢字", "平仮名", "東京", "北京"]
SCRIPTS = ["Ελληνικά", "русский", "текст", "مرحبا", "بالعالم", "עברית", "हिन्दी", "पाठ", "ภาษาไทย", "ქართული",
           "Հայերեն", "தமிழ்", "বাংলা", "Tiếng Việt", "İstanbul", "straße", "ΣΑΣ", "naïve", "façade", "ǅemal"]
EMOJI = ["🙂", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸", "🇯🇵", "❤️", "#️⃣", "😀😃😄", "🚀", "🤖", "🧮", "✅", "🔥", "🎉"]
COMBINING = ["e\u0301", "cafe\u0301", "a\u0308\u0301", "\u1100\u1161\u11a8", "\u212b", "\u2126", "A\u030a",
             "\u0958", "o\u0323\u0302", "\u0344", "n\u0303", "u\u0308", "\u00e9", "\u1e0b\u0323", "\uac00\u11a8"]
WHITESPACE = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n", "\u00a0", "\u3000", "\u2028",
              "\u0085", "\u180e", "\u200b", "\u2009", "\u202f", "\u205f", "\x0b", "\x0c", "        "]
PUNCT = [".", ",", "!", "?", ";", ":", "...", "--", "(", ")", "[", "]", "{", "}", "\"", "'", "`", "~", "@", "#",
         "$", "%", "^", "&", "*", "+", "=", "<", ">", "/", "\\", "|", "_", "«", "»", "—", "“", "”", "’", "¿", "¡"]
CODE = ["def f(x):\n    return x**2\n", "for i in range(10):\n\tprint(i)\n", "int main(void) { return 0; }",
        "#include <stdio.h>", "if (a && b) { x += 1; }", "x = [1, 2, 3]", "// comment", "/* block */",
        "SELECT * FROM users WHERE id = 42;", "const f = (a, b) => a + b;", "fn main() { println!(\"hi\"); }",
        "{\"key\": [1, 2, {\"nested\": true}]}", "a->b", "i++", "λx.x", "std::vector<int> v;", "    indented",
        "$ ls -la | grep foo", "<div class=\"x\">text</div>", "print(f\"{x:.2f}\")"]
MATH = ["$\\frac{1}{2}$", "x^2 + y^2 = z^2", "\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}", "∫_0^1 x dx", "≤ ≥ ≠ ≈",
        "2 × 3 ÷ 4", "\\boxed{42}", "3.14159", "1,234,567.89", "-0.5e-10", "½ + ¼ = ¾", "x₁ + x₂", "ℤ ℝ ℂ",
        "\\dfrac{3}{56}", "<<16-3-4=9>>9", "#### 18", "2^{10} = 1024", "√2 ≈ 1.414", "∀x ∃y", "f'(x) = 2x"]
CONTRACTIONS = ["I'm", "you're", "they'll", "we'd", "it's", "don't", "I've", "I'M", "YOU'RE", "THEY'LL", "WE'D",
                "IT'S", "DON'T", "O'Neil's", "rock'n'roll", "Janet’s", "'s", "'S", "'ſ", "''", "'''s", "IT'Sa",
                "'ll'LL", "’S"]
DIGITS = ["0", "7", "42", "123", "1234", "12345678901234567890", "007", "١٢٣", "²³", "Ⅻ", "①②", "𝟙𝟚", "3.0",
          "٣٫١٤", "१२३", "一二三"]


def corpus(rng):
    lines = []
    for _ in range(300):
        n = rng.randint(5, 25)
        words = [rng.choice(WORDS) for _ in range(n)]
        if rng.random() < 0.5:
            words[0] = words[0].capitalize()
        s = " ".join(words)
        if rng.random() < 0.4:
            s += rng.choice([", ", " ", "; "]) + rng.choice(CONTRACTIONS)
        if rng.random() < 0.4:
            s += " " + str(rng.randint(0, 100000))
        lines.append(s + rng.choice([".", "!", "?", ":", ""]))
    for _ in range(120):
        lines.append(rng.choice(CODE) + rng.choice(["", "\n", "  # note", " " * rng.randint(1, 8)]))
    for _ in range(120):
        lines.append(" ".join(rng.choice(MATH) for _ in range(rng.randint(1, 4))))
    for _ in range(120):
        lines.append("".join(rng.choice(CJK) for _ in range(rng.randint(2, 8))) + rng.choice(["。", "！", "？", "，"]))
    for _ in range(80):
        lines.append(" ".join(rng.choice(SCRIPTS) for _ in range(rng.randint(2, 6))))
    for _ in range(60):
        lines.append(" ".join(rng.choice(EMOJI) + rng.choice(WORDS) for _ in range(rng.randint(1, 5))))
    for _ in range(60):
        lines.append(rng.choice(WORDS) + rng.choice(WHITESPACE) * rng.randint(1, 4) + rng.choice(COMBINING)
                     + rng.choice(WHITESPACE) + rng.choice(DIGITS))
    return lines


def tricky(rng, specials):
    """Hand-picked edge cases, then random mixtures of every pool."""
    s = ["", " ", "a", "\n", "\t", "  ", "\x00", "\x00a\x00", "\x01\x02\x7f", "\ufeffBOM", "\ufffd", "\U0010ffff",
         "\U0001d54f", "ǅ", "ﬁ ligature", "İstanbul", "ß", "ΣΑΣ", "Hello, world!", "hello world", " hello",
         "hello ", "   leading and trailing   ", "end with space ", "a  \n  b", "x\u00a0\u00a0y", "\u3000\u3000x",
         "a\u2028b", "a\x85\x85b", "a\u180e\u180e b", "x \u180e", "a\u200bb", "line1\r\nline2\rline3\n",
         "\n\n\n\n\n", "\r\n\r\n", " \n ", "   \n   \n", "tabs\t\t\tand nbsp\u00a0!", "a" * 500, "ab" * 200,
         "1" * 300, "!" * 100, " " * 1, " " * 2, " " * 3, " " * 7, " " * 16, " " * 100, "x" + " " * 50 + "y",
         "\t" * 20, "\n" * 40, "the " * 60, "你好，世界！", "日本語のテキストです。", "한국어 텍스트",
         "中文English混合123", "🙂👍🏽 and ü", "👨‍👩‍👧‍👦", "🇺🇸🇯🇵", "❤️#️⃣", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
         "café vs cafe\u0301 (NFC)", "\u1100\u1161\u11a8", "\u212b\u2126", "A\u030a", "\u0958\u0959",
         "o\u0323\u0302 vs o\u0302\u0323", "\u0344", "Ki\u0307", "def f(x):\n    return x**2  # square\n",
         "#include <stdio.h>\nint main(void){printf(\"%d\\n\", 42);}", "http://example.com/path?q=1&r=2#frag",
         "$$\\int_0^1 x^2\\,dx = \\frac13$$", "3.14159265358979 and -0.5e-10", "!!!???...,,,;;;",
         "I'm sure you've seen it; they'll say we'd DONE it. IT'S HERE", "Mr. O'Neil's dog's bone"]
    s += CONTRACTIONS + DIGITS + COMBINING + EMOJI + WHITESPACE + [w + "x" for w in WHITESPACE]
    s += ["x" + w for w in WHITESPACE] + ["x" + w + "y" for w in WHITESPACE] + [w + "\n" for w in WHITESPACE]
    for sp in specials:
        s += [sp, sp + sp, "a" + sp + "b", " " + sp + " ", "  " + sp + "  \n", sp[:-1], sp[1:], "x" + sp[:-2],
              sp + "\n" + sp, "<" + sp + ">", sp.upper(), "word" + sp + "word", "word " + sp + " word"]
    pools = [WORDS, CJK, SCRIPTS, EMOJI, COMBINING, WHITESPACE, PUNCT, CODE, MATH, CONTRACTIONS, DIGITS,
             specials or [" "]]
    for _ in range(260):
        parts = []
        for _ in range(rng.randint(2, 12)):
            parts.append(rng.choice(rng.choice(pools)))
            if rng.random() < 0.5:
                parts.append(rng.choice([" ", "", "", "\n", "  "]))
        s.append("".join(parts))
    # random code points from many blocks (Unicode class agreement between regex engines)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x206F),
              (0x2070, 0x218F), (0x2190, 0x2BFF), (0x3000, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00),
              (0xFB00, 0xFB4F), (0xFE00, 0xFE6F), (0xFF00, 0xFFEF), (0x10000, 0x1007F), (0x1D400, 0x1D7FF),
              (0x1F300, 0x1FAFF), (0x20000, 0x2004F)]
    for _ in range(60):
        cps = []
        for _ in range(rng.randint(1, 16)):
            lo, hi = rng.choice(blocks)
            cps.append(chr(rng.randint(lo, hi)))
        s.append("".join(cps))
    return s


def golden(tok, texts, path):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            tok.encode_special_tokens = False
            ids = tok.encode(t).ids
            ids_no_add = tok.encode(t, add_special_tokens=False).ids
            tok.encode_special_tokens = True
            ids_split = tok.encode(t).ids
            tok.encode_special_tokens = False
            rec = {"text": t, "ids": ids, "ids_no_add": ids_no_add, "ids_split_special": ids_split,
                   "decoded": tok.decode(ids, skip_special_tokens=False),
                   "decoded_skip": tok.decode(ids, skip_special_tokens=True)}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def fragment_ids(tok):
    """Ids of tokens whose bytes are not valid UTF-8 on their own (pieces of characters)."""
    table = {c: b for b, c in zip(range(256), bytes_to_unicode())}
    out = []
    for token, i in tok.get_vocab(with_added_tokens=False).items():
        if all(c in table for c in token):
            try:
                bytes(table[c] for c in token).decode("utf-8")
            except UnicodeDecodeError:
                out.append(i)
    return sorted(out)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    order = sorted(zip(bs, cs))
    return [chr(c) for _, c in order]


def decode_random(tok, rng, path, count=200):
    size = tok.get_vocab_size(with_added_tokens=True)
    frags = fragment_ids(tok)
    specials = sorted(tok.get_added_tokens_decoder().keys())
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(count):
            ids = []
            for _ in range(rng.randint(1, 24)):
                r = rng.random()
                if r < 0.45 and frags:
                    ids.append(rng.choice(frags))
                elif r < 0.55 and specials:
                    ids.append(rng.choice(specials))
                elif r < 0.58:
                    ids.append(size + rng.randint(0, 100))  # no such token: HF skips it
                else:
                    ids.append(rng.randrange(size))
            rec = {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                   "decoded_skip": tok.decode(ids, skip_special_tokens=True)}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def merges_as_strings(tok):
    """Rewrites the merges in the legacy "a b" string form (tokenizers saves [a, b] pairs)."""
    j = json.loads(tok.to_str())
    j["model"]["merges"] = [a + " " + b for a, b in j["model"]["merges"]]
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False)), j


def save(out, name, tok_json, tok, texts, rng, config=None, generation=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    if tok_json is not None:
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tok_json, f, ensure_ascii=False, indent=1)
            f.write("\n")
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # goldens from the file as saved
    if config is not None:
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=1)
            f.write("\n")
    if generation is not None:
        with open(os.path.join(d, "generation_config.json"), "w", encoding="utf-8") as f:
            json.dump(generation, f, indent=1)
            f.write("\n")
    golden(tok, texts, os.path.join(d, "golden.jsonl"))
    decode_random(tok, rng, os.path.join(d, "decode_random.jsonl"))


def train(pre, lines, vocab_size, special):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    return tok


def make_seeds(lines, seeds, rng):
    """Tiny tokenizers (the byte alphabet plus a few dozen merges) and short tricky strings."""
    small = lines[:60]
    styles = {
        "llama3": (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
                                            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), None),
        "gpt2": (pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True), None),
        "qwen2": (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
                                           pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
                  normalizers.NFC()),
    }
    d = os.path.join(seeds, "tokenizer_json")
    os.makedirs(d, exist_ok=True)
    for name, (pre, norm) in styles.items():
        tok = train(pre, small, 300, [])
        if norm is not None:
            tok.normalizer = norm
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
        tok.add_tokens([AddedToken("<t>", lstrip=True, rstrip=True, single_word=True, normalized=True)])
        tok.decoder = decoders.ByteLevel()
        if name == "llama3":
            tok.post_processor = processors.TemplateProcessing(
                single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", tok.token_to_id("<|endoftext|>"))])
            tok, j = merges_as_strings(tok)
        else:
            j = json.loads(tok.to_str())
        with open(os.path.join(d, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, separators=(",", ":"))
    d = os.path.join(seeds, "tokenizer")
    os.makedirs(d, exist_ok=True)
    picks = tricky(rng, ["<|im_start|>", "<|eot_id|>", "<mask>"])
    for i, t in enumerate(picks[:: max(1, len(picks) // 40)]):
        with open(os.path.join(d, f"s{i:02d}"), "wb") as f:
            f.write(t.encode("utf-8")[:2000])


def make_llama3(lines, out, rng):
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
               "<|reserved_special_token_0|>"]
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok = train(pre, lines, 3000, [])
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = True
    tok = Tokenizer.from_str(json.dumps(j))
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    tok.decoder = decoders.ByteLevel()
    tok, j = merges_as_strings(tok)
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "clean_up_tokenization_spaces": True,
              "model_max_length": 131072, "tokenizer_class": "PreTrainedTokenizerFast"}
    generation = {"bos_token_id": bos, "eos_token_id": [tok.token_to_id("<|end_of_text|>"), tok.token_to_id("<|eot_id|>")]}
    save(out, "llama3", j, tok, tricky(rng, special), rng, config, generation)


def make_gpt2(lines, out, rng):
    pre = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok = train(pre, lines, 2500, ["<|endoftext|>"])
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=True)])
    tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False),
                            AddedToken("<sep>", special=True, rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("[ok]", single_word=True, normalized=False),
                    AddedToken("naïve", single_word=True, lstrip=True, rstrip=True, normalized=True),
                    AddedToken("  ", normalized=False)])
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.decoder = decoders.ByteLevel()
    tok, j = merges_as_strings(tok)
    config = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": False,
              "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}
    extra = ["[ok]", "x[ok]", "[ok]y", " [ok] ", "é[ok]", "_[ok]", "-[ok]-", "a <mask> b", "a   <mask>", "<mask>",
             "a<sep>   b", "<sep>\n\nx", " naïve ", "anaïve", "nai\u0308ve", "  x  ", "a    b", "\u00a0<mask>",
             "x\u3000<mask>\u3000y", "<mask><mask>", "<sep><sep> ", "[ok][ok]", "[ok] [ok]"]
    save(out, "gpt2", j, tok, tricky(rng, ["<|endoftext|>", "<mask>", "<sep>"]) + extra, rng, config)


def make_qwen2_pairs(lines, out, rng):
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok = train(pre, lines, 3500, [])
    tok.normalizer = normalizers.NFC()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False)
                            for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]])
    tok.add_tokens([AddedToken("<think>", special=False, normalized=False),
                    AddedToken("</think>", special=False, normalized=False),
                    AddedToken("café", special=False, normalized=True),
                    AddedToken("Ωmega", special=False, normalized=True)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    j = json.loads(tok.to_str())
    assert isinstance(j["model"]["merges"][0], list), "expected [a, b] pair merges from tokenizers"
    config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "add_bos_token": False,
              "model_max_length": 32768, "tokenizer_class": "Qwen2Tokenizer"}
    # "café" decodes as "caf\ufffd" in HF: its characters are all in the ByteLevel alphabet, so
    # the decoder maps é to the single byte 0xE9. "Ωmega" is outside it and round-trips.
    extra = ["café", "cafe\u0301", "CAFÉ", "cafécafé", "<think>x</think>", "a<think>", "<|im_start|>café<|im_end|>",
             "Ωmega", "\u2126mega", "x\u2126megax", "ΩMEGA"]
    save(out, "qwen2-pairs", j, tok, tricky(rng, ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>"]) + extra,
         rng, config)


SPLIT_PATTERNS = ["x*", "(?=a)", "\\b", "a|", "$", "^", "(?m)a.", "\\w+", "\\W", "[\\w]+", "\\h+", "\\s",
                  "\\d*", "(?i)T", "\\u0061", "\\s+(?!\\S)|\\s+", "[^\\s\\p{L}]+", "\\p{N}{1,3}"]
SPLIT_TEXTS = ["abxxcxd", "xxab", "", "a", "xaxbx", "héllo wörld x", "  x  ", "the cat\nsat on\n\nthe mat",
               "ab12cd 34 ef 56789", "Tt tT\u180e\u00a0x", "a_b-c d\u0301e 名字"]


def split_goldens(out):
    """Encodings of SPLIT_TEXTS by the qwen2-pairs tokenizer with its pre-tokenizer replaced by
    Split(pattern) + ByteLevel, for patterns that probe the Oniguruma/PCRE2 edges: empty
    matches, anchors, \\w \\W \\h \\s \\u, inline options."""
    d = os.path.join(out, "qwen2-pairs")
    with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
        base = json.load(f)
    with open(os.path.join(d, "split_patterns.jsonl"), "w", encoding="utf-8") as f:
        for pat in SPLIT_PATTERNS:
            j = dict(base)
            j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pat}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
            tok = Tokenizer.from_str(json.dumps(j))
            for t in SPLIT_TEXTS:
                f.write(json.dumps({"pattern": pat, "text": t, "ids": tok.encode(t).ids}, ensure_ascii=False) + "\n")


def make_qwen3(out, rng, shared):
    path = os.path.join(shared, "tokenizers", "qwen3", "tokenizer.json")
    if not os.path.exists(path):
        print(f"skipping qwen3/: {path} not found")
        return
    tok = Tokenizer.from_file(path)
    save(out, "qwen3", None, tok, tricky(rng, ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"]),
         rng)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures", "tokenizers"))
    ap.add_argument("--seeds", default=os.path.join(here, "..", "fuzz", "seeds"))
    ap.add_argument("--shared", default=os.environ.get("ZERORL_SHARED_DATA",
                                                       os.path.join(here, "..", "..", "..", "shared", "data")))
    args = ap.parse_args()
    lines = corpus(random.Random(20240601))
    make_llama3(lines, args.out, random.Random(1))
    make_gpt2(lines, args.out, random.Random(2))
    make_qwen2_pairs(lines, args.out, random.Random(3))
    split_goldens(args.out)
    make_qwen3(args.out, random.Random(4), args.shared)
    make_seeds(lines, args.seeds, random.Random(5))
    print(f"wrote fixtures under {os.path.normpath(args.out)} with tokenizers {tokenizers.__version__}")


if __name__ == "__main__":
    main()
