//! Image parameterizations: what the optimizer actually changes, and how it becomes pixels.
//!
//! `Pixel` optimizes RGB values directly (through a sigmoid). `Fourier` optimizes a 2-D real
//! spectrum scaled by 1/f, as Lucid's `fft_image`, which whitens the gradient and gives
//! natural-looking, low-noise images; the inverse real DFT is two matrix products with
//! precomputed cosine/sine bases, exact and available on every burn backend (burn's FFT is
//! power-of-two only and has no autodiff).

use burn::tensor::{Tensor, TensorData, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::color::decorrelate;
use modalscope_model::SeededRng;

/// How the image is parameterized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamKind {
    /// RGB values through a sigmoid.
    Pixel {
        /// Optimize decorrelated colour components instead of RGB.
        decorrelate: bool,
    },
    /// A 1/f-scaled Fourier spectrum (Lucid's default).
    Fourier {
        /// Optimize decorrelated colour components instead of RGB.
        decorrelate: bool,
        /// Exponent of the 1/f scaling (Lucid: 1).
        decay_power: f32,
    },
}

impl Default for ParamKind {
    fn default() -> Self {
        Self::Fourier {
            decorrelate: true,
            decay_power: 1.0,
        }
    }
}

impl ParamKind {
    /// Shape of the trainable tensor for `batch` images of `size` pixels.
    pub fn shape(&self, batch: usize, size: usize) -> [usize; 5] {
        match self {
            Self::Pixel { .. } => [1, batch, 3, size, size],
            Self::Fourier { .. } => [2, batch, 3, size, size / 2 + 1],
        }
    }

    fn decorrelates(&self) -> bool {
        match self {
            Self::Pixel { decorrelate } | Self::Fourier { decorrelate, .. } => *decorrelate,
        }
    }
}

/// Magnitude of each rfft2 frequency (cycles per pixel), `[size, size/2 + 1]` row-major.
pub fn rfft2_freqs(size: usize) -> Vec<f32> {
    let f = size / 2 + 1;
    let fftfreq = |k: usize, n: usize| -> f32 {
        let k = if k <= (n - 1) / 2 {
            k as f32
        } else {
            k as f32 - n as f32
        };
        k / n as f32
    };
    let mut out = Vec::with_capacity(size * f);
    for ky in 0..size {
        let fy = fftfreq(ky, size);
        for kx in 0..f {
            let fx = kx as f32 / size as f32;
            out.push((fx * fx + fy * fy).sqrt());
        }
    }
    out
}

/// Seeded initial values of the trainable tensor: normal with standard deviation `sd`.
pub fn initial_values(
    kind: &ParamKind,
    batch: usize,
    size: usize,
    sd: f32,
    seed: u64,
) -> (Vec<f32>, [usize; 5]) {
    let shape = kind.shape(batch, size);
    let n: usize = shape.iter().product();
    let mut rng = SeededRng::new(seed ^ 0x5eed_1a9e);
    ((0..n).map(|_| rng.normal() * sd).collect(), shape)
}

/// The fixed tensors that turn a parameter into an image (bases and scales), built once.
#[derive(Debug, Clone)]
pub struct ImageBasis<B: Backend> {
    kind: ParamKind,
    size: usize,
    /// Fourier only: per-frequency scale `[1, 1, size, f]`, and the inverse DFT bases.
    fourier: Option<FourierBasis<B>>,
}

#[derive(Debug, Clone)]
struct FourierBasis<B: Backend> {
    scale: Tensor<B, 4>,
    cos_h: Tensor<B, 4>,
    sin_h: Tensor<B, 4>,
    cos_w: Tensor<B, 4>,
    sin_w: Tensor<B, 4>,
}

