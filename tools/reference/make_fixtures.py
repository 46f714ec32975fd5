"""Writes the reference fixtures for three tiny random-weight CLIP models.

    hf_vit      transformers.CLIPModel (ViT tower, Hugging Face naming)
    openai_rn   open_clip CLIP, ModifiedResNet tower (OpenAI naming)
    openai_vit  open_clip CLIP, VisionTransformer tower (OpenAI naming)

For every model it writes, under tests/fixtures/<model>/:
    model.safetensors            the weights (HF: what save_pretrained writes; OpenAI: state_dict())
    config.json                  (hf_vit) the HF config
    open_clip_config.json        (openai_*) OpenCLIP model-config JSON
    reference.safetensors        inputs, outputs and hooked intermediate activations
    manifest.json                what is in reference.safetensors and how it was computed
and the shared input images under tests/fixtures/images/.

Everything is deterministic (fixed seeds, single-threaded CPU, fp32, eval mode). Weights are
random, then perturbed so that LayerNorm / BatchNorm affine parameters, biases, class and
positional embeddings, BatchNorm running statistics and logit_scale all hold non-trivial values:
a loader that drops a bias or swaps q/k changes the outputs.

Usage:  python tools/reference/make_fixtures.py [FIXTURES_DIR]
Needs the tiny vocabulary written by make_tokenizer_vocab.py (tests/fixtures/tokenizer).
"""
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file

import open_clip
from open_clip.model import CLIP as OpenClipCLIP
import transformers
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures")
TOKENIZER_DIR = os.path.join(OUT, "tokenizer")

CONTEXT_LENGTH = 77
VOCAB_SIZE = 4514
BOS_ID = 4512
EOS_ID = 4513
EMBED_DIM = 24

CAPTIONS = [
    "a photo of a cat",
    "A DRAWING of a red star!!",
    "the word heart",
    "émoji 🎉 and ünïcode",
    # > 77 tokens, exercises truncation (the last kept token is forced to <|endoftext|>)
    "a very long caption about a small brown dog that runs across a green field under a blue sky, "
    "chasing a red ball while three children laugh and a man in a yellow hat reads a newspaper on "
    "a wooden bench near the old stone bridge, and the river below carries leaves, boats, ducks, "
    "and the reflections of tall trees that line both of its banks all the way to the sea",
]

# open_clip configs in OpenCLIP's model-config JSON format
TEXT_CFG = {"context_length": CONTEXT_LENGTH, "vocab_size": VOCAB_SIZE, "width": 40, "heads": 4, "layers": 2}
OPENAI_RN_CFG = {
    "embed_dim": EMBED_DIM,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 64, "layers": [2, 1, 1, 1], "width": 8, "head_width": 16},
    "text_cfg": TEXT_CFG,
}
OPENAI_VIT_CFG = {
    "embed_dim": EMBED_DIM,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 48, "layers": 2, "head_width": 12, "mlp_ratio": 4.0},
    "text_cfg": TEXT_CFG,
}

HF_CFG = dict(
    vision_config=dict(
        image_size=32, patch_size=8, hidden_size=48, intermediate_size=192, num_hidden_layers=2,
        num_attention_heads=4, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=EMBED_DIM,
    ),
    text_config=dict(
        vocab_size=VOCAB_SIZE, max_position_embeddings=CONTEXT_LENGTH, hidden_size=40, intermediate_size=160,
        num_hidden_layers=2, num_attention_heads=4, hidden_act="quick_gelu", layer_norm_eps=1e-5,
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=EOS_ID, projection_dim=EMBED_DIM,
    ),
    projection_dim=EMBED_DIM,
)

POOLING_TEXT = {
    "hf": "row of final_layer_norm output at the FIRST position where input_ids == eos_token_id (4513); "
          "transformers uses argmax(input_ids) only when config eos_token_id == 2",
    "openai": "row of ln_final output at argmax(input_ids) (open_clip pool_type 'argmax'; torch.argmax returns the "
              "first maximal index, and <|endoftext|>=4513 is the largest id, so this is the first eos here too)",
}


