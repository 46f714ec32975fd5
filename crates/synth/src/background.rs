//! Backgrounds: plain, vertical gradients and light noise, pale or dark.

use crate::attribute::Tone;
use crate::canvas::Canvas;
use crate::colour::{Rgb, contrast, to_unit};
use crate::rng::{Rng, mix};

/// How a background is painted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackgroundKind {
    /// One flat colour.
    Plain,
    /// A vertical blend from the top colour to the bottom colour.
    Gradient,
    /// The top colour with fine grain and soft blotches of grey noise.
    Noise,
}

/// A background: its kind, tone and colours, everything needed to repaint it exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Background {
    /// How it is painted.
    pub kind: BackgroundKind,
    /// Pale or dark (what captions say).
    pub tone: Tone,
    /// The colour at the top edge (the only colour of plain and noise backgrounds).
    pub top: [u8; 3],
    /// The colour at the bottom edge (gradients only; equal to `top` otherwise).
    pub bottom: [u8; 3],
    /// The noise amplitude in `[0, 1]` units of each component (noise backgrounds only).
    pub noise: f32,
    /// The seed of the noise pattern.
    pub noise_seed: u64,
}

impl Background {
    /// A flat background of one colour; its tone follows the colour's lightness.
    pub fn plain(colour: [u8; 3]) -> Self {
        let tone = if crate::colour::luminance(to_unit(colour)) > 0.18 {
            Tone::Light
        } else {
            Tone::Dark
        };
        Self {
            kind: BackgroundKind::Plain,
            tone,
            top: colour,
            bottom: colour,
            noise: 0.0,
            noise_seed: 0,
        }
    }

    /// A random background of the given tone.
    pub(crate) fn sample(rng: &mut Rng, tone: Tone) -> Self {
        let kind = match rng.unit() {
            u if u < 0.45 => BackgroundKind::Plain,
            u if u < 0.75 => BackgroundKind::Gradient,
            _ => BackgroundKind::Noise,
        };
        let top = tinted(rng, tone);
        let bottom = if kind == BackgroundKind::Gradient {
            tinted(rng, tone)
        } else {
            top
        };
        let noise = if kind == BackgroundKind::Noise {
            rng.range(0.04, 0.09)
        } else {
            0.0
        };
        Self {
            kind,
            tone,
            top,
            bottom,
            noise,
            noise_seed: rng.next_u64(),
        }
    }

    /// The lowest contrast ratio between `colour` and any colour this background can take.
    pub(crate) fn contrast_with(&self, colour: Rgb) -> f32 {
        [self.top, self.bottom]
            .iter()
            .flat_map(|&c| {
                [-self.noise, self.noise].map(move |n| to_unit(c).map(|v| (v + n).clamp(0.0, 1.0)))
            })
            .map(|bg| contrast(bg, colour))
            .fold(f32::INFINITY, f32::min)
    }

    /// Paints the background over the whole canvas.
    pub(crate) fn paint(&self, canvas: &mut Canvas) {
        let (top, bottom) = (to_unit(self.top), to_unit(self.bottom));
        let h = canvas.height().max(2) as f32;
        let w = canvas.width().max(1) as f32;
        let (kind, noise, seed) = (self.kind, self.noise, self.noise_seed);
        canvas.shade(|x, y| match kind {
            BackgroundKind::Plain => top,
            BackgroundKind::Gradient => {
                let t = y as f32 / (h - 1.0);
                [0, 1, 2].map(|c| top[c] + (bottom[c] - top[c]) * t)
            }
            BackgroundKind::Noise => {
                let grain = hash_unit(seed, x, y) - 0.5;
                let blotch =
                    value_noise(seed ^ 0xb10c, x as f32 / w * 5.0, y as f32 / h * 5.0) - 0.5;
                let n = noise * (1.2 * grain + 1.0 * blotch);
                top.map(|v| (v + n).clamp(0.0, 1.0))
            }
        });
    }
}

/// A pale or dark colour with a faint random tint.
fn tinted(rng: &mut Rng, tone: Tone) -> [u8; 3] {
    let (lightness, saturation) = match tone {
        Tone::Light => (rng.range(0.8, 0.97), rng.range(0.0, 0.1)),
        Tone::Dark => (rng.range(0.05, 0.24), rng.range(0.0, 0.08)),
    };
    let tint = [
        rng.range(-1.0, 1.0),
        rng.range(-1.0, 1.0),
        rng.range(-1.0, 1.0),
    ];
    crate::colour::to_bytes(tint.map(|t| lightness + saturation * t))
}

/// A uniform number in `[0, 1)` from a hash of a seed and integer coordinates.
fn hash_unit(seed: u64, x: u32, y: u32) -> f32 {
    let h = mix(seed ^ mix((u64::from(x) << 32) | u64::from(y)));
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// Smoothly interpolated lattice noise in `[0, 1)` at a real-valued point.
fn value_noise(seed: u64, x: f32, y: f32) -> f32 {
    let (xi, yi) = (x.floor(), y.floor());
    let (fx, fy) = (x - xi, y - yi);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let (x0, y0) = (xi as u32, yi as u32);
    let at = |dx: u32, dy: u32| hash_unit(seed, x0 + dx, y0 + dy);
    let top = at(0, 0) + (at(1, 0) - at(0, 0)) * sx;
    let bottom = at(0, 1) + (at(1, 1) - at(0, 1)) * sx;
    top + (bottom - top) * sy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tones_are_pale_or_dark() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let light = Background::sample(&mut rng, Tone::Light);
            let dark = Background::sample(&mut rng, Tone::Dark);
            assert!(light.top.iter().all(|&v| v > 180), "{light:?}");
            assert!(dark.top.iter().all(|&v| v < 80), "{dark:?}");
            assert!(light.contrast_with([0.0; 3]) > 7.0);
            assert!(dark.contrast_with([1.0; 3]) > 5.0);
        }
    }
}
