"""Writes tests/fixtures/tokenizer/cases.json: Hugging Face CLIP tokenizer ids for tricky strings.

Loads the tiny vocabulary written by make_tokenizer_vocab.py (tests/fixtures/tokenizer/
{vocab.json,merges.txt}) with `transformers.CLIPTokenizer` and records, for every string in
CASES:

- `ids`: `tok(text, truncation=True, max_length=77)["input_ids"]` (bos + tokens + eos, no padding)
- `padded_ids`: the same with `padding="max_length"`
- `decoded`: `tok.decode(ids, skip_special_tokens=True)`
- `ftfy_changes`: whether `ftfy.fix_text` changes the text (informational)
- `matches_openai`: whether OpenAI's original tokenizer (ftfy + html.unescape + whitespace
  clean + lower, reproduced with OpenCLIP's `SimpleTokenizer` and OpenAI's special-token
  pattern) gives the same ids (informational; the Rust tokenizer matches Hugging Face)

In transformers 5 `CLIPTokenizer` is backed by the `tokenizers` library and `CLIPTokenizerFast`
is an alias of it (the ftfy-based "slow" tokenizer is gone); the script asserts that.
Deterministic; no network access.
"""
import gzip
import json
import os
import sys
import tempfile

import ftfy
import open_clip.tokenizer as oct
import regex
import transformers
from transformers import CLIPTokenizer

CONTEXT_LENGTH = 77
DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "tests", "fixtures", "tokenizer")

CASES = [
    # plain captions and case
    "a photo of a cat",
    "A Photo Of A CAT",
    "MiXeD CaSe WoRdS",
    "a diagram of the solar system, with planets orbiting the sun",
    # punctuation runs
    "Hello, World!!!",
    "wait... what?!?",
    "$$$ 100% off -- only $9.99!!",
    "a.b,c;d:e/f\\g|h",
    "#hashtag @mention email@example.com https://example.com/path?q=1&r=2",
    # apostrophes / contractions
    "don't it's we'll I'M they're you've she'd",
    "DON'T IT'S WE'LL",
    "rock'n'roll o'clock 's 's' ''s '",
    # digits
    "2024",
    "3.14 1,000,000 0.5x",
    "١٢٣ १२३ ² ½ Ⅻ ①",
    # whitespace
    "multiple   spaces\tand\ttabs\nand\nnewlines\r\nend",
    "   leading and trailing   ",
    "   ",
    "\t\n",
    "",
    # accents, normalisation
    "café naïve Ünïcödé",
    "cafe\u0301 vs caf\u00e9",
    "e\u0301",
    "e\u0301\u0301 a\u0308\u0304",
    "Ω K Å Straße",
    "ΟΔΟΣ Σίσυφος",
    "İstanbul \u0130",
    "Ǆ ǅ ǆ",
    "ﬁne ligature ＡＢＣ ｶﾀｶﾅ",
    # CJK, emoji
    "日本語のテキスト 中文 한국어",
    "🎉👍🏽 party time 👨\u200d👩\u200d👧",
    # odd spaces and invisible characters
    "non\u00a0breaking\u3000ideographic\u2009thin\u200bzero\ufeffbom\u180emongolian",
    "x\u2028y\u0085z\u1680w\u000bv\u000cu",
    "\u0000ctrl\u001f\u007f\u001c",
    # special tokens inside text
    "<|endoftext|>",
    "before <|endoftext|> after",
    "<|startoftext|>hi<|endoftext|><|endoftext|>",
    "<|ENDOFTEXT|>",
    "<|endoftext |>",
    "hello</w>world",
    # non-ASCII punctuation, HTML entities, mojibake
    "“quotes” — em-dash – en-dash ‘single’ «guillemets» … ¿qué?",
    "&amp; &lt;html&gt;",
    "ÃƒÂ©",
    # words needing many merges
    "antidisestablishmentarianism supercalifragilisticexpialidocious",
    "photographs internationalization electroencephalography",
    # truncation boundaries: 75 content tokens fit exactly, 76 do not
    " ".join(["a"] * 75),
    " ".join(["a"] * 76),
    "🎉" * 40,
    "The quick brown fox jumps over the lazy dog. " * 10,
]


def openai_reference(tok):
    """OpenAI's original CLIP tokenizer on the same tiny vocabulary (via OpenCLIP's SimpleTokenizer)."""
    merges = open(os.path.join(DIR, "merges.txt"), encoding="utf-8").read().rstrip("\n").split("\n")
    path = os.path.join(tempfile.mkdtemp(), "bpe.txt.gz")
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(merges))
    st = oct.SimpleTokenizer(bpe_path=path)
    sot, eot = st.sot_token_id, st.eot_token_id
    assert (sot, eot) == (tok.bos_token_id, tok.eos_token_id), (sot, eot)
    for name, i in (("<|startoftext|>", sot), ("<|endoftext|>", eot)):
        st.encoder[name] = i
        st.cache[name] = name
    st.pat = regex.compile(
        r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
        regex.IGNORECASE)

    def encode(text):
        ids = [sot] + st.encode(text)[:CONTEXT_LENGTH - 2] + [eot]
        return ids

    return encode


def main():
    assert transformers.__version__ == "5.23.0", transformers.__version__
    assert transformers.CLIPTokenizerFast is CLIPTokenizer
    tok = CLIPTokenizer.from_pretrained(DIR)
    assert tok.pad_token_id == tok.eos_token_id
    openai = openai_reference(tok)
    out = []
    for text in CASES:
        ids = tok(text, truncation=True, max_length=CONTEXT_LENGTH)["input_ids"]
        padded = tok(text, truncation=True, max_length=CONTEXT_LENGTH, padding="max_length")["input_ids"]
        assert len(ids) <= CONTEXT_LENGTH and len(padded) == CONTEXT_LENGTH
        assert padded[:len(ids)] == ids and all(i == tok.pad_token_id for i in padded[len(ids):])
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
        oa = openai(text)
        case = dict(
            text=text,
            ids=ids,
            padded_ids=padded,
            decoded=tok.decode(ids, skip_special_tokens=True),
            ftfy_changes=ftfy.fix_text(text) != text,
            matches_openai=oa == ids,
        )
        out.append(case)
        if case["ftfy_changes"] or not case["matches_openai"]:
            print(f"{text!r}: ftfy_changes={case['ftfy_changes']} matches_openai={case['matches_openai']}")
            if not case["matches_openai"]:
                print(f"    hf:     {tok.convert_ids_to_tokens(ids)}")
                print(f"    openai: {tok.convert_ids_to_tokens(oa)}")
    assert any(len(tok(c["text"])["input_ids"]) > CONTEXT_LENGTH for c in out)
    path = os.path.join(DIR, "cases.json")
    with open(path, "w", encoding="utf-8") as f:
        # one case per line: readable diffs, compact ids
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in out) + "\n]\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