# ----------------------------------------------------------------------------------------------
# inputs

def make_images():
    """Three deterministic 80x60 (W x H) RGB images."""
    w, h = 80, 60
    shapes = Image.new("RGB", (w, h), (235, 225, 200))
    d = ImageDraw.Draw(shapes)
    d.rectangle([5, 8, 30, 40], fill=(200, 30, 40))
    d.ellipse([35, 5, 70, 35], fill=(30, 90, 210), outline=(10, 10, 10))
    star = []
    for k in range(10):
        r = 14 if k % 2 == 0 else 6
        a = math.pi / 2 + k * math.pi / 5
        star.append((55 + r * math.cos(a), 45 - r * math.sin(a)))
    d.polygon(star, fill=(250, 200, 20))
    d.line([0, 59, 79, 30], fill=(20, 150, 60), width=3)
    d.polygon([(8, 55), (20, 44), (32, 55)], fill=(120, 40, 160))

    rng = np.random.default_rng(1234)
    noise = Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB")

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    grad = np.stack([
        255.0 * xx / (w - 1),
        255.0 * yy / (h - 1),
        255.0 * (0.5 + 0.5 * np.sin(2 * math.pi * (xx + yy) / (w + h))),
    ], axis=-1)
    gradient = Image.fromarray(np.round(grad).astype(np.uint8), "RGB")
    return {"shapes": shapes, "noise": noise, "gradient": gradient}


IMAGE_NAMES = ["shapes", "noise", "gradient"]


def preprocess(paths, size):
    proc = CLIPImageProcessorPil(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size},
        do_resize=True, do_center_crop=True, resample=PILImageResampling.BICUBIC,
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, do_convert_rgb=True,
    )
    images = [Image.open(p) for p in paths]
    pv = proc(images=images, return_tensors="pt")["pixel_values"]
    assert pv.dtype == torch.float32 and tuple(pv.shape) == (3, 3, size, size), pv.shape
    return pv.contiguous()


def tokenize():
    tok = CLIPTokenizer.from_pretrained(TOKENIZER_DIR)
    assert tok.bos_token_id == BOS_ID and tok.eos_token_id == EOS_ID, (tok.bos_token_id, tok.eos_token_id)
    enc = tok(CAPTIONS, padding="max_length", max_length=CONTEXT_LENGTH, truncation=True, return_tensors="pt")
    ids = enc["input_ids"].to(torch.int64)
    assert tuple(ids.shape) == (len(CAPTIONS), CONTEXT_LENGTH)
    assert (ids[:, 0] == BOS_ID).all()
    full = tok(CAPTIONS[-1])["input_ids"]
    assert len(full) > CONTEXT_LENGTH, len(full)
    assert ids[-1, -1] == EOS_ID
    for row in ids:  # every row has an eos, and everything after the first eos is padding (= eos)
        first = int((row == EOS_ID).nonzero()[0])
        assert (row[first:] == EOS_ID).all()
        assert int(row.argmax()) == first
    return tok, ids.contiguous()


# ----------------------------------------------------------------------------------------------
# weight perturbation

EMBEDDING_STD = {"token_embedding": 0.5, "class_embedding": 0.5, "positional_embedding": 0.3,
                 "position_embedding": 0.3}