impl<B: Backend> ImageBasis<B> {
    /// Precomputes what `kind` needs for `size`-pixel images.
    pub fn new(kind: ParamKind, size: usize, device: &B::Device) -> Self {
        let fourier = match kind {
            ParamKind::Pixel { .. } => None,
            ParamKind::Fourier { decay_power, .. } => {
                Some(FourierBasis::new(size, decay_power, device))
            }
        };
        Self {
            kind,
            size,
            fourier,
        }
    }

    /// The images `[batch, 3, size, size]` in [0, 1] for a parameter tensor.
    pub fn to_rgb(&self, param: Tensor<B, 5>) -> Tensor<B, 4> {
        let [_, b, c, _, _] = param.dims();
        let s = self.size;
        let t = match &self.fourier {
            None => param.reshape([b, c, s, s]),
            Some(f) => f.inverse(param),
        };
        let t = if self.kind.decorrelates() {
            decorrelate(t)
        } else {
            t
        };
        burn::tensor::activation::sigmoid(t)
    }
}

impl<B: Backend> FourierBasis<B> {
    fn new(size: usize, decay_power: f32, device: &B::Device) -> Self {
        let f = size / 2 + 1;
        let n = size as f64;
        let floor = 1.0 / size as f32;
        // Lucid: 1 / max(freq, 1/size)^decay * sqrt(h*w), and the image divided by 4.
        let scale: Vec<f32> = rfft2_freqs(size)
            .iter()
            .map(|&fr| fr.max(floor).powf(-decay_power) * size as f32 / 4.0)
            .collect();
        let tau = 2.0 * std::f64::consts::PI;
        let mut cos_h = Vec::with_capacity(size * size);
        let mut sin_h = Vec::with_capacity(size * size);
        for h in 0..size {
            for ky in 0..size {
                let a = tau * ((h * ky) % size) as f64 / n;
                cos_h.push(a.cos() as f32);
                sin_h.push(a.sin() as f32);
            }
        }
        // irfft along the width: bins 1.. (except the Nyquist bin of an even size) count twice;
        // 1/(h*w) is numpy's normalization of the inverse transform.
        let mut cos_w = Vec::with_capacity(f * size);
        let mut sin_w = Vec::with_capacity(f * size);
        for kx in 0..f {
            let weight = if kx == 0 || (size.is_multiple_of(2) && kx == size / 2) {
                1.0
            } else {
                2.0
            };
            for w in 0..size {
                let a = tau * ((kx * w) % size) as f64 / n;
                cos_w.push((weight * a.cos() / (n * n)) as f32);
                sin_w.push((weight * a.sin() / (n * n)) as f32);
            }
        }
        let t = |v: Vec<f32>, r: usize, c: usize| {
            Tensor::<B, 4>::from_data(TensorData::new(v, [1, 1, r, c]), device)
        };
        Self {
            scale: t(scale, size, f),
            cos_h: t(cos_h, size, size),
            sin_h: t(sin_h, size, size),
            cos_w: t(cos_w, f, size),
            sin_w: t(sin_w, f, size),
        }
    }

