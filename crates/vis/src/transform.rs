//! Robustness transforms applied at every step (Lucid's `standard_transforms`): constant
//! padding, jitter, random scale and random rotation, then a resize to the model's input.
//!
//! The whole chain is one random affine map, so it is applied as a single bilinear resample:
//! each output pixel gathers four source pixels with host-computed indices and weights. The
//! gather is differentiable on every burn backend, and sampling once avoids the repeated
//! blurring of resampling after every transform.
//!
//! The model sees a window as wide as the untransformed image (at the scale a plain resize
//! gives it), centred in the transformed canvas: Lucid's `crop_or_pad_to(size, size)`, with
//! which its activation-atlas recipe ends its transforms. Lucid feeds convnets the whole
//! transformed canvas at any size, so there padding only adds a border and scale really
//! scales; resizing the whole canvas to a fixed input instead (Lucent's `fixed_image_size`)
//! would shrink the content by the padding on every step and undo the random scale, so the
//! image would be optimized at a scale it is never judged at. The mean transform here is the
//! identity view.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use serde::{Deserialize, Serialize};

use modalscope_model::SeededRng;

/// The random transforms of one optimization step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transforms {
    /// Constant padding on every side, in pixels of the parameterized image.
    pub pad: usize,
    /// Value of the padding (0.5: mid grey).
    pub pad_value: f32,
    /// Random crop offset range before scaling, in pixels.
    pub jitter: usize,
    /// Scale factors, one picked uniformly per step.
    pub scales: Vec<f32>,
    /// Rotation angles in degrees, one picked uniformly per step.
    pub angles: Vec<f32>,
    /// Random crop offset range after rotation, in pixels.
    pub jitter_after: usize,
}

impl Transforms {
    /// Lucid's standard stack: pad 12, jitter 8, scale 0.90–1.10 in steps of 0.02, rotate
    /// −10..10°, jitter 4.
    pub fn standard() -> Self {
        Self {
            pad: 12,
            pad_value: 0.5,
            jitter: 8,
            scales: (0..11).map(|i| 1.0 + (i as f32 - 5.0) / 50.0).collect(),
            angles: (-10..=10).map(|a| a as f32).collect(),
            jitter_after: 4,
        }
    }

    /// No transform: only the resize to the model's input.
    pub fn none() -> Self {
        Self {
            pad: 0,
            pad_value: 0.5,
            jitter: 0,
            scales: vec![1.0],
            angles: vec![0.0],
            jitter_after: 0,
        }
    }

    /// Draws this step's transform.
    pub fn sample(&self, rng: &mut SeededRng) -> Affine {
        let pick = |rng: &mut SeededRng, v: &[f32], default: f32| -> f32 {
            if v.is_empty() {
                default
            } else {
                v[(rng.next_u64() % v.len() as u64) as usize]
            }
        };
        let offset =
            |rng: &mut SeededRng, d: usize| -> f32 { (rng.next_u64() % (d as u64 + 1)) as f32 };
        let jitter = (offset(rng, self.jitter), offset(rng, self.jitter));
        let scale = pick(rng, &self.scales, 1.0);
        let angle = pick(rng, &self.angles, 0.0);
        let jitter_after = (
            offset(rng, self.jitter_after),
            offset(rng, self.jitter_after),
        );
        Affine {
            pad: self.pad as f32,
            crop: self.jitter as f32,
            offset: jitter,
            scale,
            angle_deg: angle,
            crop_after: self.jitter_after as f32,
            offset_after: jitter_after,
        }
    }
}

/// One drawn transform: pad, crop at an offset, scale, rotate about the centre, crop again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Padding on each side.
    pub pad: f32,
    /// Size reduction of the first crop.
    pub crop: f32,
    /// Offset `(x, y)` of the first crop.
    pub offset: (f32, f32),
    /// Scale factor.
    pub scale: f32,
    /// Rotation in degrees (counter-clockwise).
    pub angle_deg: f32,
    /// Size reduction of the second crop.
    pub crop_after: f32,
    /// Offset `(x, y)` of the second crop.
    pub offset_after: (f32, f32),
}

impl Affine {
    /// The identity chain (a plain resize).
    pub fn identity() -> Self {
        Self {
            pad: 0.0,
            crop: 0.0,
            offset: (0.0, 0.0),
            scale: 1.0,
            angle_deg: 0.0,
            crop_after: 0.0,
            offset_after: (0.0, 0.0),
        }
    }

