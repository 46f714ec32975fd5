#!/usr/bin/env python3
"""PyTorch peer of `vis_step/vit_b32/*`: one Lucent-style feature-visualization step, 224 px.

The model is `transformers.CLIPVisionModel` from a default `CLIPVisionConfig()` (the ViT-B/32
shapes: 12 layers, width 768, patch 32, 224 px), random initialisation (seed 0), eval mode,
fp32 on the CPU, its parameters frozen. One step does what Lucent's `render_vis` does and what
`modalscope_vis::Session::step` does:

* the image is a Fourier parameterization like Lucent's `fft_image`: a `[1, 3, 224, 113, 2]`
  spectrum (normal, sd 0.01) scaled by 1 / max(f, 1/224), `torch.fft.irfftn(norm="ortho")`,
  divided by 4; colour decorrelated with Lucid's correlation matrix (normalized by its largest
  column norm); sigmoid;
* Lucent's standard transforms with torch ops: pad 12 (constant 0.5), jitter 8, random scale
  from 0.90..1.10 in steps of 0.02 (bilinear), random rotation from -10..10 degrees
  (`affine_grid` + `grid_sample`), jitter 4; then a bilinear resize to 224 and CLIP's input
  normalization;
* a forward hook on block 10's MLP hidden units after the activation
  (`[vision_model.]encoder.layers[10].mlp.activation_fn`, the tensor modalscope calls
  `vision.blocks.10.mlp`); loss = minus the mean of channel 0 over the patch positions (the
  class token dropped, as modalscope's `Objective::channel` does);
* backward, then `torch.optim.Adam(lr=0.05)`.

Like modalscope, the forward pass stops once the hooked layer has run (the hook raises); pass
`--full-forward` to run the whole tower as Lucent does (block 11 and the pooling are then
computed and thrown away). Times warm-up steps, then reports the median of N steps; the loss
is read back to the host (`.item()`) inside the timed region. Downloads nothing.

Prints one JSON object on stdout, e.g. {"case": "vis_step/vit_b32/torch", "median_ms": 812.3, ...}.
"""

import argparse
import json
import math
import random
import statistics
import sys
import time

SIZE = 224
BLOCK = 10
UNIT = 0
LR = 0.05
PAD, JITTER, JITTER_AFTER = 12, 8, 4
SCALES = [1 + (i - 5) / 50.0 for i in range(11)]
ANGLES = list(range(-10, 11))
COLOR_CORRELATION_SVD_SQRT = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class Captured(Exception):
    """Raised by the hook to stop the forward pass once the objective's layer has run."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (match the Rust run)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--runs", type=int, default=20, help="timed steps; the median is reported")
    ap.add_argument("--full-forward", action="store_true", help="run the whole tower (Lucent) instead of stopping at the hooked layer")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = random.Random(0)

    config = CLIPVisionConfig()
    assert config.image_size == SIZE
    model = CLIPVisionModel(config).eval().to(torch.float32)
    for p in model.parameters():
        p.requires_grad_(False)

    # Lucent's fft_image.
    fy = torch.fft.fftfreq(SIZE)[:, None]
    fx = torch.fft.rfftfreq(SIZE)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy)
    scale = (1.0 / torch.clamp(freqs, min=1.0 / SIZE))[None, None, ..., None]
    spectrum = (torch.randn(1, 3, *freqs.shape, 2) * 0.01).requires_grad_(True)

    # Lucid's colour decorrelation.
    corr = torch.tensor(COLOR_CORRELATION_SVD_SQRT)
    corr = corr / corr.norm(dim=0).max()
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)

    def image():
        x = torch.fft.irfftn(torch.view_as_complex(scale * spectrum), s=(SIZE, SIZE), norm="ortho") / 4.0
        x = torch.matmul(x.permute(0, 2, 3, 1), corr.T).permute(0, 3, 1, 2)
        return torch.sigmoid(x)

    def jitter(x, d):
        dx, dy = rng.randrange(d + 1), rng.randrange(d + 1)
        h, w = x.shape[2:]
        return x[:, :, dy : dy + h - d, dx : dx + w - d]

    def random_scale(x):
        s = rng.choice(SCALES)
        h, w = x.shape[2:]
        return F.interpolate(x, size=(math.ceil(s * h), math.ceil(s * w)), mode="bilinear", align_corners=False)

    def random_rotate(x):
        a = math.radians(rng.choice(ANGLES))
        theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).unsqueeze(0)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def transform(x):
        x = F.pad(x, [PAD] * 4, mode="constant", value=0.5)
        x = jitter(x, JITTER)
        x = random_scale(x)
        x = random_rotate(x)
        x = jitter(x, JITTER_AFTER)
        return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)

    captured = {}

    def hook(_module, _inputs, output):
        captured["act"] = output
        if not args.full_forward:
            raise Captured

    # transformers 5 flattens `vision_model` into CLIPVisionModel itself.
    tower = getattr(model, "vision_model", model)
    layer = tower.encoder.layers[BLOCK].mlp.activation_fn
    layer.register_forward_hook(hook)
    optimizer = torch.optim.Adam([spectrum], lr=LR)

    def step():
        optimizer.zero_grad()
        x = (transform(image()) - mean) / std
        try:
            model(pixel_values=x)
        except Captured:
            pass
        act = captured.pop("act")  # [1, 50, 3072]; token 0 is the class token
        loss = -act[:, 1:, UNIT].mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        value = step()
        times.append(time.perf_counter() - start)
    assert math.isfinite(value), value

    result = {
        "case": "vis_step/vit_b32/torch",
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "runs": args.runs,
        "warmup": args.warmup,
        "image_size": SIZE,
        "layer": f"encoder.layers[{BLOCK}].mlp.activation_fn",
        "unit": UNIT,
        "full_forward": args.full_forward,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