    /// Inverse real 2-D DFT of the scaled spectrum `[2 (re, im), b, 3, size, f]`.
    fn inverse(&self, param: Tensor<B, 5>) -> Tensor<B, 4> {
        let [_, b, c, h, f] = param.dims();
        let re = param.clone().narrow(0, 0, 1).reshape([b, c, h, f]) * self.scale.clone();
        let im = param.narrow(0, 1, 1).reshape([b, c, h, f]) * self.scale.clone();
        // Along the height: a full complex inverse DFT.
        let yr = self.cos_h.clone().matmul(re.clone()) - self.sin_h.clone().matmul(im.clone());
        let yi = self.sin_h.clone().matmul(re) + self.cos_h.clone().matmul(im);
        // Along the width: the real inverse of a Hermitian-symmetric spectrum.
        yr.matmul(self.cos_w.clone()) - yi.matmul(self.sin_w.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    /// A direct evaluation of numpy's `irfft2` (2-D inverse real FFT) for a small spectrum.
    fn naive_irfft2(re: &[f32], im: &[f32], n: usize) -> Vec<f64> {
        let f = n / 2 + 1;
        // Rebuild the full Hermitian spectrum, then apply the inverse DFT.
        let full = |ky: usize, kx: usize| -> (f64, f64) {
            if kx < f {
                (re[ky * f + kx] as f64, im[ky * f + kx] as f64)
            } else {
                let (my, mx) = ((n - ky) % n, n - kx);
                (re[my * f + mx] as f64, -(im[my * f + mx] as f64))
            }
        };
        let tau = 2.0 * std::f64::consts::PI;
        let mut out = vec![0.0; n * n];
        for y in 0..n {
            for x in 0..n {
                let mut acc = 0.0;
                for ky in 0..n {
                    for kx in 0..n {
                        let (r, i) = full(ky, kx);
                        // numpy drops the imaginary parts of self-conjugate bins
                        let self_conj = (kx == 0 || 2 * kx == n) && (ky == 0 || 2 * ky == n);
                        let i = if self_conj { 0.0 } else { i };
                        let a = tau * (ky * y + kx * x) as f64 / n as f64;
                        acc += r * a.cos() - i * a.sin();
                    }
                }
                out[y * n + x] = acc / (n * n) as f64;
            }
        }
        out
    }

    #[test]
    fn matrix_inverse_dft_matches_a_direct_irfft2() {
        for n in [6usize, 7, 8] {
            let f = n / 2 + 1;
            let mut rng = SeededRng::new(n as u64);
            // Build a spectrum that is Hermitian-consistent along ky for the kx = 0 column
            // (as any rfft2 output is), by taking the rfft2 of a random real image.
            let img: Vec<f64> = (0..n * n).map(|_| rng.normal() as f64).collect();
            let tau = 2.0 * std::f64::consts::PI;
            let (mut re, mut im) = (vec![0f32; n * f], vec![0f32; n * f]);
            for ky in 0..n {
                for kx in 0..f {
                    let (mut r, mut i) = (0.0, 0.0);
                    for y in 0..n {
                        for x in 0..n {
                            let a = -tau * (ky * y + kx * x) as f64 / n as f64;
                            r += img[y * n + x] * a.cos();
                            i += img[y * n + x] * a.sin();
                        }
                    }
                    re[ky * f + kx] = r as f32;
                    im[ky * f + kx] = i as f32;
                }
            }
            let want = naive_irfft2(&re, &im, n);
            for (w, orig) in want.iter().zip(&img) {
                assert!((w - orig).abs() < 1e-4, "the reference inverse is wrong");
            }
            // Undo the 1/f scale and /4 so the basis computes a plain irfft2.
            let basis = FourierBasis::<Flex>::new(n, 0.0, &Default::default());
            let unscale = n as f32 / 4.0;
            let mut param: Vec<f32> = re.iter().map(|v| v / unscale).collect();
            param.extend(im.iter().map(|v| v / unscale));
            let p = Tensor::<Flex, 5>::from_data(
                TensorData::new(param, [2, 1, 1, n, f]),
                &Default::default(),
            );
            let got: Vec<f32> = basis.inverse(p).into_data().into_vec().unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-4, "n={n}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn frequencies_follow_numpy_fftfreq() {
        let f = rfft2_freqs(4);
        // rows ky = 0, 1, -2, -1 (cycles 0, .25, .5, .25); cols kx = 0, 1, 2 (0, .25, .5)
        let want = [
            0.0,
            0.25,
            0.5,
            0.25,
            (0.125f32).sqrt(),
            (0.3125f32).sqrt(),
            0.5,
            (0.3125f32).sqrt(),
            (0.5f32).sqrt(),
            0.25,
            (0.125f32).sqrt(),
            (0.3125f32).sqrt(),
        ];
        for (g, w) in f.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{f:?}");
        }
    }
}
