//! OpenAI's modified ResNet image tower (RN50, RN50x4, ...): a 3-conv stem, anti-aliased
//! bottlenecks that downsample by average pooling, and attention pooling at the top.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::PaddedConvOptions;
use burn::tensor::{Tensor, backend::Backend};

use crate::capture::Capture;
use crate::config::ResNetConfig;
use crate::error::Result;
use crate::layers::Loader;
use crate::weights::HostTensor;

/// BatchNorm epsilon used by OpenAI's ResNet (PyTorch's default).
pub(crate) const BN_EPS: f32 = 1e-5;

/// Inference-time BatchNorm folded into a per-channel scale and shift.
#[derive(Module, Debug)]
pub struct ChannelAffine<B: Backend> {
    /// Multiplier per channel: `gamma / sqrt(var + eps)`.
    pub scale: Param<Tensor<B, 1>>,
    /// Offset per channel: `beta - mean * scale`.
    pub shift: Param<Tensor<B, 1>>,
}

impl<B: Backend> ChannelAffine<B> {
    fn load(ld: &mut Loader<'_, B>, prefix: &str, c: usize) -> Result<Self> {
        let gamma = ld.store.take(&format!("{prefix}.weight"), &[c])?;
        let beta = ld.store.take(&format!("{prefix}.bias"), &[c])?;
        let mean = ld.store.take(&format!("{prefix}.running_mean"), &[c])?;
        let var = ld.store.take(&format!("{prefix}.running_var"), &[c])?;
        let scale: Vec<f32> = gamma
            .data
            .iter()
            .zip(&var.data)
            .map(|(g, v)| g / (v + BN_EPS).sqrt())
            .collect();
        let shift: Vec<f32> = beta
            .data
            .iter()
            .zip(&mean.data)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Ok(Self {
            scale: Param::from_tensor(HostTensor::new(vec![c], scale).to_tensor(ld.device)),
            shift: Param::from_tensor(HostTensor::new(vec![c], shift).to_tensor(ld.device)),
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let c = x.dims()[1];
        x * self.scale.val().reshape([1, c, 1, 1]) + self.shift.val().reshape([1, c, 1, 1])
    }
}

/// A conv followed by its (folded) BatchNorm.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    /// The convolution (no bias).
    pub conv: Conv2d<B>,
    /// The folded BatchNorm.
    pub bn: ChannelAffine<B>,
}

impl<B: Backend> ConvBn<B> {
    #[allow(clippy::too_many_arguments)]
    fn load(
        ld: &mut Loader<'_, B>,
        conv: &str,
        bn: &str,
        c_in: usize,
        c_out: usize,
        k: usize,
        pad: usize,
    ) -> Result<Self> {
        Ok(Self {
            conv: ld.conv(conv, c_in, c_out, k, 1, pad, false)?,
            bn: ChannelAffine::load(ld, bn, c_out)?,
        })
    }

    /// The conv with its BatchNorm folded into its kernel and bias: the same function as
    /// `bn(conv(x))`, but without a per-channel broadcast over the whole map, whose backward
    /// pass costs a training step as much as a 1x1 convolution does.
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let conv = &self.conv;
        // The loader builds every conv with explicit padding; anything else runs unfolded.
        let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else {
            return self.bn.forward(conv.forward(x));
        };
        let c = self.bn.scale.dims()[0];
        let weight = conv.weight.val() * self.bn.scale.val().reshape([c, 1, 1, 1]);
        let options = PaddedConvOptions::asymmetric(
            conv.stride,
            [top, left],
            [bottom, right],
            conv.dilation,
            conv.groups,
        );
        conv2d(x, weight, Some(self.bn.shift.val()), options)
    }
}

fn pool<B: Backend>(x: Tensor<B, 4>, k: usize) -> Tensor<B, 4> {
    if k > 1 {
        avg_pool2d(x, [k, k], [k, k], [0, 0], true, false)
    } else {
        x
    }
}

