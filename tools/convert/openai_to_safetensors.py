"""Converts an OpenAI CLIP `.pt` (TorchScript, e.g. RN50x4.pt) or an OpenCLIP checkpoint
(`open_clip_pytorch_model.bin`) into a safetensors file with OpenAI state-dict naming,
which `modalscope convert` (and the page) read.

    python tools/convert/openai_to_safetensors.py RN50x4.pt rn50x4.safetensors
"""
import sys

import torch
from safetensors.torch import save_file

SKIP = {"input_resolution", "context_length", "vocab_size"}


def load_state_dict(path):
    try:
        return torch.jit.load(path, map_location="cpu").state_dict()
    except RuntimeError:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        return sd.get("state_dict", sd)


def main(src, dst):
    sd = load_state_dict(src)
    out = {}
    for k, v in sd.items():
        k = k.removeprefix("module.")
        if k in SKIP or k.endswith("num_batches_tracked") or k.endswith("attn_mask"):
            continue
        out[k] = v.float().contiguous()
    save_file(out, dst)
    print(f"wrote {len(out)} tensors to {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
