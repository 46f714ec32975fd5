//! The vision transformer image tower (ViT-B/32, ViT-B/16 and smaller shapes).

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::capture::Capture;
use crate::config::VitConfig;
use crate::error::Result;
use crate::layers::{Block, Loader, Sublayer};

/// Vision transformer: patch embedding, class token, residual attention blocks, projection.
#[derive(Module, Debug)]
pub struct VisionTransformer<B: Backend> {
    /// Patch embedding convolution (no bias).
    pub patch: Conv2d<B>,
    /// Learned class token `[width]`.
    pub class_embedding: Param<Tensor<B, 1>>,
    /// Positional embedding `[1 + grid², width]`.
    pub position: Param<Tensor<B, 2>>,
    /// LayerNorm before the blocks.
    pub pre_ln: LayerNorm<B>,
    /// The blocks.
    pub blocks: Vec<Block<B>>,
    /// LayerNorm on the class token.
    pub post_ln: LayerNorm<B>,
    /// Projection into the joint space (no bias).
    pub projection: Linear<B>,
    #[module(skip)]
    config: VitConfig,
}

impl<B: Backend> VisionTransformer<B> {
    /// Builds the tower from Hugging Face-named tensors (`vision_model.*`, `visual_projection`).
    pub fn load(cfg: &VitConfig, projection_dim: usize, ld: &mut Loader<'_, B>) -> Result<Self> {
        let w = cfg.width;
        let tokens = cfg.grid() * cfg.grid() + 1;
        let e = "vision_model.embeddings";
        let patch = ld.conv(
            &format!("{e}.patch_embedding"),
            3,
            w,
            cfg.patch_size,
            cfg.patch_size,
            0,
            false,
        )?;
        let blocks = (0..cfg.layers)
            .map(|i| {
                ld.block(
                    &format!("vision_model.encoder.layers.{i}"),
                    w,
                    cfg.mlp_width,
                    cfg.heads,
                    cfg.layer_norm_eps,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            patch,
            class_embedding: ld.param(&format!("{e}.class_embedding"), [w])?,
            position: ld.param(&format!("{e}.position_embedding.weight"), [tokens, w])?,
            pre_ln: ld.layer_norm("vision_model.pre_layrnorm", w, cfg.layer_norm_eps)?,
            blocks,
            post_ln: ld.layer_norm("vision_model.post_layernorm", w, cfg.layer_norm_eps)?,
            projection: ld.linear("visual_projection", w, projection_dim, false)?,
            config: cfg.clone(),
        })
    }

    /// The architecture this tower was built with.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// Layer names in forward order, as links and captures use them.
    pub fn layer_names(&self) -> Vec<String> {
        let mut names = vec!["vision.embeddings".to_string(), "vision.pre_ln".to_string()];
        for i in 0..self.blocks.len() {
            names.push(format!("vision.blocks.{i}.attn"));
            names.push(format!("vision.blocks.{i}.mlp"));
            names.push(format!("vision.blocks.{i}"));
        }
        names.push("vision.post_ln".to_string());
        names.push("vision.embeds".to_string());
        names
    }

    /// Embeds normalized images `[batch, 3, size, size]` into the joint space `[batch, dim]`,
    /// recording the layers the capture asks for. Stops early once the capture is complete.
    pub fn forward(&self, images: Tensor<B, 4>, cap: &mut Capture<B>) -> Option<Tensor<B, 2>> {
        let [b, _, _, _] = images.dims();
        let w = self.config.width;
        let g = self.config.grid();
        let grid = Some([g, g]);
        let patches = self
            .patch
            .forward(images)
            .reshape([b, w, g * g])
            .swap_dims(1, 2);
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, w])
            .expand([b, 1, w]);
        let x = Tensor::cat(vec![cls, patches], 1) + self.position.val().unsqueeze::<3>();
        // Tokens dropped here no longer form the grid, so captures record them without one.
        let (x, grid) = match cap.kept_patches() {
            Some(kept) => (keep_tokens(x, kept, g * g), None),
            None => (x, grid),
        };
        let x = cap.edit_tokens("vision.embeddings", x);
        cap.tokens("vision.embeddings", &x, grid, true);
        let x = cap.edit_tokens("vision.pre_ln", self.pre_ln.forward(x));
        cap.tokens("vision.pre_ln", &x, grid, true);
        let mut x = x;
        for (i, block) in self.blocks.iter().enumerate() {
            if cap.is_complete() {
                return None;
            }
            let (attn, mlp, name) = (
                format!("vision.blocks.{i}.attn"),
                format!("vision.blocks.{i}.mlp"),
                format!("vision.blocks.{i}"),
            );
            let out = block.forward_edited(
                x,
                None,
                |pre| cap.activate_tokens(&mlp, self.config.act, pre),
                |part, t| match part {
                    Sublayer::Attn => cap.edit_tokens(&attn, t),
                    Sublayer::Mlp => cap.edit_tokens(&mlp, t),
                },
            );
            let out_x = cap.edit_tokens(&name, out.out);
            cap.tokens(&attn, &out.attn, grid, true);
            cap.tokens(&mlp, &out.hidden, grid, true);
            cap.tokens(&name, &out_x, grid, true);
            x = out_x;
        }
        if cap.is_complete() {
            return None;
        }
        let cls = x.slice([0..b, 0..1, 0..w]).reshape([b, w]);
        let pooled = cap.edit_pooled("vision.post_ln", self.post_ln.forward(cls));
        cap.pooled("vision.post_ln", &pooled);
        let embeds = cap.edit_pooled("vision.embeds", self.projection.forward(pooled));
        cap.pooled("vision.embeds", &embeds);
        Some(embeds)
    }
}

/// The class token and the kept patch tokens of each image of `x` `[batch, 1 + patches,
/// width]`, in the order `kept` lists them.
fn keep_tokens<B: Backend>(x: Tensor<B, 3>, kept: &[Vec<usize>], patches: usize) -> Tensor<B, 3> {
    let [b, _, w] = x.dims();
    let k = kept.first().map_or(0, Vec::len);
    assert!(
        kept.len() == b
            && kept
                .iter()
                .all(|l| l.len() == k && l.iter().all(|&p| p < patches)),
        "patch dropout needs one list of {k} patches below {patches} per image, for {b} images"
    );
    let index: Vec<i64> = kept
        .iter()
        .flat_map(|list| std::iter::once(0).chain(list.iter().map(|&p| p + 1)))
        .flat_map(|token| std::iter::repeat_n(token as i64, w))
        .collect();
    let index = Tensor::<B, 3, Int>::from_data(TensorData::new(index, [b, k + 1, w]), &x.device());
    x.gather(1, index)
}
