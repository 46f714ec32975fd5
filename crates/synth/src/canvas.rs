//! A floating-point RGB image that coverage masks are painted onto.

use image::RgbImage;

use crate::colour::{Rgb, to_bytes};
use crate::coverage::Coverage;

/// An RGB image with `[0, 1]` components, row-major.
#[derive(Clone, Debug)]
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<Rgb>,
}

impl Canvas {
    /// A canvas filled with `colour`.
    pub(crate) fn new(width: u32, height: u32, colour: Rgb) -> Self {
        Self {
            width,
            height,
            pixels: vec![colour; (width * height) as usize],
        }
    }

    /// The canvas as an 8-bit image.
    pub(crate) fn to_image(&self) -> RgbImage {
        let mut out = RgbImage::new(self.width, self.height);
        for (dst, &src) in out.pixels_mut().zip(&self.pixels) {
            dst.0 = to_bytes(src);
        }
        out
    }

    /// The width in pixels.
    pub(crate) fn width(&self) -> u32 {
        self.width
    }

    /// The height in pixels.
    pub(crate) fn height(&self) -> u32 {
        self.height
    }

    /// Sets every pixel from `shade(x, y)` evaluated at the pixel's integer coordinates.
    pub(crate) fn shade(&mut self, shade: impl Fn(u32, u32) -> Rgb) {
        let w = self.width.max(1);
        for (i, p) in self.pixels.iter_mut().enumerate() {
            *p = shade(i as u32 % w, i as u32 / w);
        }
    }

    /// Blends `colour` over the canvas with the mask's coverage as opacity.
    pub(crate) fn paint(&mut self, mask: &Coverage, colour: Rgb) {
        debug_assert_eq!(mask.width(), self.width);
        for (p, &a) in self.pixels.iter_mut().zip(mask.values()) {
            if a > 0.0 {
                for c in 0..3 {
                    p[c] += (colour[c] - p[c]) * a;
                }
            }
        }
    }

    /// Blends `colour` through a mask whose top-left pixel lies at `(x0, y0)` on the canvas.
    pub(crate) fn paint_at(&mut self, mask: &Coverage, x0: u32, y0: u32, colour: Rgb) {
        let mw = mask.width().max(1);
        for (i, &a) in mask.values().iter().enumerate() {
            let (x, y) = (x0 + i as u32 % mw, y0 + i as u32 / mw);
            if a > 0.0 && x < self.width && y < self.height {
                let p = &mut self.pixels[(y * self.width + x) as usize];
                for c in 0..3 {
                    p[c] += (colour[c] - p[c]) * a;
                }
            }
        }
    }
}