def reinit(model, gen):
    """Variance-preserving re-initialisation of every weight matrix / kernel / embedding.

    The libraries' own inits are tuned for training (tiny residual branches, 0.02-std embeddings), which
    makes an untrained 2-layer ViT's class token nearly independent of the image. With fan-in scaled weights
    every sublayer contributes O(1) to the residual stream, so the embeddings depend on the inputs.
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = next((v for k, v in EMBEDDING_STD.items() if k in name), None)
            if std is None:
                if p.dim() < 2:
                    continue
                if name in ("visual.proj", "text_projection"):  # OpenAI layout [in, out], used as x @ proj
                    fan_in = p.shape[0]
                else:  # Linear [out, in], Conv [out, in, kh, kw], MHA in_proj_weight [3*W, W]
                    fan_in = int(np.prod(p.shape[1:]))
                std = fan_in ** -0.5
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def perturb(model, gen):
    """Adds noise to every parameter; sets norm affine params, biases and embeddings to clearly non-default values."""
    reinit(model, gen)
    with torch.no_grad():
        for name, p in model.named_parameters():
            def n(std):
                return torch.randn(p.shape, generator=gen) * std
            leaf = name.rsplit(".", 1)[-1]
            mod_name = name.rsplit(".", 1)[0] if "." in name else ""
            mod = model.get_submodule(mod_name) if mod_name else model
            is_norm = isinstance(mod, (torch.nn.LayerNorm, torch.nn.BatchNorm2d))
            if name.endswith("logit_scale"):
                p.fill_(math.log(1 / 0.07))
                p.add_(n(0.25))
            elif is_norm and leaf == "weight":
                p.copy_(1.0 + n(0.1))  # BN bn3 gammas are zero-initialised by open_clip: make them ~1
            elif is_norm and leaf == "bias":
                p.copy_(n(0.1))
            elif leaf.endswith("bias"):
                p.add_(n(0.05))
            elif "class_embedding" in name or "positional_embedding" in name or "position_embedding" in name:
                p.add_(n(0.1))
            else:
                p.add_(n(0.02))


def calibrate_and_perturb_bn(model, gen, size):
    """Sets BatchNorm running stats from a calibration batch (train-mode forward), then perturbs them."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    calib = torch.randn(8, 3, size, size, generator=gen)
    model.visual.train()
    with torch.no_grad():
        model.visual(calib)
    model.eval()
    with torch.no_grad():
        for m in bns:
            std = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(m.running_mean.shape, generator=gen) * 0.2 * std)
            m.running_var.mul_(torch.empty(m.running_var.shape).uniform_(0.6, 1.6, generator=gen))
            m.momentum = 0.1


# ----------------------------------------------------------------------------------------------
# hooks

class Recorder:
    def __init__(self):
        self.acts = {}
        self.handles = []

    def out(self, module, key, fn=None):
        def hook(_m, _inp, output):
            t = output[0] if isinstance(output, (tuple, list)) else output
            self.acts[key] = (fn(t) if fn else t).detach().clone()
        self.handles.append(module.register_forward_hook(hook))

    def inp(self, module, key, fn=None):
        def hook(_m, args):
            t = args[0]
            self.acts[key] = (fn(t) if fn else t).detach().clone()
        self.handles.append(module.register_forward_pre_hook(hook))

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []


def hook_hf(model, rec):
    vm, tm = model.vision_model, model.text_model
    rec.out(vm.embeddings, "act.vision.embeddings")
    rec.out(vm.pre_layrnorm, "act.vision.pre_ln")
    for i, layer in enumerate(vm.encoder.layers):
        rec.out(layer.self_attn, f"act.vision.blocks.{i}.attn")
        rec.inp(layer.mlp.fc2, f"act.vision.blocks.{i}.mlp")
        rec.out(layer, f"act.vision.blocks.{i}")
    rec.out(vm.post_layernorm, "act.vision.post_ln")
    rec.out(tm.embeddings, "act.text.embeddings")
    for i, layer in enumerate(tm.encoder.layers):
        rec.out(layer.self_attn, f"act.text.blocks.{i}.attn")
        rec.inp(layer.mlp.fc2, f"act.text.blocks.{i}.mlp")
        rec.out(layer, f"act.text.blocks.{i}")
    rec.out(tm.final_layer_norm, "act.text.final_ln")


def _bf(transformer):
    """open_clip transformers may run sequence-first: return a function mapping to batch-first."""
    return (lambda t: t) if transformer.batch_first else (lambda t: t.transpose(0, 1))


def hook_openai_text(model, rec):
    tr = model.transformer
    bf = _bf(tr)
    rec.inp(tr, "act.text.embeddings")  # Transformer.forward input is batch-first in every version
    for i, blk in enumerate(tr.resblocks):
        rec.out(blk.attn, f"act.text.blocks.{i}.attn", bf)
        rec.inp(blk.mlp.c_proj, f"act.text.blocks.{i}.mlp", bf)
        rec.out(blk, f"act.text.blocks.{i}", bf)
    rec.out(model.ln_final, "act.text.final_ln")


