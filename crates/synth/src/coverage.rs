//! Anti-aliased coverage masks: how much of each pixel a shape covers, in `[0, 1]`.

use tiny_skia::{FillRule, Mask, Path, Transform};

/// A per-pixel coverage in `[0, 1]`, row-major.
#[derive(Clone, Debug)]
pub(crate) struct Coverage {
    width: u32,
    height: u32,
    alpha: Vec<f32>,
}

impl Coverage {
    /// An empty (all zero) mask.
    pub(crate) fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            alpha: vec![0.0; (width * height) as usize],
        }
    }

    /// The union of `paths` filled under `transform`, anti-aliased by tiny-skia.
    pub(crate) fn rasterize<'a>(
        width: u32,
        height: u32,
        paths: impl IntoIterator<Item = (&'a Path, FillRule)>,
        transform: Transform,
    ) -> Self {
        let mut out = Self::new(width, height);
        let Some(mut mask) = Mask::new(width, height) else {
            return out;
        };
        let mut any = false;
        for (path, rule) in paths {
            mask.fill_path(path, rule, true, transform);
            any = true;
        }
        if any {
            for (a, &m) in out.alpha.iter_mut().zip(mask.data()) {
                *a = f32::from(m) / 255.0;
            }
        }
        out
    }

    /// The width in pixels.
    pub(crate) fn width(&self) -> u32 {
        self.width
    }

    /// The coverage values, row-major.
    pub(crate) fn values(&self) -> &[f32] {
        &self.alpha
    }

    /// Removes `other` from this mask (`a · (1 − b)`).
    pub(crate) fn subtract(&mut self, other: &Coverage) {
        for (a, b) in self.alpha.iter_mut().zip(&other.alpha) {
            *a *= 1.0 - b;
        }
    }

    /// Adds `other` to this mask (`a + b − a·b`).
    pub(crate) fn unite(&mut self, other: &Coverage) {
        for (a, b) in self.alpha.iter_mut().zip(&other.alpha) {
            *a = *a + b - *a * b;
        }
    }

    /// The sum of coverage inside the pixel rectangle `[x0, x1) × [y0, y1)` (clipped).
    pub(crate) fn sum_within(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> f32 {
        let w = self.width as usize;
        let clip = |v: f32, side: u32| v.round().clamp(0.0, side as f32) as usize;
        let (x0, x1) = (clip(x0, self.width), clip(x1, self.width));
        let (y0, y1) = (clip(y0, self.height), clip(y1, self.height));
        (y0..y1)
            .map(|y| {
                self.alpha[y * w + x0..y * w + x1.max(x0)]
                    .iter()
                    .sum::<f32>()
            })
            .sum()
    }

    /// Multiplies each pixel by `pattern(x, y)` at the pixel centre.
    pub(crate) fn modulate(&mut self, pattern: impl Fn(f32, f32) -> f32) {
        let w = self.width as usize;
        for (i, a) in self.alpha.iter_mut().enumerate() {
            if *a > 0.0 {
                let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
                *a *= pattern(x, y).clamp(0.0, 1.0);
            }
        }
    }

    /// The mask shrunk by `radius` pixels (a minimum filter over a disc; outside counts as 0).
    pub(crate) fn eroded(&self, radius: f32) -> Coverage {
        let reach = radius.ceil() as i32;
        let offsets: Vec<(i32, i32)> = (-reach..=reach)
            .flat_map(|dy| (-reach..=reach).map(move |dx| (dx, dy)))
            .filter(|&(dx, dy)| ((dx * dx + dy * dy) as f32) <= radius * radius)
            .collect();
        let (w, h) = (self.width as i32, self.height as i32);
        let mut out = Coverage::new(self.width, self.height);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) as usize;
                if self.alpha[i] == 0.0 {
                    continue;
                }
                let mut m = self.alpha[i];
                for &(dx, dy) in &offsets {
                    let (sx, sy) = (x + dx, y + dy);
                    let v = if sx < 0 || sy < 0 || sx >= w || sy >= h {
                        0.0
                    } else {
                        self.alpha[(sy * w + sx) as usize]
                    };
                    m = m.min(v);
                    if m == 0.0 {
                        break;
                    }
                }
                out.alpha[i] = m;
            }
        }
        out
    }

    /// The band of width `radius` just inside the mask's edges (mask minus its erosion).
    pub(crate) fn contour(&self, radius: f32) -> Coverage {
        let inner = self.eroded(radius);
        let mut out = self.clone();
        for (a, b) in out.alpha.iter_mut().zip(&inner.alpha) {
            *a = (*a - b).max(0.0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiny_skia::PathBuilder;

    #[test]
    fn a_disc_covers_about_its_area() {
        let disc = PathBuilder::from_circle(16.0, 16.0, 10.0).unwrap();
        let cov = Coverage::rasterize(32, 32, [(&disc, FillRule::Winding)], Transform::identity());
        let area: f32 = cov.values().iter().sum();
        assert!((area - std::f32::consts::PI * 100.0).abs() < 10.0, "{area}");
        let ring = cov.contour(2.0);
        let ring_area: f32 = ring.values().iter().sum();
        assert!(ring_area > 80.0 && ring_area < 140.0, "{ring_area}");
    }
}