/// A bottleneck block whose stride is an average pool after the 3x3 conv.
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    /// 1x1 reduce.
    pub c1: ConvBn<B>,
    /// 3x3.
    pub c2: ConvBn<B>,
    /// 1x1 expand (x4).
    pub c3: ConvBn<B>,
    /// Shortcut: avg-pool then 1x1 conv + BN, where the shape changes.
    pub downsample: Option<ConvBn<B>>,
    /// Downsampling factor.
    pub stride: usize,
}

impl<B: Backend> Bottleneck<B> {
    fn load(
        ld: &mut Loader<'_, B>,
        prefix: &str,
        inplanes: usize,
        planes: usize,
        stride: usize,
    ) -> Result<Self> {
        let p = |s: &str| format!("{prefix}.{s}");
        let out = planes * 4;
        let downsample = if stride > 1 || inplanes != out {
            Some(ConvBn::load(
                ld,
                &p("downsample.0"),
                &p("downsample.1"),
                inplanes,
                out,
                1,
                0,
            )?)
        } else {
            None
        };
        Ok(Self {
            c1: ConvBn::load(ld, &p("conv1"), &p("bn1"), inplanes, planes, 1, 0)?,
            c2: ConvBn::load(ld, &p("conv2"), &p("bn2"), planes, planes, 3, 1)?,
            c3: ConvBn::load(ld, &p("conv3"), &p("bn3"), planes, out, 1, 0)?,
            downsample,
            stride,
        })
    }

    /// The block's output before its final ReLU (the caller applies it, see
    /// [`Capture::rectify_map`]).
    fn pre_activation(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let out = relu(self.c1.forward(x.clone()));
        let out = relu(self.c2.forward(out));
        let out = self.c3.forward(pool(out, self.stride));
        let identity = match &self.downsample {
            Some(ds) => ds.forward(pool(x, self.stride)),
            None => x,
        };
        out + identity
    }
}

/// Attention pooling: the mean token attends over all positions; its output is the embedding.
#[derive(Module, Debug)]
pub struct AttentionPool<B: Backend> {
    /// Positional embedding `[1 + h*w, embed]`.
    pub position: Param<Tensor<B, 2>>,
    /// Query projection.
    pub q: Linear<B>,
    /// Key projection.
    pub k: Linear<B>,
    /// Value projection.
    pub v: Linear<B>,
    /// Output projection into the joint space.
    pub c: Linear<B>,
    /// Heads.
    pub heads: usize,
}

impl<B: Backend> AttentionPool<B> {
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let [b, c, h, w] = x.dims();
        let tokens = x.reshape([b, c, h * w]).swap_dims(1, 2);
        let mean = tokens.clone().mean_dim(1);
        let x = Tensor::cat(vec![mean, tokens], 1) + self.position.val().unsqueeze::<3>();
        let t = h * w + 1;
        let hd = c / self.heads;
        let q = self.q.forward(x.clone().slice([0..b, 0..1, 0..c])) * (hd as f64).powf(-0.5);
        let q = q.reshape([b, 1, self.heads, hd]).swap_dims(1, 2);
        let k = self
            .k
            .forward(x.clone())
            .reshape([b, t, self.heads, hd])
            .swap_dims(1, 2);
        let v = self
            .v
            .forward(x)
            .reshape([b, t, self.heads, hd])
            .swap_dims(1, 2);
        let attn = softmax(q.matmul(k.swap_dims(2, 3)), 3);
        let y = attn.matmul(v).swap_dims(1, 2).reshape([b, c]);
        self.c.forward(y)
    }
}

/// The modified ResNet tower.
#[derive(Module, Debug)]
pub struct ModifiedResNet<B: Backend> {
    /// The three stem convolutions with their BatchNorms.
    pub stem: Vec<ConvBn<B>>,
    /// Four stages of bottlenecks.
    pub stages: Vec<Vec<Bottleneck<B>>>,
    /// Attention pooling and projection.
    pub attnpool: AttentionPool<B>,
    #[module(skip)]
    config: ResNetConfig,
}