def hook_openai_vit(model, rec):
    v = model.visual
    bf = _bf(v.transformer)
    rec.inp(v.ln_pre, "act.vision.embeddings")
    rec.out(v.ln_pre, "act.vision.pre_ln")
    for i, blk in enumerate(v.transformer.resblocks):
        rec.out(blk.attn, f"act.vision.blocks.{i}.attn", bf)
        rec.inp(blk.mlp.c_proj, f"act.vision.blocks.{i}.mlp", bf)
        rec.out(blk, f"act.vision.blocks.{i}", bf)
    rec.out(v.ln_post, "act.vision.post_ln", lambda t: t[:, 0])  # ln_post runs on all tokens; keep the class token
    hook_openai_text(model, rec)


def hook_openai_rn(model, rec):
    v = model.visual
    rec.out(v.avgpool, "act.vision.stem")  # the stem's AvgPool2d(2), the last op of ModifiedResNet.stem
    for l in range(1, 5):
        for b, blk in enumerate(getattr(v, f"layer{l}")):
            rec.out(blk, f"act.vision.layer{l}.{b}")
    hook_openai_text(model, rec)


# ----------------------------------------------------------------------------------------------
# forward passes

def run_hf(model, pixel_values, input_ids):
    with torch.no_grad():
        img = model.get_image_features(pixel_values=pixel_values).pooler_output
        txt = model.get_text_features(input_ids=input_ids).pooler_output
        scale = model.logit_scale.exp()
    return img, txt, scale


def run_openai(model, pixel_values, input_ids):
    with torch.no_grad():
        img = model.encode_image(pixel_values, normalize=False)
        txt = model.encode_text(input_ids, normalize=False)
        scale = model.logit_scale.exp()
    return img, txt, scale


def logits(img, txt, scale):
    i = img / img.norm(dim=-1, keepdim=True)
    t = txt / txt.norm(dim=-1, keepdim=True)
    return scale * i @ t.T


def check_healthy(name, tensors):
    for k, t in tensors.items():
        assert t.dtype in (torch.float32, torch.int64), (k, t.dtype)
        if t.dtype == torch.float32:
            assert torch.isfinite(t).all(), f"{name}: non-finite values in {k}"
            assert t.abs().max() < 1e3, f"{name}: {k} is badly scaled (max {t.abs().max()})"
            assert t.std() > 1e-3, f"{name}: {k} is (nearly) constant"
    for key, n in (("output.image_embeds", 3), ("output.text_embeds", 5)):
        e = tensors[key]
        e = e / e.norm(dim=-1, keepdim=True)
        cos = e @ e.T
        off = cos[~torch.eye(n, dtype=torch.bool)]
        print(f"  {key}: norms {[round(float(x), 3) for x in tensors[key].norm(dim=-1)]}, "
              f"pairwise cos in [{off.min():.3f}, {off.max():.3f}]")
        assert off.max() < 0.98, f"{name}: {key} are degenerate (cos {off.max():.4f})"


def write_reference(name, model_dir, pixel_values, input_ids, img, txt, scale, acts):
    tensors = {
        "input.pixel_values": pixel_values,
        "input.input_ids": input_ids,
        "output.image_embeds": img,
        "output.text_embeds": txt,
        "output.logits_per_image": logits(img, txt, scale),
    }
    for k in sorted(acts):
        tensors[k] = acts[k]
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    check_healthy(name, tensors)
    save_file(tensors, os.path.join(model_dir, "reference.safetensors"))
    return tensors


def write_manifest(model_dir, **fields):
    with open(os.path.join(model_dir, "manifest.json"), "w") as f:
        json.dump(fields, f, indent=2, ensure_ascii=False)
        f.write("\n")


def act_shapes(tensors):
    return {k: list(v.shape) for k, v in tensors.items() if k.startswith("act.")}