    /// Where output point `(x, y)` (continuous coordinates of an `out`-pixel image) comes from in
    /// the `size`-pixel source image.
    pub fn source_point(&self, x: f32, y: f32, size: usize, out: usize) -> (f32, f32) {
        let padded = size as f32 + 2.0 * self.pad;
        let cropped = padded - self.crop;
        let scaled = cropped * self.scale;
        let last = scaled - self.crop_after;
        // the model sees a window of `size` transformed pixels, centred in the last crop
        let r = size as f32 / out as f32;
        let centre = (last - size as f32) / 2.0;
        let (x, y) = (
            x * r + self.offset_after.0 + centre,
            y * r + self.offset_after.1 + centre,
        );
        // undo the rotation about the centre of the scaled image
        let c = scaled / 2.0;
        let (s, co) = self.angle_deg.to_radians().sin_cos();
        let (dx, dy) = (x - c, y - c);
        let (x, y) = (co * dx + s * dy + c, -s * dx + co * dy + c);
        // undo the scale, then the first crop and the padding
        let (x, y) = (x / self.scale, y / self.scale);
        (x + self.offset.0 - self.pad, y + self.offset.1 - self.pad)
    }

    /// Bilinear taps of every output pixel: four source indices (or `size*size`, the padding
    /// value, when outside) and their weights, in `[4, out*out]` order.
    pub fn taps(&self, size: usize, out: usize) -> (Vec<i64>, Vec<f32>) {
        let n = out * out;
        let outside = (size * size) as i64;
        let mut index = vec![outside; 4 * n];
        let mut weight = vec![0.0f32; 4 * n];
        for oy in 0..out {
            for ox in 0..out {
                let (sx, sy) = self.source_point(ox as f32 + 0.5, oy as f32 + 0.5, size, out);
                // pixel centres sit at integer + 0.5
                let (px, py) = (sx - 0.5, sy - 0.5);
                let (x0, y0) = (px.floor(), py.floor());
                let (fx, fy) = (px - x0, py - y0);
                let o = oy * out + ox;
                let corners = [
                    (x0, y0, (1.0 - fx) * (1.0 - fy)),
                    (x0 + 1.0, y0, fx * (1.0 - fy)),
                    (x0, y0 + 1.0, (1.0 - fx) * fy),
                    (x0 + 1.0, y0 + 1.0, fx * fy),
                ];
                for (k, (cx, cy, w)) in corners.into_iter().enumerate() {
                    let inside = cx >= 0.0 && cy >= 0.0 && cx < size as f32 && cy < size as f32;
                    if inside {
                        index[k * n + o] = cy as i64 * size as i64 + cx as i64;
                    }
                    weight[k * n + o] = w;
                }
            }
        }
        (index, weight)
    }

