//! The causal text transformer tower.

use burn::module::{Module, Param};
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::capture::Capture;
use crate::config::TextConfig;
use crate::error::{ModelError, Result};
use crate::layers::{Block, Loader, Sublayer, activate};

/// Text transformer: token + position embeddings, causal blocks, pooling at end-of-text.
#[derive(Module, Debug)]
pub struct TextTransformer<B: Backend> {
    /// Token embedding table `[vocab, width]`.
    pub token: Embedding<B>,
    /// Positional embedding `[context, width]`.
    pub position: Param<Tensor<B, 2>>,
    /// The blocks.
    pub blocks: Vec<Block<B>>,
    /// Final LayerNorm.
    pub final_ln: LayerNorm<B>,
    /// Projection into the joint space (no bias).
    pub projection: Linear<B>,
    #[module(skip)]
    config: TextConfig,
}

impl<B: Backend> TextTransformer<B> {
    /// Builds the tower from Hugging Face-named tensors (`text_model.*`, `text_projection`).
    pub fn load(cfg: &TextConfig, projection_dim: usize, ld: &mut Loader<'_, B>) -> Result<Self> {
        let w = cfg.width;
        let e = "text_model.embeddings";
        let blocks = (0..cfg.layers)
            .map(|i| {
                ld.block(
                    &format!("text_model.encoder.layers.{i}"),
                    w,
                    cfg.mlp_width,
                    cfg.heads,
                    cfg.layer_norm_eps,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            token: ld.embedding(&format!("{e}.token_embedding.weight"), cfg.vocab_size, w)?,
            position: ld.param(
                &format!("{e}.position_embedding.weight"),
                [cfg.context_length, w],
            )?,
            blocks,
            final_ln: ld.layer_norm("text_model.final_layer_norm", w, cfg.layer_norm_eps)?,
            projection: ld.linear("text_projection", w, projection_dim, false)?,
            config: cfg.clone(),
        })
    }

    /// The architecture this tower was built with.
    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Layer names in forward order.
    pub fn layer_names(&self) -> Vec<String> {
        let mut names = vec!["text.embeddings".to_string()];
        for i in 0..self.blocks.len() {
            names.push(format!("text.blocks.{i}.attn"));
            names.push(format!("text.blocks.{i}.mlp"));
            names.push(format!("text.blocks.{i}"));
        }
        names.push("text.final_ln".to_string());
        names.push("text.embeds".to_string());
        names
    }

    /// The position each sequence is pooled at: the first end-of-text token, or the largest
    /// id when the config names none (OpenAI's rule).
    fn pool_positions(&self, ids: &[Vec<u32>]) -> Vec<usize> {
        ids.iter()
            .map(|seq| match self.config.eot_token_id {
                Some(eot) => seq.iter().position(|&t| t == eot).unwrap_or(seq.len() - 1),
                None => {
                    seq.iter()
                        .enumerate()
                        .fold(
                            (0, 0u32),
                            |best, (i, &t)| if t > best.1 { (i, t) } else { best },
                        )
                        .0
                }
            })
            .collect()
    }

    /// Embeds token id sequences of equal length into the joint space `[batch, dim]`.
    pub fn forward(&self, ids: &[Vec<u32>], cap: &mut Capture<B>) -> Result<Option<Tensor<B, 2>>> {
        let b = ids.len();
        let len = ids.first().map_or(0, Vec::len);
        if b == 0 || len == 0 {
            return Err(ModelError::InvalidConfig("no text to encode".into()));
        }
        if len > self.config.context_length || ids.iter().any(|s| s.len() != len) {
            return Err(ModelError::InvalidConfig(format!(
                "token sequences must share one length of at most {}",
                self.config.context_length
            )));
        }
        if let Some(bad) = ids
            .iter()
            .flatten()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(ModelError::InvalidConfig(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let device = self.position.val().device();
        let w = self.config.width;
        let flat: Vec<i64> = ids.iter().flatten().map(|&t| t as i64).collect();
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [b, len]), &device);
        let pos = self.position.val().slice([0..len, 0..w]).unsqueeze::<3>();
        let mut x = cap.edit_tokens("text.embeddings", self.token.forward(tokens) + pos);
        cap.tokens("text.embeddings", &x, None, false);
        let mask = causal_mask::<B>(len, &device);
        for (i, block) in self.blocks.iter().enumerate() {
            if cap.is_complete() {
                return Ok(None);
            }
            let (attn, mlp, name) = (
                format!("text.blocks.{i}.attn"),
                format!("text.blocks.{i}.mlp"),
                format!("text.blocks.{i}"),
            );
            let out = block.forward_edited(
                x,
                Some(mask.clone()),
                |pre| activate(self.config.act, pre),
                |part, t| match part {
                    Sublayer::Attn => cap.edit_tokens(&attn, t),
                    Sublayer::Mlp => cap.edit_tokens(&mlp, t),
                },
            );
            let out_x = cap.edit_tokens(&name, out.out);
            cap.tokens(&attn, &out.attn, None, false);
            cap.tokens(&mlp, &out.hidden, None, false);
            cap.tokens(&name, &out_x, None, false);
            x = out_x;
        }
        let x = cap.edit_tokens("text.final_ln", self.final_ln.forward(x));
        cap.tokens("text.final_ln", &x, None, false);
        let rows: Vec<i64> = self
            .pool_positions(ids)
            .iter()
            .enumerate()
            .map(|(i, p)| (i * len + p) as i64)
            .collect();
        let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [b]), &device);
        let pooled = x.reshape([b * len, w]).select(0, rows);
        let embeds = cap.edit_pooled("text.embeds", self.projection.forward(pooled));
        cap.pooled("text.embeds", &embeds);
        Ok(Some(embeds))
    }
}

/// Additive causal mask `[len, len]`: 0 on and below the diagonal, a large negative above.
fn causal_mask<B: Backend>(len: usize, device: &B::Device) -> Tensor<B, 2> {
    let data: Vec<f32> = (0..len * len)
        .map(|k| if k % len > k / len { -1e9 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(data, [len, len]), device)
}
