//! How the units of a layer respond to a set of images: one number per image and unit.

use burn::tensor::{Tensor, backend::Backend};
use modalscope_model::{Activation, Clip, ModelError};
use serde::{Deserialize, Serialize};

/// How a unit's spatial activation map becomes one number per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// Mean over spatial positions (a "channel"; class token excluded).
    #[default]
    Mean,
    /// Maximum over spatial positions.
    Max,
}

/// Reduces an activation to `[batch, units]`.
pub fn reduce<B: Backend>(act: &Activation<B>, how: Reduce) -> Tensor<B, 2> {
    let x = act.positions(); // [b, positions, units]
    let [b, _, c] = x.dims();
    match how {
        Reduce::Mean => x.mean_dim(1).reshape([b, c]),
        Reduce::Max => x.max_dim(1).reshape([b, c]),
    }
}

/// Responses `[images × units]` (row-major) of `layer` to normalized images, in batches of
/// `batch` so memory stays bounded.
pub fn unit_responses<B: Backend>(
    clip: &Clip<B>,
    images: Tensor<B, 4>,
    layer: &str,
    how: Reduce,
    batch: usize,
) -> Result<(Vec<f32>, usize), ModelError> {
    clip.check_layer(layer)?;
    let n = images.dims()[0];
    let mut out = Vec::new();
    let mut units = 0;
    let mut start = 0;
    while start < n {
        let end = (start + batch.max(1)).min(n);
        let [_, c, h, w] = images.dims();
        let part = images.clone().slice([start..end, 0..c, 0..h, 0..w]);
        let act = clip.image_activation(part, layer)?;
        units = act.channels();
        let r = reduce(&act, how);
        out.extend(
            r.into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .expect("f32"),
        );
        start = end;
    }
    Ok((out, units))
}
