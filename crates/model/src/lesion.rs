//! Silencing units of a named layer during the forward pass (zero or mean ablation).
//!
//! A [`Lesion`] travels inside a [`Capture`](crate::Capture): wherever the towers record a
//! layer of that name, they first replace the lesioned channels, at every position, by a
//! constant (0, or a per-unit mean), so everything downstream sees the silenced values and
//! the capture records them. For `vision.blocks.{i}.mlp` and `text.blocks.{i}.mlp` the
//! replacement happens between the non-linearity and the contracting projection, for
//! `….attn` before the residual add.

use burn::tensor::{Tensor, TensorData, backend::Backend};
use serde::{Deserialize, Serialize};

/// Units of one layer to silence, and the value each is held at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesion {
    /// The layer, by its stable name (`vision.blocks.3.mlp`).
    pub layer: String,
    /// The silenced units (channels).
    pub units: Vec<usize>,
    /// The value each unit is held at, aligned with `units` (all 0 for zero ablation).
    pub values: Vec<f32>,
}

impl Lesion {
    /// Zero ablation: the units read 0 everywhere.
    pub fn zero(layer: impl Into<String>, units: impl IntoIterator<Item = usize>) -> Self {
        let units: Vec<usize> = units.into_iter().collect();
        Self {
            layer: layer.into(),
            values: vec![0.0; units.len()],
            units,
        }
    }

    /// Mean ablation: each unit reads its given mean (over some reference data) everywhere.
    ///
    /// `means` is aligned with `units`; missing values are taken as 0.
    pub fn mean(
        layer: impl Into<String>,
        units: impl IntoIterator<Item = usize>,
        means: impl IntoIterator<Item = f32>,
    ) -> Self {
        let units: Vec<usize> = units.into_iter().collect();
        let mut values: Vec<f32> = means.into_iter().take(units.len()).collect();
        values.resize(units.len(), 0.0);
        Self {
            layer: layer.into(),
            units,
            values,
        }
    }

    /// Whether every unit is held at 0.
    pub fn is_zero(&self) -> bool {
        self.values.iter().all(|&v| v == 0.0)
    }

    /// The largest unit index, if any unit is named.
    pub fn max_unit(&self) -> Option<usize> {
        self.units.iter().copied().max()
    }

    /// Per-channel `(keep, fill)` vectors for a layer of `channels` units: `x * keep + fill`
    /// silences the units. Units at or beyond `channels` are ignored (validate first with
    /// [`Clip::check_lesion`](crate::Clip::check_lesion)).
    pub fn masks(&self, channels: usize) -> (Vec<f32>, Vec<f32>) {
        let mut keep = vec![1.0f32; channels];
        let mut fill = vec![0.0f32; channels];
        for (&u, &v) in self.units.iter().zip(&self.values) {
            if u < channels {
                keep[u] = 0.0;
                fill[u] = v;
            }
        }
        (keep, fill)
    }

    /// Applies the lesion to `x`, whose channels lie along dimension `dim`.
    pub fn apply<B: Backend, const D: usize>(&self, x: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
        let dims = x.dims();
        let channels = dims[dim];
        let (keep, fill) = self.masks(channels);
        let mut shape = [1usize; D];
        shape[dim] = channels;
        let device = x.device();
        let keep = Tensor::<B, D>::from_data(TensorData::new(keep, shape), &device);
        let fill = Tensor::<B, D>::from_data(TensorData::new(fill, shape), &device);
        x * keep + fill
    }
}
