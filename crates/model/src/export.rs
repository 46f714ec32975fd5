//! The reverse of loading: a model's weights as a canonical-named store, so trained or edited
//! models can be written as bundles or safetensors.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Tensor, backend::Backend};

use crate::clip::Clip;
use crate::layers::Block;
use crate::resnet::{ChannelAffine, ConvBn};
use crate::weights::{HostTensor, WeightStore};

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> HostTensor {
    let data = t.into_data().convert::<f32>();
    let shape = data.shape.to_vec();
    HostTensor::new(shape, data.into_vec().expect("f32 weights"))
}

fn put<B: Backend, const D: usize>(store: &mut WeightStore, name: &str, p: &Param<Tensor<B, D>>) {
    store.insert(name, host(p.val()));
}

fn linear<B: Backend>(store: &mut WeightStore, prefix: &str, l: &Linear<B>) {
    // burn keeps [in, out]; checkpoints keep PyTorch's [out, in].
    store.insert(
        format!("{prefix}.weight"),
        host(l.weight.val()).transposed(),
    );
    if let Some(b) = &l.bias {
        put(store, &format!("{prefix}.bias"), b);
    }
}

fn layer_norm<B: Backend>(store: &mut WeightStore, prefix: &str, ln: &LayerNorm<B>) {
    put(store, &format!("{prefix}.weight"), &ln.gamma);
    if let Some(beta) = &ln.beta {
        put(store, &format!("{prefix}.bias"), beta);
    }
}

fn block<B: Backend>(store: &mut WeightStore, prefix: &str, b: &Block<B>) {
    layer_norm(store, &format!("{prefix}.layer_norm1"), &b.ln1);
    layer_norm(store, &format!("{prefix}.layer_norm2"), &b.ln2);
    for (name, l) in [
        ("q_proj", &b.attn.q),
        ("k_proj", &b.attn.k),
        ("v_proj", &b.attn.v),
        ("out_proj", &b.attn.out),
    ] {
        linear(store, &format!("{prefix}.self_attn.{name}"), l);
    }
    linear(store, &format!("{prefix}.mlp.fc1"), &b.mlp.fc1);
    linear(store, &format!("{prefix}.mlp.fc2"), &b.mlp.fc2);
}

/// A folded BatchNorm written back as one with unit variance and zero mean (exact:
/// `scale = weight / sqrt(var + eps)` with `var = 1 - eps`).
fn batch_norm<B: Backend>(store: &mut WeightStore, prefix: &str, bn: &ChannelAffine<B>) {
    let scale = host(bn.scale.val());
    let c = scale.numel();
    store.insert(format!("{prefix}.weight"), scale);
    put(store, &format!("{prefix}.bias"), &bn.shift);
    store.insert(
        format!("{prefix}.running_mean"),
        HostTensor::new(vec![c], vec![0.0; c]),
    );
    store.insert(
        format!("{prefix}.running_var"),
        HostTensor::new(vec![c], vec![1.0 - crate::resnet::BN_EPS; c]),
    );
}

fn conv_bn<B: Backend>(store: &mut WeightStore, conv: &str, bn: &str, cb: &ConvBn<B>) {
    put(store, &format!("{conv}.weight"), &cb.conv.weight);
    batch_norm(store, bn, &cb.bn);
}

impl<B: Backend> Clip<B> {
    /// Every weight under the canonical names [`Clip::from_store`] reads.
    pub fn to_store(&self) -> WeightStore {
        let mut s = WeightStore::new();
        if let Some(v) = &self.vit {
            let e = "vision_model.embeddings";
            put(
                &mut s,
                &format!("{e}.patch_embedding.weight"),
                &v.patch.weight,
            );
            put(&mut s, &format!("{e}.class_embedding"), &v.class_embedding);
            put(
                &mut s,
                &format!("{e}.position_embedding.weight"),
                &v.position,
            );
            layer_norm(&mut s, "vision_model.pre_layrnorm", &v.pre_ln);
            for (i, b) in v.blocks.iter().enumerate() {
                block(&mut s, &format!("vision_model.encoder.layers.{i}"), b);
            }
            layer_norm(&mut s, "vision_model.post_layernorm", &v.post_ln);
            linear(&mut s, "visual_projection", &v.projection);
        }
        if let Some(r) = &self.resnet {
            for (i, cb) in r.stem.iter().enumerate() {
                conv_bn(
                    &mut s,
                    &format!("visual.conv{}", i + 1),
                    &format!("visual.bn{}", i + 1),
                    cb,
                );
            }
            for (st, blocks) in r.stages.iter().enumerate() {
                for (bi, b) in blocks.iter().enumerate() {
                    let p = format!("visual.layer{}.{bi}", st + 1);
                    conv_bn(&mut s, &format!("{p}.conv1"), &format!("{p}.bn1"), &b.c1);
                    conv_bn(&mut s, &format!("{p}.conv2"), &format!("{p}.bn2"), &b.c2);
                    conv_bn(&mut s, &format!("{p}.conv3"), &format!("{p}.bn3"), &b.c3);
                    if let Some(ds) = &b.downsample {
                        conv_bn(
                            &mut s,
                            &format!("{p}.downsample.0"),
                            &format!("{p}.downsample.1"),
                            ds,
                        );
                    }
                }
            }
            let a = "visual.attnpool";
            put(
                &mut s,
                &format!("{a}.positional_embedding"),
                &r.attnpool.position,
            );
            for (name, l) in [
                ("q_proj", &r.attnpool.q),
                ("k_proj", &r.attnpool.k),
                ("v_proj", &r.attnpool.v),
                ("c_proj", &r.attnpool.c),
            ] {
                linear(&mut s, &format!("{a}.{name}"), l);
            }
        }
        let t = &self.text;
        let e = "text_model.embeddings";
        put(
            &mut s,
            &format!("{e}.token_embedding.weight"),
            &t.token.weight,
        );
        put(
            &mut s,
            &format!("{e}.position_embedding.weight"),
            &t.position,
        );
        for (i, b) in t.blocks.iter().enumerate() {
            block(&mut s, &format!("text_model.encoder.layers.{i}"), b);
        }
        layer_norm(&mut s, "text_model.final_layer_norm", &t.final_ln);
        linear(&mut s, "text_projection", &t.projection);
        put(&mut s, "logit_scale", &self.logit_scale);
        s
    }
}
