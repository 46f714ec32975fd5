"""Writes a small CLIP BPE vocabulary (vocab.json + merges.txt, Hugging Face layout).

It is CLIP's own vocabulary cut to its first MERGES merges, built the way Hugging Face
converts OpenAI's `bpe_simple_vocab_16e6.txt.gz` (which OpenCLIP ships), so tokenizers
that read the real files read these too, and the test models stay small.
"""
import gzip
import json
import os
import sys

import open_clip.tokenizer as oct

MERGES = 4000
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "tests", "fixtures", "tokenizer")


def main():
    path = oct.default_bpe()
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = lines[1:1 + MERGES]
    byte_chars = list(oct.bytes_to_unicode().values())
    vocab = byte_chars + [c + "</w>" for c in byte_chars]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({tok: i for i, tok in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(OUT, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(merges) + "\n")
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {OUT}")


if __name__ == "__main__":
    main()