def common_manifest(tok, image_size):
    return dict(
        image_size=image_size,
        projection_dim=EMBED_DIM,
        context_length=CONTEXT_LENGTH,
        vocab_size=VOCAB_SIZE,
        tokenizer=dict(bos_id=tok.bos_token_id, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                       padding="max_length", max_length=CONTEXT_LENGTH, truncation=True),
        captions=CAPTIONS,
        images=[f"images/{n}.png" for n in IMAGE_NAMES],
        preprocessing=dict(
            processor="transformers CLIPImageProcessorPil (PIL backend)",
            resize=f"shortest edge -> {image_size}, long edge int({image_size} * long / short), PIL BICUBIC on uint8",
            center_crop=f"{image_size}x{image_size}, top = (h - {image_size}) // 2, left = (w - {image_size}) // 2",
            rescale="1/255", image_mean=list(OPENAI_CLIP_MEAN), image_std=list(OPENAI_CLIP_STD),
        ),
        text_attention="causal mask only (no padding mask); padding positions are computed like any other token",
        layer_norm_eps=1e-5,
        activation="quick_gelu: x * sigmoid(1.702 * x)",
    )


# ----------------------------------------------------------------------------------------------
# models

def make_hf_vit(tok, image_paths, input_ids):
    name = "hf_vit"
    model_dir = os.path.join(OUT, name)
    os.makedirs(model_dir, exist_ok=True)
    torch.manual_seed(100)
    config = CLIPConfig(**HF_CFG)
    config._attn_implementation = "eager"
    model = CLIPModel(config).eval()
    perturb(model, torch.Generator().manual_seed(101))
    size = config.vision_config.image_size
    pixel_values = preprocess(image_paths, size)

    rec = Recorder()
    hook_hf(model, rec)
    img, txt, scale = run_hf(model, pixel_values, input_ids)
    rec.remove()
    tensors = write_reference(name, model_dir, pixel_values, input_ids, img, txt, scale, rec.acts)

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        shutil.copyfile(os.path.join(tmp, "model.safetensors"), os.path.join(model_dir, "model.safetensors"))
        shutil.copyfile(os.path.join(tmp, "config.json"), os.path.join(model_dir, "config.json"))
        # independent recomputation from the saved files
        again = CLIPModel.from_pretrained(tmp, attn_implementation="eager").eval()
        assert again.text_model.eos_token_id == EOS_ID
        rec2 = Recorder()
        hook_hf(again, rec2)
        img2, txt2, scale2 = run_hf(again, pixel_values, input_ids)
        rec2.remove()
    compare(name, tensors, img2, txt2, scale2, rec2.acts, tol=1e-6)

    sd = load_file(os.path.join(model_dir, "model.safetensors"))
    write_manifest(
        model_dir, model=name, kind="clip_vit", library=f"transformers {transformers.__version__}",
        naming="hf", weights="model.safetensors", config="config.json",
        **common_manifest(tok, size),
        logit_scale=model.logit_scale.item(), logit_scale_exp=scale.item(),
        pooling=dict(text=POOLING_TEXT["hf"],
                     vision="post_layernorm(last_hidden_state[:, 0]) @ visual_projection.weight.T"),
        act_shapes=act_shapes(tensors), weight_shapes={k: list(v.shape) for k, v in sorted(sd.items())},
    )
    return model, pixel_values


