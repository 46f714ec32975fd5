//! Building blocks shared by the towers, and the loader that fills them from a weight store.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear, PaddingConfig2d};
use burn::tensor::activation::{gelu, sigmoid, softmax};
use burn::tensor::{Tensor, backend::Backend};

use crate::config::Act;
use crate::error::Result;
use crate::weights::{HostTensor, WeightStore};

/// Applies the configured MLP non-linearity.
pub fn activate<B: Backend, const D: usize>(act: Act, x: Tensor<B, D>) -> Tensor<B, D> {
    match act {
        Act::QuickGelu => x.clone() * sigmoid(x * 1.702),
        Act::Gelu => gelu(x),
    }
}

/// Multi-head self-attention with separate q/k/v projections (Hugging Face layout).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection.
    pub q: Linear<B>,
    /// Key projection.
    pub k: Linear<B>,
    /// Value projection.
    pub v: Linear<B>,
    /// Output projection.
    pub out: Linear<B>,
    /// Number of heads.
    pub heads: usize,
}

impl<B: Backend> Attention<B> {
    /// Attends `x` `[batch, tokens, width]` to itself, with an optional additive mask
    /// `[tokens, tokens]` (large negative where attention is forbidden).
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 2>>) -> Tensor<B, 3> {
        let [b, t, w] = x.dims();
        let hd = w / self.heads;
        let split = |y: Tensor<B, 3>| y.reshape([b, t, self.heads, hd]).swap_dims(1, 2);
        let scale = (hd as f64).powf(-0.5);
        let q = split(self.q.forward(x.clone()) * scale);
        let k = split(self.k.forward(x.clone()));
        let v = split(self.v.forward(x));
        let mut scores = q.matmul(k.swap_dims(2, 3));
        if let Some(mask) = mask {
            scores = scores + mask.unsqueeze::<4>();
        }
        let attn = softmax(scores, 3);
        let y = attn.matmul(v).swap_dims(1, 2).reshape([b, t, w]);
        self.out.forward(y)
    }
}

/// Transformer MLP: expand, non-linearity, project back.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Expanding projection.
    pub fc1: Linear<B>,
    /// Contracting projection.
    pub fc2: Linear<B>,
}

/// A pre-LayerNorm residual attention block, as in CLIP's both towers.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Norm before attention.
    pub ln1: LayerNorm<B>,
    /// Self-attention.
    pub attn: Attention<B>,
    /// Norm before the MLP.
    pub ln2: LayerNorm<B>,
    /// The MLP.
    pub mlp: Mlp<B>,
}

/// The intermediate values of one block, for activation capture.
pub struct BlockOutput<B: Backend> {
    /// Attention sublayer output (before the residual add).
    pub attn: Tensor<B, 3>,
    /// MLP hidden units after the non-linearity.
    pub hidden: Tensor<B, 3>,
    /// Residual stream after the block.
    pub out: Tensor<B, 3>,
}

/// A sublayer of a block whose output an intervention may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sublayer {
    /// The attention output, before the residual add.
    Attn,
    /// The MLP hidden units, after the non-linearity and before the contracting projection.
    Mlp,
}

impl<B: Backend> Block<B> {
    /// Runs the block, returning the sublayer values too.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 2>>, act: Act) -> BlockOutput<B> {
        self.forward_edited(x, mask, |pre| activate(act, pre), |_, t| t)
    }

    /// Runs the block with `nonlinearity` as its MLP's, passing each sublayer's value through
    /// `edit` before it is used (lesions); the returned sublayer values are the edited ones.
    pub fn forward_edited(
        &self,
        x: Tensor<B, 3>,
        mask: Option<Tensor<B, 2>>,
        nonlinearity: impl FnOnce(Tensor<B, 3>) -> Tensor<B, 3>,
        mut edit: impl FnMut(Sublayer, Tensor<B, 3>) -> Tensor<B, 3>,
    ) -> BlockOutput<B> {
        let attn = edit(
            Sublayer::Attn,
            self.attn.forward(self.ln1.forward(x.clone()), mask),
        );
        let x = x + attn.clone();
        let hidden = edit(
            Sublayer::Mlp,
            nonlinearity(self.mlp.fc1.forward(self.ln2.forward(x.clone()))),
        );
        let out = x + self.mlp.fc2.forward(hidden.clone());
        BlockOutput { attn, hidden, out }
    }
}

