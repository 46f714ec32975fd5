//! Colour decorrelation: the image is optimized in a space whose axes are roughly decorrelated
//! colour components of natural images, as Lucid does.

use burn::tensor::{Tensor, TensorData, backend::Backend};

/// Square root of the colour correlation of ImageNet images (Lucid's
/// `color_correlation_svd_sqrt`), rows = output channel (R, G, B).
pub const COLOR_CORRELATION_SVD_SQRT: [[f32; 3]; 3] =
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// The matrix divided by its largest column norm, the form Lucid applies.
pub fn normalized_correlation() -> [[f32; 3]; 3] {
    let m = COLOR_CORRELATION_SVD_SQRT;
    let max_norm = (0..3)
        .map(|c| (0..3).map(|r| m[r][c] * m[r][c]).sum::<f32>().sqrt())
        .fold(0.0, f32::max);
    m.map(|row| row.map(|v| v / max_norm))
}

/// Maps decorrelated colour components `[b, 3, h, w]` to RGB (before the sigmoid).
pub fn decorrelate<B: Backend>(t: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, h, w] = t.dims();
    let m = normalized_correlation();
    let flat: Vec<f32> = m.iter().flatten().copied().collect();
    let m = Tensor::<B, 3>::from_data(TensorData::new(flat, [1, 3, 3]), &t.device());
    m.matmul(t.reshape([b, c, h * w])).reshape([b, c, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_column_of_the_normalized_matrix_has_unit_norm() {
        let m = normalized_correlation();
        let norms: Vec<f32> = (0..3)
            .map(|c| (0..3).map(|r| m[r][c] * m[r][c]).sum::<f32>().sqrt())
            .collect();
        let max = norms.iter().copied().fold(0.0, f32::max);
        assert!((max - 1.0).abs() < 1e-6, "{norms:?}");
        // The first column (luminance) is the longest: every channel moves together.
        assert_eq!(norms.iter().position(|&n| n == max), Some(0));
    }
}
