//! Recording intermediate activations by their stable, human-readable layer names.

use std::collections::BTreeMap;

use burn::tensor::activation::relu;
use burn::tensor::{Tensor, backend::Backend};

use crate::config::Act;
use crate::layers::activate;
use crate::lesion::Lesion;

/// One recorded activation, in the layout the layer produces it.
#[derive(Debug, Clone)]
pub enum Activation<B: Backend> {
    /// A transformer's token sequence `[batch, tokens, channels]`.
    Tokens {
        /// The values.
        tensor: Tensor<B, 3>,
        /// Patch grid `[rows, cols]` for image tokens; `None` for text.
        grid: Option<[usize; 2]>,
        /// Whether token 0 is a class token that precedes the grid.
        class_token: bool,
    },
    /// A convolutional feature map `[batch, channels, height, width]`.
    Map(Tensor<B, 4>),
    /// One vector per input `[batch, channels]`.
    Pooled(Tensor<B, 2>),
}

impl<B: Backend> Activation<B> {
    /// Number of channels (neurons per position).
    pub fn channels(&self) -> usize {
        match self {
            Self::Tokens { tensor, .. } => tensor.dims()[2],
            Self::Map(t) => t.dims()[1],
            Self::Pooled(t) => t.dims()[1],
        }
    }

    /// Spatial grid `[rows, cols]` of the layer, `[1, 1]` for pooled vectors.
    pub fn grid(&self) -> Option<[usize; 2]> {
        match self {
            Self::Tokens { grid, .. } => *grid,
            Self::Map(t) => {
                let [_, _, h, w] = t.dims();
                Some([h, w])
            }
            Self::Pooled(_) => Some([1, 1]),
        }
    }

    /// The spatial positions as `[batch, rows*cols, channels]`, class token dropped.
    ///
    /// Text sequences (no grid) are returned whole as `[batch, tokens, channels]`.
    pub fn positions(&self) -> Tensor<B, 3> {
        match self {
            Self::Tokens {
                tensor,
                class_token,
                ..
            } => {
                if *class_token {
                    let [b, t, c] = tensor.dims();
                    tensor.clone().slice([0..b, 1..t, 0..c])
                } else {
                    tensor.clone()
                }
            }
            Self::Map(t) => {
                let [b, c, h, w] = t.dims();
                t.clone().reshape([b, c, h * w]).swap_dims(1, 2)
            }
            Self::Pooled(t) => t.clone().unsqueeze_dim(1),
        }
    }

    /// The activation as a flat tensor in its natural layout, for comparisons and export.
    pub fn to_host(&self) -> (Vec<usize>, Vec<f32>) {
        let data = match self {
            Self::Tokens { tensor, .. } => tensor.to_data(),
            Self::Map(t) => t.to_data(),
            Self::Pooled(t) => t.to_data(),
        };
        let shape = data.shape.to_vec();
        (
            shape,
            data.convert::<f32>().into_vec().expect("f32 activations"),
        )
    }
}

/// Which layers a forward pass should record.
#[derive(Debug, Clone, Default)]
pub enum Selection {
    /// Record nothing (plain inference).
    #[default]
    None,
    /// Record every named layer.
    All,
    /// Record only these names.
    Only(Vec<String>),
}

/// Collects activations during a forward pass, and silences the units its lesions name.
#[derive(Debug, Clone, Default)]
pub struct Capture<B: Backend> {
    selection: Selection,
    recorded: BTreeMap<String, Activation<B>>,
    lesions: Vec<Lesion>,
    /// Whether the pass runs to the end even once every selected layer is recorded.
    to_the_end: bool,
    /// Whether recorded layers' final ReLUs pass gradients where they output zero.
    revive: bool,
    /// The patch tokens each image keeps (patch dropout), if the pass drops some.
    kept_patches: Option<Vec<Vec<usize>>>,
}

impl<B: Backend> Capture<B> {
    /// A capture that records nothing.
    pub fn none() -> Self {
        Self::selecting(Selection::None)
    }

    fn selecting(selection: Selection) -> Self {
        Self {
            selection,
            recorded: BTreeMap::new(),
            lesions: Vec::new(),
            to_the_end: false,
            revive: false,
            kept_patches: None,
        }
    }

    /// A capture that records every layer.
    pub fn all() -> Self {
        Self::selecting(Selection::All)
    }

    /// Records nothing, but silences the units of `lesions` during the pass.
    pub fn lesioned(lesions: impl IntoIterator<Item = Lesion>) -> Self {
        Self::none().with_lesions(lesions)
    }

    /// Adds lesions applied during the pass (several may name the same layer).
    pub fn with_lesions(mut self, lesions: impl IntoIterator<Item = Lesion>) -> Self {
        self.lesions.extend(lesions);
        self
    }

    /// The lesions this pass applies.
    pub fn lesions(&self) -> &[Lesion] {
        &self.lesions
    }

    /// Whether some lesion names the layer `name`.
    pub fn lesions_layer(&self, name: &str) -> bool {
        self.lesions.iter().any(|l| l.layer == name)
    }

    /// Applies the lesions of layer `name` to a token sequence `[batch, tokens, channels]`.
    pub fn edit_tokens(&self, name: &str, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.edit(name, x, 2)
    }

    /// Applies the lesions of layer `name` to a feature map `[batch, channels, h, w]`.
    pub fn edit_map(&self, name: &str, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.edit(name, x, 1)
    }

    /// Applies the lesions of layer `name` to pooled vectors `[batch, channels]`.
    pub fn edit_pooled(&self, name: &str, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.edit(name, x, 1)
    }

