//! Image preprocessing exactly as CLIP's reference processor does it: decode, convert to RGB,
//! resize the shorter side with Pillow's bicubic filter, centre-crop, scale and normalize.
//!
//! Pillow's resampler is reproduced bit for bit (fixed-point coefficients, two passes with
//! 8-bit rounding in between), because users report that resize differences move CLIP's
//! outputs noticeably.

use burn::tensor::{Tensor, TensorData, backend::Backend};
use image::RgbImage;

use crate::config::ClipConfig;
use crate::error::{ModelError, Result};

/// Turns images into the normalized `[3, size, size]` input a CLIP expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessor {
    /// Output side in pixels.
    pub size: usize,
    /// Channel means subtracted after scaling to [0, 1].
    pub mean: [f32; 3],
    /// Channel standard deviations.
    pub std: [f32; 3],
}

impl Preprocessor {
    /// The preprocessing a model was trained with.
    pub fn for_config(cfg: &ClipConfig) -> Self {
        Self {
            size: cfg.vision.image_size(),
            mean: cfg.image_mean,
            std: cfg.image_std,
        }
    }

    /// Decodes PNG, JPEG, GIF, WebP or BMP bytes into RGB (alpha is dropped, as Pillow's
    /// `convert("RGB")` does).
    pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
        let img = image::load_from_memory(bytes).map_err(|e| ModelError::Image(e.to_string()))?;
        if img.width() == 0 || img.height() == 0 {
            return Err(ModelError::Image("the image has no pixels".into()));
        }
        Ok(img.to_rgb8())
    }

    /// Resizes the shorter side to `size` and centre-crops a square.
    pub fn resize_and_crop(&self, img: &RgbImage) -> RgbImage {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let s = self.size;
        // transformers: the short side becomes `size`, the long side int(size * long / short).
        let (nw, nh) = if w <= h {
            (s, s * h / w)
        } else {
            (s * w / h, s)
        };
        let resized = if (nw, nh) == (w, h) {
            img.clone()
        } else {
            resize_bicubic(img, nw, nh)
        };
        let top = nh.saturating_sub(s) / 2;
        let left = nw.saturating_sub(s) / 2;
        let mut out = RgbImage::new(s as u32, s as u32);
        for y in 0..s.min(nh) {
            for x in 0..s.min(nw) {
                out.put_pixel(
                    x as u32,
                    y as u32,
                    *resized.get_pixel((x + left) as u32, (y + top) as u32),
                );
            }
        }
        out
    }

    /// Scales to [0, 1] and normalizes an image already `size` square, giving `[3, size, size]`.
    pub fn normalize(&self, img: &RgbImage) -> Vec<f32> {
        let s = self.size;
        let mut out = vec![0.0; 3 * s * s];
        for (x, y, p) in img.enumerate_pixels() {
            for c in 0..3 {
                let v = (p[c] as f64 * (1.0 / 255.0)) as f32;
                out[c * s * s + y as usize * s + x as usize] = (v - self.mean[c]) / self.std[c];
            }
        }
        out
    }

    /// The whole pipeline for one image.
    pub fn prepare(&self, img: &RgbImage) -> Vec<f32> {
        self.normalize(&self.resize_and_crop(img))
    }

    /// A batch `[n, 3, size, size]` on a device.
    pub fn batch<B: Backend>(&self, images: &[RgbImage], device: &B::Device) -> Tensor<B, 4> {
        let s = self.size;
        let data: Vec<f32> = images.iter().flat_map(|img| self.prepare(img)).collect();
        Tensor::from_data(TensorData::new(data, [images.len(), 3, s, s]), device)
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Pillow's per-output-pixel source window and fixed-point weights along one axis.
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = w.iter().sum();
            let fixed = w
                .iter()
                .map(|&k| {
                    let k = if total != 0.0 { k / total } else { k };
                    let v = k * (1u32 << PRECISION_BITS) as f64;
                    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn clip8(v: i64) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes with Pillow's `Image.resize(..., BICUBIC)`, horizontal pass first.
pub fn resize_bicubic(img: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw();
    let horizontal: Vec<u8> = if out_w != w {
        let coeffs = coefficients(w, out_w);
        let mut buf = vec![0u8; out_w * h * 3];
        for y in 0..h {
            for (xx, (xmin, k)) in coeffs.iter().enumerate() {
                for c in 0..3 {
                    let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                    for (i, &kv) in k.iter().enumerate() {
                        ss += src[(y * w + xmin + i) * 3 + c] as i64 * kv as i64;
                    }
                    buf[(y * out_w + xx) * 3 + c] = clip8(ss);
                }
            }
        }
        buf
    } else {
        src.to_vec()
    };
    let out: Vec<u8> = if out_h != h {
        let coeffs = coefficients(h, out_h);
        let mut buf = vec![0u8; out_w * out_h * 3];
        for (yy, (ymin, k)) in coeffs.iter().enumerate() {
            for x in 0..out_w {
                for c in 0..3 {
                    let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                    for (i, &kv) in k.iter().enumerate() {
                        ss += horizontal[((ymin + i) * out_w + x) * 3 + c] as i64 * kv as i64;
                    }
                    buf[(yy * out_w + x) * 3 + c] = clip8(ss);
                }
            }
        }
        buf
    } else {
        horizontal
    };
    RgbImage::from_raw(out_w as u32, out_h as u32, out).expect("buffer matches the size")
}
