//! How the units of a layer respond to a set of images: one number per image and unit.

use burn::tensor::{Tensor, backend::Backend};
use modalscope_model::{Activation, Clip, ModelError};
use serde::{Deserialize, Serialize};

/// How a unit's spatial activation map becomes one number per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// Mean over spatial positions (a "channel"; class token excluded).
    Mean,
    /// Maximum over spatial positions.
    Max,
    /// The value at the class token, the one position a ViT pools into its image embedding
    /// (after the last block the other positions do not reach the output at all), so the
    /// default for multimodal analyses; layers without a class token use the mean.
    #[default]
    Class,
}

/// Reduces an activation to `[batch, units]`.
pub fn reduce<B: Backend>(act: &Activation<B>, how: Reduce) -> Tensor<B, 2> {
    let x = act.positions(); // [b, positions, units]
    let [b, _, c] = x.dims();
    match how {
        Reduce::Mean => x.mean_dim(1).reshape([b, c]),
        Reduce::Max => x.max_dim(1).reshape([b, c]),
        Reduce::Class => match act {
            Activation::Tokens {
                tensor,
                class_token: true,
                ..
            } => tensor.clone().slice([0..b, 0..1, 0..c]).reshape([b, c]),
            _ => x.mean_dim(1).reshape([b, c]),
        },
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    fn values(t: Tensor<Flex, 2>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
    }

    /// One image, a class token and two patches, two units.
    fn tokens(class_token: bool) -> Activation<Flex> {
        let t = Tensor::from_data(
            TensorData::new(vec![9.0f32, -9.0, 1.0, 2.0, 3.0, 6.0], [1, 3, 2]),
            &Default::default(),
        );
        Activation::Tokens {
            tensor: t,
            grid: class_token.then_some([1, 2]),
            class_token,
        }
    }

    #[test]
    fn the_class_reduction_reads_the_class_token_and_the_others_skip_it() {
        let act = tokens(true);
        assert_eq!(values(reduce(&act, Reduce::Class)), [9.0, -9.0]);
        assert_eq!(values(reduce(&act, Reduce::Mean)), [2.0, 4.0]);
        assert_eq!(values(reduce(&act, Reduce::Max)), [3.0, 6.0]);
        assert_eq!(Reduce::default(), Reduce::Class);
    }

    #[test]
    fn without_a_class_token_the_class_reduction_is_the_mean() {
        // Text tokens: every position counts.
        assert_eq!(
            values(reduce(&tokens(false), Reduce::Class)),
            [13.0 / 3.0, -1.0 / 3.0]
        );
        let map = Activation::Map(Tensor::<Flex, 4>::from_data(
            TensorData::new(vec![1.0f32, 3.0, 10.0, 20.0], [1, 2, 1, 2]),
            &Default::default(),
        ));
        assert_eq!(values(reduce(&map, Reduce::Class)), [2.0, 15.0]);
    }
}