    fn edit<const D: usize>(&self, name: &str, x: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
        self.lesions
            .iter()
            .filter(|l| l.layer == name)
            .fold(x, |x, l| l.apply(x, dim))
    }

    /// A capture that records the given layer names.
    pub fn only<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::selecting(Selection::Only(names.into_iter().map(Into::into).collect()))
    }

    /// Whether the layer `name` should be recorded.
    pub fn wants(&self, name: &str) -> bool {
        match &self.selection {
            Selection::None => false,
            Selection::All => true,
            Selection::Only(names) => names.iter().any(|n| n == name),
        }
    }

    /// Keeps the pass going to the embedding after the selected layers are recorded, for
    /// callers that need both (a training objective on hidden units, say).
    pub fn to_the_end(mut self) -> Self {
        self.to_the_end = true;
        self
    }

    /// Lets gradients through the final ReLU (or an MLP's GELU) of each recorded layer where
    /// its input is not positive, so that optimizing an input for a unit the starting image
    /// leaves silent can begin (after Lucid's redirected ReLU gradient, which passes them only
    /// while an image's whole ReLU is silent and never to push a value lower); values are
    /// unchanged.
    pub fn reviving(mut self) -> Self {
        self.revive = true;
        self
    }

    /// Keeps only these patch tokens of each image, with its class token, and drops the rest
    /// after the position embedding: patch dropout, which FLIP and OpenCLIP train with because
    /// a ViT's cost grows with its tokens. One list per image, all of one length, of grid
    /// indices in row-major order below the grid's size (a ViT panics otherwise); a ResNet,
    /// which has no tokens, does not take it (its trainer refuses it).
    pub fn keeping_patches(mut self, kept: Vec<Vec<usize>>) -> Self {
        self.kept_patches = Some(kept);
        self
    }

    /// The patch tokens each image keeps, where this pass drops some.
    pub fn kept_patches(&self) -> Option<&[Vec<usize>]> {
        self.kept_patches.as_deref()
    }

    /// The ReLU that ends layer `name`, applied to its pre-activation `[batch, channels, h, w]`:
    /// plain, or with [`Capture::reviving`], a straight-through gradient wherever it is not
    /// positive (the gradient there would otherwise be zero).
    pub fn rectify_map(&self, name: &str, pre: Tensor<B, 4>) -> Tensor<B, 4> {
        self.revived(name, pre.clone(), relu(pre))
    }

    /// The non-linearity of the MLP layer `name`, applied to its pre-activation `[batch, tokens,
    /// hidden]`: plain, or with [`Capture::reviving`], a straight-through gradient wherever the
    /// pre-activation is not positive. A GELU's own gradient there vanishes, and below its
    /// minimum points to ever lower pre-activations, whose outputs creep up to zero from below:
    /// ascent on a unit the starting image leaves far below zero would sink it further.
    pub fn activate_tokens(&self, name: &str, act: Act, pre: Tensor<B, 3>) -> Tensor<B, 3> {
        self.revived(name, pre.clone(), activate(act, pre))
    }

    /// `out`, a non-linearity of `pre`, unchanged in value; where this pass revives layer
    /// `name`, its gradient is 1 wherever `pre` is not positive instead of the non-linearity's.
    fn revived<const D: usize>(
        &self,
        name: &str,
        pre: Tensor<B, D>,
        out: Tensor<B, D>,
    ) -> Tensor<B, D> {
        if !(self.revive && self.wants(name)) {
            return out;
        }
        let silent = pre.clone().detach().lower_equal_elem(0.0).float();
        let open = silent.clone().neg().add_scalar(1.0);
        out.clone() * open + (out.detach() + pre.clone() - pre.detach()) * silent
    }

    /// Whether every selected layer has been recorded, so the pass may stop early.
    pub fn is_complete(&self) -> bool {
        if self.to_the_end {
            return false;
        }
        match &self.selection {
            Selection::None => false,
            Selection::All => false,
            Selection::Only(names) => names.iter().all(|n| self.recorded.contains_key(n)),
        }
    }

    /// Records a token sequence if it is wanted.
    pub fn tokens(
        &mut self,
        name: &str,
        tensor: &Tensor<B, 3>,
        grid: Option<[usize; 2]>,
        class_token: bool,
    ) {
        if self.wants(name) {
            self.recorded.insert(
                name.to_string(),
                Activation::Tokens {
                    tensor: tensor.clone(),
                    grid,
                    class_token,
                },
            );
        }
    }

    /// Records a feature map if it is wanted.
    pub fn map(&mut self, name: &str, tensor: &Tensor<B, 4>) {
        if self.wants(name) {
            self.recorded
                .insert(name.to_string(), Activation::Map(tensor.clone()));
        }
    }

    /// Records pooled vectors if they are wanted.
    pub fn pooled(&mut self, name: &str, tensor: &Tensor<B, 2>) {
        if self.wants(name) {
            self.recorded
                .insert(name.to_string(), Activation::Pooled(tensor.clone()));
        }
    }

    /// The recorded activation of a layer.
    pub fn get(&self, name: &str) -> Option<&Activation<B>> {
        self.recorded.get(name)
    }

    /// Takes a recorded activation out.
    pub fn take(&mut self, name: &str) -> Option<Activation<B>> {
        self.recorded.remove(name)
    }

    /// Names recorded so far.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.recorded.keys().map(String::as_str)
    }

    /// Consumes the capture, returning every recorded activation.
    pub fn into_map(self) -> BTreeMap<String, Activation<B>> {
        self.recorded
    }
}