/// Fills modules from a [`WeightStore`], converting PyTorch layouts to burn's.
pub struct Loader<'a, B: Backend> {
    /// Where tensors come from; each is removed as it is used.
    pub store: &'a mut WeightStore,
    /// Where tensors go.
    pub device: &'a B::Device,
}

impl<B: Backend> Loader<'_, B> {
    /// A tensor of rank `D` with the given shape.
    pub fn tensor<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Tensor<B, D>> {
        Ok(self.store.take(name, &shape)?.to_tensor(self.device))
    }

    /// A trainable parameter of rank `D` with the given shape.
    pub fn param<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Param<Tensor<B, D>>> {
        Ok(Param::from_tensor(self.tensor(name, shape)?))
    }

    /// A linear layer stored PyTorch-style as `{prefix}.weight` `[out, in]` and `{prefix}.bias`.
    pub fn linear(
        &mut self,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear<B>> {
        let w = self
            .store
            .take(&format!("{prefix}.weight"), &[d_out, d_in])?;
        self.linear_from(w, bias.then(|| format!("{prefix}.bias")).as_deref(), d_out)
    }

    /// A linear layer from an already taken `[out, in]` weight and an optional bias name.
    pub fn linear_from(
        &mut self,
        weight: HostTensor,
        bias: Option<&str>,
        d_out: usize,
    ) -> Result<Linear<B>> {
        let bias = match bias {
            Some(name) => Some(self.param(name, [d_out])?),
            None => None,
        };
        Ok(Linear {
            weight: Param::from_tensor(weight.transposed().to_tensor(self.device)),
            bias,
        })
    }

    /// A linear layer from host tensors (weight `[out, in]`, bias `[out]`).
    pub fn linear_host(&self, weight: HostTensor, bias: Option<HostTensor>) -> Linear<B> {
        Linear {
            weight: Param::from_tensor(weight.transposed().to_tensor(self.device)),
            bias: bias.map(|b| Param::from_tensor(b.to_tensor(self.device))),
        }
    }

    /// A LayerNorm stored as `{prefix}.weight` and `{prefix}.bias`.
    pub fn layer_norm(&mut self, prefix: &str, d: usize, eps: f64) -> Result<LayerNorm<B>> {
        let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(self.device);
        ln.gamma = self.param(&format!("{prefix}.weight"), [d])?;
        ln.beta = Some(self.param(&format!("{prefix}.bias"), [d])?);
        Ok(ln)
    }

    /// An embedding table `[n, d]`.
    pub fn embedding(&mut self, name: &str, n: usize, d: usize) -> Result<Embedding<B>> {
        Ok(Embedding {
            weight: self.param(name, [n, d])?,
        })
    }

    /// A square-kernel convolution stored as `{prefix}.weight` `[out, in, k, k]`.
    #[allow(clippy::too_many_arguments)] // mirrors the PyTorch constructor one to one
    pub fn conv(
        &mut self,
        prefix: &str,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        pad: usize,
        bias: bool,
    ) -> Result<Conv2d<B>> {
        let weight = self.param(&format!("{prefix}.weight"), [c_out, c_in, k, k])?;
        let bias = if bias {
            Some(self.param(&format!("{prefix}.bias"), [c_out])?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            stride: [stride, stride],
            kernel_size: [k, k],
            dilation: [1, 1],
            groups: 1,
            padding: PaddingConfig2d::Explicit(pad, pad, pad, pad),
        })
    }

    /// A residual attention block in Hugging Face naming (`{prefix}.self_attn.q_proj`, ...).
    pub fn block(
        &mut self,
        prefix: &str,
        width: usize,
        mlp: usize,
        heads: usize,
        eps: f64,
    ) -> Result<Block<B>> {
        let p = |s: &str| format!("{prefix}.{s}");
        Ok(Block {
            ln1: self.layer_norm(&p("layer_norm1"), width, eps)?,
            attn: Attention {
                q: self.linear(&p("self_attn.q_proj"), width, width, true)?,
                k: self.linear(&p("self_attn.k_proj"), width, width, true)?,
                v: self.linear(&p("self_attn.v_proj"), width, width, true)?,
                out: self.linear(&p("self_attn.out_proj"), width, width, true)?,
                heads,
            },
            ln2: self.layer_norm(&p("layer_norm2"), width, eps)?,
            mlp: Mlp {
                fc1: self.linear(&p("mlp.fc1"), width, mlp, true)?,
                fc2: self.linear(&p("mlp.fc2"), mlp, width, true)?,
            },
        })
    }
}