impl<B: Backend> ModifiedResNet<B> {
    /// Builds the tower from OpenAI-named tensors (`visual.conv1.weight`, `visual.layer1.0...`).
    pub fn load(cfg: &ResNetConfig, projection_dim: usize, ld: &mut Loader<'_, B>) -> Result<Self> {
        let w = cfg.width;
        let mut stem = Vec::new();
        let stem_conv = |ld: &mut Loader<'_, B>,
                         i: usize,
                         c_in: usize,
                         c_out: usize,
                         stride: usize|
         -> Result<ConvBn<B>> {
            Ok(ConvBn {
                conv: ld.conv(&format!("visual.conv{i}"), c_in, c_out, 3, stride, 1, false)?,
                bn: ChannelAffine::load(ld, &format!("visual.bn{i}"), c_out)?,
            })
        };
        stem.push(stem_conv(ld, 1, 3, w / 2, 2)?);
        stem.push(stem_conv(ld, 2, w / 2, w / 2, 1)?);
        stem.push(stem_conv(ld, 3, w / 2, w, 1)?);
        let mut inplanes = w;
        let mut stages = Vec::new();
        for (s, &depth) in cfg.layers.iter().enumerate() {
            let planes = w << s;
            let stride = if s == 0 { 1 } else { 2 };
            let mut blocks = Vec::new();
            for bi in 0..depth {
                let prefix = format!("visual.layer{}.{bi}", s + 1);
                blocks.push(Bottleneck::load(
                    ld,
                    &prefix,
                    inplanes,
                    planes,
                    if bi == 0 { stride } else { 1 },
                )?);
                inplanes = planes * 4;
            }
            stages.push(blocks);
        }
        let embed = cfg.embed_dim();
        let side = cfg.image_size / 32;
        let a = "visual.attnpool";
        let attnpool = AttentionPool {
            position: ld.param(
                &format!("{a}.positional_embedding"),
                [side * side + 1, embed],
            )?,
            q: ld.linear(&format!("{a}.q_proj"), embed, embed, true)?,
            k: ld.linear(&format!("{a}.k_proj"), embed, embed, true)?,
            v: ld.linear(&format!("{a}.v_proj"), embed, embed, true)?,
            c: ld.linear(&format!("{a}.c_proj"), embed, projection_dim, true)?,
            heads: cfg.heads,
        };
        Ok(Self {
            stem,
            stages,
            attnpool,
            config: cfg.clone(),
        })
    }

    /// The architecture this tower was built with.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// Layer names in forward order.
    pub fn layer_names(&self) -> Vec<String> {
        let mut names = vec!["vision.stem".to_string()];
        for (s, blocks) in self.stages.iter().enumerate() {
            for b in 0..blocks.len() {
                names.push(format!("vision.layer{}.{b}", s + 1));
            }
        }
        names.push("vision.embeds".to_string());
        names
    }

    /// Embeds normalized images into the joint space, recording requested layers.
    pub fn forward(&self, images: Tensor<B, 4>, cap: &mut Capture<B>) -> Option<Tensor<B, 2>> {
        let mut x = images;
        for cb in &self.stem {
            x = relu(cb.forward(x));
        }
        x = cap.edit_map("vision.stem", pool(x, 2));
        cap.map("vision.stem", &x);
        for (s, blocks) in self.stages.iter().enumerate() {
            for (b, block) in blocks.iter().enumerate() {
                if cap.is_complete() {
                    return None;
                }
                let name = format!("vision.layer{}.{b}", s + 1);
                let out = cap.rectify_map(&name, block.pre_activation(x));
                x = cap.edit_map(&name, out);
                cap.map(&name, &x);
            }
        }
        if cap.is_complete() {
            return None;
        }
        let embeds = cap.edit_pooled("vision.embeds", self.attnpool.forward(x));
        cap.pooled("vision.embeds", &embeds);
        Some(embeds)
    }
}
