#!/usr/bin/env python3
"""PyTorch peer of `image_forward/vit_b32/*`: CLIP ViT-B/32 image tower, batch 1 at 224 px.

Builds `transformers.CLIPVisionModelWithProjection` from a default `CLIPVisionConfig()` (the
ViT-B/32 shapes: 12 layers, width 768, patch 32, 224 px) with `projection_dim=512`, random
initialisation, eval mode, fp32 on the CPU under `torch.no_grad()`, and times the forward pass
(warm-up, then the median of N runs). Downloads nothing.

Prints one JSON object on stdout, e.g. {"median_ms": 61.2, ...}.
"""

import argparse
import json
import statistics
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (match the Rust run)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed passes first")
    ap.add_argument("--runs", type=int, default=20, help="timed passes; the median is reported")
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()

    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = CLIPVisionConfig(projection_dim=512)
    model = CLIPVisionModelWithProjection(config).eval().to(torch.float32)
    size = config.image_size
    x = torch.randn(args.batch, 3, size, size, dtype=torch.float32)

    times = []
    with torch.no_grad():
        for _ in range(args.warmup):
            model(pixel_values=x)
        for _ in range(args.runs):
            start = time.perf_counter()
            out = model(pixel_values=x).image_embeds
            times.append(time.perf_counter() - start)
    assert tuple(out.shape) == (args.batch, config.projection_dim), out.shape

    result = {
        "case": "image_forward/vit_b32/torch",
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "runs": args.runs,
        "warmup": args.warmup,
        "batch": args.batch,
        "image_size": size,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