    /// Resamples images `[b, c, size, size]` to `[b, c, out, out]` through this transform.
    pub fn apply<B: Backend>(
        &self,
        images: Tensor<B, 4>,
        out: usize,
        pad_value: f32,
    ) -> Tensor<B, 4> {
        let [b, c, h, w] = images.dims();
        assert_eq!(h, w, "square images only");
        let device = images.device();
        let (index, weight) = self.taps(h, out);
        let n = out * out;
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [4 * n]), &device);
        let weight = Tensor::<B, 4>::from_data(TensorData::new(weight, [1, 1, 4, n]), &device);
        let flat = images.reshape([b, c, h * w]);
        let pad = Tensor::<B, 3>::full([b, c, 1], pad_value, &device);
        let flat = Tensor::cat(vec![flat, pad], 2);
        let gathered = flat.select(2, index).reshape([b, c, 4, n]);
        (gathered * weight).sum_dim(2).reshape([b, c, out, out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn ramp(size: usize) -> Tensor<Flex, 4> {
        let v: Vec<f32> = (0..size * size)
            .map(|i| (i % size) as f32 + 10.0 * (i / size) as f32)
            .collect();
        Tensor::from_data(TensorData::new(v, [1, 1, size, size]), &Default::default())
    }

    #[test]
    fn identity_at_the_same_size_is_exact() {
        let x = ramp(9);
        let y = Affine::identity().apply(x.clone(), 9, 0.5);
        let (a, b): (Vec<f32>, Vec<f32>) = (
            x.into_data().into_vec().unwrap(),
            y.into_data().into_vec().unwrap(),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn halving_averages_pixel_pairs_of_a_linear_ramp() {
        // Bilinear at the centre of each 2x2 block of a linear ramp equals the block mean.
        let y: Vec<f32> = Affine::identity()
            .apply(ramp(8), 4, 0.5)
            .into_data()
            .into_vec()
            .unwrap();
        for oy in 0..4 {
            for ox in 0..4 {
                let want = (2 * ox) as f32 + 0.5 + 10.0 * ((2 * oy) as f32 + 0.5);
                assert!(
                    (y[oy * 4 + ox] - want).abs() < 1e-4,
                    "{ox},{oy}: {}",
                    y[oy * 4 + ox]
                );
            }
        }
    }

    #[test]
    fn padding_shows_the_pad_value_and_rotation_keeps_the_centre() {
        // Padded by 4 and cropped back to 8 at offset (0, 4): the view moves 4 px left into
        // the padding and stays put vertically.
        let t = Affine {
            pad: 4.0,
            crop: 8.0,
            offset: (0.0, 4.0),
            ..Affine::identity()
        };
        let y: Vec<f32> = t.apply(ramp(8), 8, 0.5).into_data().into_vec().unwrap();
        for row in 0..8 {
            assert!(
                y[row * 8..row * 8 + 4].iter().all(|v| *v == 0.5),
                "left half is padding"
            );
            for ox in 4..8 {
                assert!((y[row * 8 + ox] - ramp_at(ox as f32, row as f32, 4.0)).abs() < 1e-4);
            }
        }
        // Padding alone, centred, is the identity view: the model sees the image at its scale.
        let centred = Affine {
            pad: 4.0,
            ..Affine::identity()
        };
        let y: Vec<f32> = centred
            .apply(ramp(8), 8, 0.5)
            .into_data()
            .into_vec()
            .unwrap();
        let x: Vec<f32> = ramp(8).into_data().into_vec().unwrap();
        assert_eq!(x, y);

        // Rotating by 90 degrees maps the centre onto itself and turns rows into columns.
        let r = Affine {
            angle_deg: 90.0,
            ..Affine::identity()
        };
        let (cx, cy) = r.source_point(4.0, 4.0, 8, 8);
        assert!((cx - 4.0).abs() < 1e-5 && (cy - 4.0).abs() < 1e-5);
        let (x1, y1) = r.source_point(6.0, 4.0, 8, 8);
        assert!(
            (x1 - 4.0).abs() < 1e-5 && (y1 - 4.0).abs() > 1.9,
            "{x1},{y1}"
        );
    }

    fn ramp_at(ox: f32, oy: f32, shift: f32) -> f32 {
        // output pixel (ox, oy) of an 8-px ramp whose view moved `shift` px left: source pixel
        // centre at (ox + 0.5) - shift - 0.5
        (ox - shift) + 10.0 * oy
    }

    #[test]
    fn standard_transforms_average_to_the_identity_view() {
        // Random views of a 128-px image fed to a 64-px model: on average every output point
        // comes from where the plain resize takes it, so the image is optimized at the scale
        // and place it is judged at.
        let (size, out) = (128, 64);
        let t = Transforms::standard();
        let mut rng = SeededRng::new(11);
        let draws: Vec<Affine> = (0..4000).map(|_| t.sample(&mut rng)).collect();
        for (ox, oy) in [(0.5, 0.5), (32.0, 32.0), (63.5, 10.5), (5.5, 60.5)] {
            let want = Affine::identity().source_point(ox, oy, size, out);
            let n = draws.len() as f32;
            let (mx, my) = draws.iter().fold((0.0, 0.0), |(ax, ay), a| {
                let (x, y) = a.source_point(ox, oy, size, out);
                (ax + x / n, ay + y / n)
            });
            assert!(
                (mx - want.0).abs() < 1.0 && (my - want.1).abs() < 1.0,
                "output ({ox}, {oy}): mean source ({mx:.2}, {my:.2}), identity {want:?}"
            );
        }
    }

    #[test]
    fn scale_magnifies_the_identity_view() {
        // Scale 2 about the centre of an 8-px ramp (slope 1 per pixel in x) viewed at 8 px:
        // neighbouring output pixels are half a source pixel apart, centred on the image.
        let t = Affine {
            scale: 2.0,
            ..Affine::identity()
        };
        for ox in 0..8 {
            let (sx, sy) = t.source_point(ox as f32 + 0.5, 4.0, 8, 8);
            assert!(
                (sx - (4.0 + (ox as f32 + 0.5 - 4.0) / 2.0)).abs() < 1e-5,
                "{ox}: {sx}"
            );
            assert!((sy - 4.0).abs() < 1e-5);
        }
        // And a scale below 1 shows the padding at the border, the centre unchanged.
        let shrink = Affine {
            scale: 0.5,
            ..Affine::identity()
        };
        let y: Vec<f32> = shrink
            .apply(ramp(8), 8, 0.5)
            .into_data()
            .into_vec()
            .unwrap();
        assert_eq!(y[0], 0.5);
        assert_eq!(y[63], 0.5);
        let (cx, cy) = shrink.source_point(4.0, 4.0, 8, 8);
        assert!((cx - 4.0).abs() < 1e-5 && (cy - 4.0).abs() < 1e-5);
    }

    #[test]
    fn standard_transforms_are_lucids_and_seeded() {
        let t = Transforms::standard();
        assert_eq!(t.scales.len(), 11);
        assert!((t.scales[0] - 0.9).abs() < 1e-6 && (t.scales[10] - 1.1).abs() < 1e-6);
        assert_eq!(t.angles.len(), 21);
        let a = t.sample(&mut SeededRng::new(3));
        let b = t.sample(&mut SeededRng::new(3));
        assert_eq!(a, b);
        let draws: Vec<Affine> = {
            let mut rng = SeededRng::new(3);
            (0..20).map(|_| t.sample(&mut rng)).collect()
        };
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
        assert!(
            draws
                .iter()
                .all(|d| d.offset.0 <= 8.0 && d.offset_after.1 <= 4.0)
        );
    }
}