def make_openai(name, cfg, seed, tok, image_paths, input_ids):
    model_dir = os.path.join(OUT, name)
    os.makedirs(model_dir, exist_ok=True)
    torch.manual_seed(seed)
    model = OpenClipCLIP(**cfg).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    perturb(model, gen)
    resnet = isinstance(cfg["vision_cfg"]["layers"], (list, tuple))
    size = cfg["vision_cfg"]["image_size"]
    if resnet:
        calibrate_and_perturb_bn(model, gen, size)
    else:
        v = model.visual
        assert v.attn_pool is None and v.pool_type == "tok" and not v.final_ln_after_pool
        assert isinstance(v.ln_pre, torch.nn.LayerNorm) and v.proj is not None
    model.eval()
    pixel_values = preprocess(image_paths, size)

    rec = Recorder()
    (hook_openai_rn if resnet else hook_openai_vit)(model, rec)
    img, txt, scale = run_openai(model, pixel_values, input_ids)
    rec.remove()
    tensors = write_reference(name, model_dir, pixel_values, input_ids, img, txt, scale, rec.acts)

    full_sd = model.state_dict()
    dropped = [k for k, v in full_sd.items() if not isinstance(v, torch.Tensor) or k.endswith("num_batches_tracked")]
    assert "attn_mask" not in full_sd  # registered with persistent=False in open_clip 3.x
    sd = {k: v.detach().clone().contiguous() for k, v in full_sd.items() if k not in dropped}
    save_file(sd, os.path.join(model_dir, "model.safetensors"))
    with open(os.path.join(model_dir, "open_clip_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    # independent recomputation: fresh model from the JSON config + saved weights
    with open(os.path.join(model_dir, "open_clip_config.json")) as f:
        cfg2 = json.load(f)
    torch.manual_seed(12345)
    again = OpenClipCLIP(**cfg2).eval()
    missing, unexpected = again.load_state_dict(load_file(os.path.join(model_dir, "model.safetensors")), strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    rec2 = Recorder()
    (hook_openai_rn if resnet else hook_openai_vit)(again, rec2)
    img2, txt2, scale2 = run_openai(again, pixel_values, input_ids)
    rec2.remove()
    compare(name, tensors, img2, txt2, scale2, rec2.acts, tol=1e-6)
    if resnet:
        recompute_resnet(sd, tensors)

    bn_eps = sorted({m.eps for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)})
    ln_eps = sorted({m.eps for m in model.modules() if isinstance(m, torch.nn.LayerNorm)})
    extra = {}
    if resnet:
        extra["batchnorm_eps"] = bn_eps
        extra["attnpool_heads"] = model.visual.attnpool.num_heads
        extra["pooling_vision"] = ("attnpool: tokens = [mean over HxW] ++ HxW tokens (row-major), + positional_embedding, "
                                   "MHA with separate q/k/v/c_proj, output = token 0 (the mean token) after c_proj")
    else:
        extra["pooling_vision"] = "ln_post(x[:, 0]) @ visual.proj"
    write_manifest(
        model_dir, model=name, kind="clip_resnet" if resnet else "clip_vit",
        library=f"open_clip {open_clip.__version__}", naming="openai",
        weights="model.safetensors", config="open_clip_config.json",
        dropped_state_dict_keys=dropped, **common_manifest(tok, size), layer_norm_eps_found=ln_eps,
        logit_scale=model.logit_scale.item(), logit_scale_exp=scale.item(),
        pooling=dict(text=POOLING_TEXT["openai"], vision=extra.pop("pooling_vision")),
        **extra,
        act_shapes=act_shapes(tensors), weight_shapes={k: list(v.shape) for k, v in sorted(sd.items())},
    )
    return model, pixel_values


def compare(name, tensors, img, txt, scale, acts, tol):
    got = {"output.image_embeds": img, "output.text_embeds": txt, "output.logits_per_image": logits(img, txt, scale)}
    got.update(acts)
    assert set(k for k in tensors if not k.startswith("input.")) == set(got), name
    worst = 0.0
    for k, v in got.items():
        d = float((tensors[k] - v).abs().max())
        worst = max(worst, d)
        assert d <= tol, f"{name}: {k} differs by {d} after reload"
    print(f"  reload check ok (max abs diff {worst:.2e})")


def recompute_resnet(sd, ref, bn_eps=1e-5):
    """Plain-functional recomputation of the ModifiedResNet tower + attention pool from the saved weights."""
    def bn(x, p):
        return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"],
                            training=False, eps=bn_eps)

    def conv(x, p, stride=1, padding=0):
        return F.conv2d(x, sd[f"{p}.weight"], stride=stride, padding=padding)

    x = ref["input.pixel_values"]
    x = F.relu(bn(conv(x, "visual.conv1", stride=2, padding=1), "visual.bn1"))
    x = F.relu(bn(conv(x, "visual.conv2", padding=1), "visual.bn2"))
    x = F.relu(bn(conv(x, "visual.conv3", padding=1), "visual.bn3"))
    x = F.avg_pool2d(x, 2)
    got = {"act.vision.stem": x}
    for l in range(1, 5):
        b = 0
        while f"visual.layer{l}.{b}.conv1.weight" in sd:
            p = f"visual.layer{l}.{b}"
            stride = 2 if (l > 1 and b == 0) else 1
            out = F.relu(bn(conv(x, f"{p}.conv1"), f"{p}.bn1"))
            out = F.relu(bn(conv(out, f"{p}.conv2", padding=1), f"{p}.bn2"))
            if stride > 1:
                out = F.avg_pool2d(out, stride)
            out = bn(conv(out, f"{p}.conv3"), f"{p}.bn3")
            identity = x
            if f"{p}.downsample.0.weight" in sd:
                identity = F.avg_pool2d(x, stride) if stride > 1 else x
                identity = bn(conv(identity, f"{p}.downsample.0"), f"{p}.downsample.1")
            x = F.relu(out + identity)
            got[f"act.vision.layer{l}.{b}"] = x
            b += 1
    # attention pool: tokens [mean, hw...] + pos, C/16 heads, output = token 0 after c_proj
    B, C, H, W = x.shape
    t = x.reshape(B, C, H * W).permute(0, 2, 1)
    t = torch.cat([t.mean(dim=1, keepdim=True), t], dim=1) + sd["visual.attnpool.positional_embedding"]
    heads = C // 16

    def lin(z, n):
        return z @ sd[f"visual.attnpool.{n}.weight"].T + sd[f"visual.attnpool.{n}.bias"]
    q, k, v = (lin(t, n).reshape(B, -1, heads, C // heads).transpose(1, 2) for n in ("q_proj", "k_proj", "v_proj"))
    a = torch.softmax((q * (C // heads) ** -0.5) @ k.transpose(-1, -2), dim=-1) @ v
    a = a.transpose(1, 2).reshape(B, -1, C)
    got["output.image_embeds"] = lin(a, "c_proj")[:, 0]
    worst = max(float((ref[k] - v).abs().max() / (1 + ref[k].abs().max())) for k, v in got.items())
    assert worst < 1e-5, worst
    print(f"  functional ResNet/attnpool recomputation ok (max rel diff {worst:.2e})")


def openai_vit_to_hf(sd, model_hf):
    """Maps OpenAI-named ViT CLIP weights to transformers naming (cross-checks the two references)."""
    out = {}

    def tower(src, dst, n_layers):
        for i in range(n_layers):
            s, d = f"{src}.resblocks.{i}", f"{dst}.encoder.layers.{i}"
            q, k, v = sd[f"{s}.attn.in_proj_weight"].chunk(3, dim=0)
            qb, kb, vb = sd[f"{s}.attn.in_proj_bias"].chunk(3, dim=0)
            out.update({
                f"{d}.self_attn.q_proj.weight": q, f"{d}.self_attn.k_proj.weight": k, f"{d}.self_attn.v_proj.weight": v,
                f"{d}.self_attn.q_proj.bias": qb, f"{d}.self_attn.k_proj.bias": kb, f"{d}.self_attn.v_proj.bias": vb,
                f"{d}.self_attn.out_proj.weight": sd[f"{s}.attn.out_proj.weight"],
                f"{d}.self_attn.out_proj.bias": sd[f"{s}.attn.out_proj.bias"],
                f"{d}.layer_norm1.weight": sd[f"{s}.ln_1.weight"], f"{d}.layer_norm1.bias": sd[f"{s}.ln_1.bias"],
                f"{d}.layer_norm2.weight": sd[f"{s}.ln_2.weight"], f"{d}.layer_norm2.bias": sd[f"{s}.ln_2.bias"],
                f"{d}.mlp.fc1.weight": sd[f"{s}.mlp.c_fc.weight"], f"{d}.mlp.fc1.bias": sd[f"{s}.mlp.c_fc.bias"],
                f"{d}.mlp.fc2.weight": sd[f"{s}.mlp.c_proj.weight"], f"{d}.mlp.fc2.bias": sd[f"{s}.mlp.c_proj.bias"],
            })

    tower("visual.transformer", "vision_model", 2)
    tower("transformer", "text_model", 2)
    out.update({
        "vision_model.embeddings.class_embedding": sd["visual.class_embedding"],
        "vision_model.embeddings.position_embedding.weight": sd["visual.positional_embedding"],
        "vision_model.embeddings.patch_embedding.weight": sd["visual.conv1.weight"],
        "vision_model.pre_layrnorm.weight": sd["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": sd["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": sd["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": sd["visual.ln_post.bias"],
        "visual_projection.weight": sd["visual.proj"].T,
        "text_model.embeddings.token_embedding.weight": sd["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": sd["positional_embedding"],
        "text_model.final_layer_norm.weight": sd["ln_final.weight"],
        "text_model.final_layer_norm.bias": sd["ln_final.bias"],
        "text_projection.weight": sd["text_projection"].T,
        "logit_scale": sd["logit_scale"],
    })
    missing, unexpected = model_hf.load_state_dict({k: v.contiguous() for k, v in out.items()}, strict=False)
    assert not unexpected and not [k for k in missing if not k.endswith("position_ids")], (missing, unexpected)


def cross_check_openai_vit(tok):
    """Loads openai_vit weights into a transformers CLIPModel and checks it reproduces the open_clip reference."""
    d = os.path.join(OUT, "openai_vit")
    sd = load_file(os.path.join(d, "model.safetensors"))
    ref = load_file(os.path.join(d, "reference.safetensors"))
    cfg = json.loads(json.dumps(HF_CFG))
    cfg["vision_config"].update(hidden_size=48, intermediate_size=192)
    config = CLIPConfig(**cfg)
    config._attn_implementation = "eager"
    hf = CLIPModel(config).eval()
    openai_vit_to_hf(sd, hf)
    rec = Recorder()
    hook_hf(hf, rec)
    img, txt, scale = run_hf(hf, ref["input.pixel_values"], ref["input.input_ids"])
    rec.remove()
    got = {"output.image_embeds": img, "output.text_embeds": txt, "output.logits_per_image": logits(img, txt, scale)}
    got.update(rec.acts)
    worst = max(float((ref[k] - v).abs().max()) for k, v in got.items())
    assert set(got) == set(k for k in ref if not k.startswith("input.")), sorted(set(got) ^ set(ref))
    assert worst < 1e-4, worst
    print(f"  openai_vit weights in transformers CLIPModel reproduce the open_clip reference "
          f"(max abs diff {worst:.2e}, all outputs and act.* keys)")


def main():
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    image_paths = []
    for n, im in make_images().items():
        p = os.path.join(OUT, "images", f"{n}.png")
        im.save(p, format="PNG")
        image_paths.append(p)
    assert [os.path.basename(p)[:-4] for p in image_paths] == IMAGE_NAMES

    tok, input_ids = tokenize()
    print(f"tokenizer: bos={tok.bos_token_id} eos={tok.eos_token_id} pad={tok.pad_token_id}")

    print("hf_vit")
    make_hf_vit(tok, image_paths, input_ids)
    print("openai_rn")
    make_openai("openai_rn", OPENAI_RN_CFG, 200, tok, image_paths, input_ids)
    print("openai_vit")
    make_openai("openai_vit", OPENAI_VIT_CFG, 300, tok, image_paths, input_ids)
    cross_check_openai_vit(tok)

    total = 0
    for sub in ["images", "hf_vit", "openai_rn", "openai_vit", "tokenizer"]:
        for f in sorted(os.listdir(os.path.join(OUT, sub))):
            s = os.path.getsize(os.path.join(OUT, sub, f))
            total += s
            print(f"  {sub}/{f}: {s / 1024:.1f} KiB")
    print(f"total fixture size: {total / 1024 / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
