//! Words rendered from the outlines of a real TrueType font (DejaVu, compiled in), rotated,
//! anti-aliased and fitted inside the image; `write_word` is the typographic-attack tool.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, OutlineCurve};
use image::RgbImage;
use tiny_skia::{FillRule, Path, PathBuilder, Rect, Transform};

use crate::canvas::Canvas;
use crate::colour::to_unit;
use crate::coverage::Coverage;

/// The typeface a word is set in (all bold, for legibility at small sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Typeface {
    /// DejaVu Sans Bold.
    Sans,
    /// DejaVu Serif Condensed Bold.
    Serif,
    /// DejaVu Sans Mono Bold.
    Mono,
}

impl Typeface {
    /// Every typeface, in id order.
    pub const ALL: [Typeface; 3] = [Typeface::Sans, Typeface::Serif, Typeface::Mono];

    /// The parsed font of this typeface.
    fn font(self) -> &'static FontRef<'static> {
        static FONTS: OnceLock<[FontRef<'static>; 3]> = OnceLock::new();
        let fonts = FONTS.get_or_init(|| {
            [
                dejavu::sans::bold(),
                dejavu::serif_condensed::bold(),
                dejavu::sans_mono::bold(),
            ]
            .map(|bytes| FontRef::try_from_slice(bytes).expect("the bundled DejaVu fonts parse"))
        });
        &fonts[self as usize]
    }
}

/// Where and how `write_word` writes a word. Fractions refer to the image's width (x) and
/// height (y, height); out-of-range values are clamped, not rejected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WordParams {
    /// Horizontal centre of the word, as a fraction of the width.
    pub x: f32,
    /// Vertical centre of the word, as a fraction of the height.
    pub y: f32,
    /// Height of capital letters, as a fraction of the image height (shrunk if the word
    /// would not fit).
    pub height: f32,
    /// Text colour.
    pub colour: [u8; 3],
    /// Rotation in degrees, clockwise (clamped to ±90).
    pub rotation: f32,
    /// The typeface.
    pub typeface: Typeface,
    /// A label (a rounded patch of this colour, like a paper note) behind the word, if any.
    pub label: Option<[u8; 3]>,
}

impl WordParams {
    /// Upright sans-serif text in `colour` centred at `(x, y)` with capitals `height` tall.
    pub fn new(x: f32, y: f32, height: f32, colour: [u8; 3]) -> Self {
        Self {
            x,
            y,
            height,
            colour,
            rotation: 0.0,
            typeface: Typeface::Sans,
            label: None,
        }
    }
}

impl Default for WordParams {
    /// Black text, centred, capitals a fifth of the image tall.
    fn default() -> Self {
        Self::new(0.5, 0.5, 0.2, [0, 0, 0])
    }
}

/// A pixel rectangle `[x0, x1) × [y0, y1)`: the region a written word may have changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WordBox {
    /// Left edge (inclusive).
    pub x0: u32,
    /// Top edge (inclusive).
    pub y0: u32,
    /// Right edge (exclusive).
    pub x1: u32,
    /// Bottom edge (exclusive).
    pub y1: u32,
}

/// The smallest cap height, in pixels, a word is drawn at.
const MIN_CAP_PX: f32 = 3.0;
/// The fraction of each image side a word (with its label) may span.
const MAX_SPAN: f32 = 0.94;
/// Label padding around the ink, in cap heights.
const LABEL_PAD: f32 = 0.35;

/// Writes `word` onto `image` (any size) and returns the region it may have changed; `None`
/// (and no change) when the word has nothing to draw, e.g. it is empty.
pub fn write_word(image: &mut RgbImage, word: &str, params: WordParams) -> Option<WordBox> {
    let ink = rasterize_word(word, &params, image.width(), image.height())?;
    if let (Some(mask), Some(colour)) = (&ink.label, params.label) {
        blend(image, mask, ink.region, colour);
    }
    blend(image, &ink.text, ink.region, params.colour);
    Some(ink.region)
}

/// Blends `colour` into `image` through a mask covering `region`.
fn blend(image: &mut RgbImage, mask: &Coverage, region: WordBox, colour: [u8; 3]) {
    let colour = to_unit(colour);
    let width = region.x1 - region.x0;
    for (i, &a) in mask.values().iter().enumerate() {
        if a > 0.0 {
            let px =
                image.get_pixel_mut(region.x0 + i as u32 % width, region.y0 + i as u32 / width);
            for (v, c) in px.0.iter_mut().zip(colour) {
                let old = f32::from(*v) / 255.0;
                *v = ((old + (c - old) * a).clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
            }
        }
    }
}

/// Paints `word` onto a canvas the way [`write_word`] does onto an image.
pub(crate) fn paint_word(canvas: &mut Canvas, word: &str, params: &WordParams) -> Option<WordBox> {
    let ink = rasterize_word(word, params, canvas.width(), canvas.height())?;
    if let (Some(mask), Some(colour)) = (&ink.label, params.label) {
        canvas.paint_at(mask, ink.region.x0, ink.region.y0, to_unit(colour));
    }
    canvas.paint_at(
        &ink.text,
        ink.region.x0,
        ink.region.y0,
        to_unit(params.colour),
    );
    Some(ink.region)
}

/// Where a word lands in an image: its centre and cap height after fitting and clamping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Placement {
    /// Centre as fractions of width and height.
    pub centre: [f32; 2],
    /// Cap height as a fraction of the image height.
    pub height: f32,
    /// The box the word (and label) occupies, in pixels: left, top, right, bottom.
    pub bounds: [f32; 4],
    transform: Transform,
}

/// The glyph outlines of a word, laid out on a baseline in font units (y down).
struct Layout {
    path: Path,
    ink: Rect,
    cap: f32,
}

/// Lays out `word` in `face` (kerning included); `None` if no glyph has an outline.
fn layout(word: &str, face: Typeface) -> Option<Layout> {
    let font = face.font();
    let cap = font
        .outline(font.glyph_id('H'))
        .map(|o| (o.bounds.max.y - o.bounds.min.y).abs())?;
    let mut pb = PathBuilder::new();
    let mut pen = 0.0;
    let mut previous = None;
    for ch in word.chars() {
        let id = font.glyph_id(ch);
        if let Some(prev) = previous {
            pen += font.kern_unscaled(prev, id);
        }
        if let Some(outline) = font.outline(id) {
            let at = |p: ab_glyph::Point| (pen + p.x, -p.y);
            let mut last: Option<(f32, f32)> = None;
            for curve in &outline.curves {
                let (start, end) = match *curve {
                    OutlineCurve::Line(a, b) => (at(a), at(b)),
                    OutlineCurve::Quad(a, _, b) => (at(a), at(b)),
                    OutlineCurve::Cubic(a, _, _, b) => (at(a), at(b)),
                };
                if last != Some(start) {
                    if last.is_some() {
                        pb.close();
                    }
                    pb.move_to(start.0, start.1);
                }
                match *curve {
                    OutlineCurve::Line(_, _) => pb.line_to(end.0, end.1),
                    OutlineCurve::Quad(_, c, _) => {
                        let c = at(c);
                        pb.quad_to(c.0, c.1, end.0, end.1);
                    }
                    OutlineCurve::Cubic(_, c1, c2, _) => {
                        let (c1, c2) = (at(c1), at(c2));
                        pb.cubic_to(c1.0, c1.1, c2.0, c2.1, end.0, end.1);
                    }
                }
                last = Some(end);
            }
            if last.is_some() {
                pb.close();
            }
        }
        pen += font.h_advance_unscaled(id);
        previous = Some(id);
    }
    let path = pb.finish()?;
    let ink = path.bounds();
    Some(Layout { path, ink, cap })
}

/// Fits `layout` into a `width × height` image as `params` ask: clamps the parameters,
/// shrinks the word until it (and its label) fits, and keeps it inside the image.
fn place(layout: &Layout, params: &WordParams, width: f32, height: f32) -> Placement {
    let finite = |v: f32, fallback: f32| if v.is_finite() { v } else { fallback };
    let rotation = finite(params.rotation, 0.0).clamp(-90.0, 90.0);
    let cap_px = (finite(params.height, 0.2).clamp(0.0, 1.0) * height).max(MIN_CAP_PX);
    let pad = if params.label.is_some() {
        LABEL_PAD * layout.cap
    } else {
        0.0
    };
    let (ink_w, ink_h) = (
        layout.ink.width() + 2.0 * pad,
        layout.ink.height() + 2.0 * pad,
    );
    let (sin, cos) = rotation.to_radians().sin_cos();
    let (span_w, span_h) = (
        ink_w * cos.abs() + ink_h * sin.abs(),
        ink_w * sin.abs() + ink_h * cos.abs(),
    );
    let mut scale = cap_px / layout.cap;
    scale = scale
        .min(MAX_SPAN * width / span_w)
        .min(MAX_SPAN * height / span_h);
    let (half_w, half_h) = (span_w * scale / 2.0, span_h * scale / 2.0);
    let keep = |v: f32, half: f32, side: f32| {
        let margin = 0.03 * side;
        let (lo, hi) = (half + margin, side - half - margin);
        if lo <= hi {
            (v * side).clamp(lo, hi)
        } else {
            side / 2.0
        }
    };
    let cx = keep(finite(params.x, 0.5).clamp(0.0, 1.0), half_w, width);
    let cy = keep(finite(params.y, 0.5).clamp(0.0, 1.0), half_h, height);
    let (ink_cx, ink_cy) = (
        (layout.ink.left() + layout.ink.right()) / 2.0,
        (layout.ink.top() + layout.ink.bottom()) / 2.0,
    );
    let transform = Transform::from_translate(cx, cy)
        .pre_rotate(rotation)
        .pre_scale(scale, scale)
        .pre_translate(-ink_cx, -ink_cy);
    Placement {
        centre: [cx / width, cy / height],
        height: scale * layout.cap / height,
        transform,
        bounds: [cx - half_w, cy - half_h, cx + half_w, cy + half_h],
    }
}

/// Where `word` would land in a `width × height` image under `params`; `None` if it draws nothing.
pub(crate) fn placement(
    word: &str,
    params: &WordParams,
    width: f32,
    height: f32,
) -> Option<Placement> {
    layout(word, params.typeface).map(|l| place(&l, params, width, height))
}

/// A word's coverage masks over the region it occupies.
struct WordInk {
    region: WordBox,
    text: Coverage,
    label: Option<Coverage>,
}

/// Rasterises `word` (and its label) for a `width × height` image.
fn rasterize_word(word: &str, params: &WordParams, width: u32, height: u32) -> Option<WordInk> {
    if width == 0 || height == 0 {
        return None;
    }
    let layout = layout(word, params.typeface)?;
    let placed = place(&layout, params, width as f32, height as f32);
    let [l, t, r, b] = placed.bounds;
    let region = WordBox {
        x0: (l.floor() - 1.0).max(0.0) as u32,
        y0: (t.floor() - 1.0).max(0.0) as u32,
        x1: ((r.ceil() + 1.0).max(0.0) as u32).min(width),
        y1: ((b.ceil() + 1.0).max(0.0) as u32).min(height),
    };
    if region.x1 <= region.x0 || region.y1 <= region.y0 {
        return None;
    }
    let (bw, bh) = (region.x1 - region.x0, region.y1 - region.y0);
    let local = placed
        .transform
        .post_translate(-(region.x0 as f32), -(region.y0 as f32));
    let text = Coverage::rasterize(bw, bh, [(&layout.path, FillRule::Winding)], local);
    let label = params.label.and_then(|_| {
        let pad = LABEL_PAD * layout.cap;
        let rect = Rect::from_ltrb(
            layout.ink.left() - pad,
            layout.ink.top() - pad,
            layout.ink.right() + pad,
            layout.ink.bottom() + pad,
        )?;
        let patch = rounded(rect, pad)?;
        Some(Coverage::rasterize(
            bw,
            bh,
            [(&patch, FillRule::Winding)],
            local,
        ))
    });
    Some(WordInk {
        region,
        text,
        label,
    })
}

/// A rectangle with corners rounded by `radius`.
fn rounded(rect: Rect, radius: f32) -> Option<Path> {
    let (l, t, r, b) = (rect.left(), rect.top(), rect.right(), rect.bottom());
    let k = radius.min(rect.width() / 2.0).min(rect.height() / 2.0);
    let mut pb = PathBuilder::new();
    pb.move_to(l + k, t);
    pb.line_to(r - k, t);
    pb.quad_to(r, t, r, t + k);
    pb.line_to(r, b - k);
    pb.quad_to(r, b, r - k, b);
    pb.line_to(l + k, b);
    pb.quad_to(l, b, l, b - k);
    pb.line_to(l, t + k);
    pb.quad_to(l, t, l + k, t);
    pb.close();
    pb.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_height_sets_the_size_and_long_words_shrink() {
        let params = WordParams::new(0.5, 0.5, 0.2, [0, 0, 0]);
        let short = placement("sun", &params, 64.0, 64.0).unwrap();
        assert!((short.height - 0.2).abs() < 1e-4);
        let long = placement(
            "envelope",
            &WordParams {
                height: 0.4,
                ..params
            },
            64.0,
            64.0,
        )
        .unwrap();
        assert!(long.height < 0.4);
        assert!(long.bounds[0] >= 0.0 && long.bounds[2] <= 64.0);
    }

    #[test]
    fn every_typeface_lays_out_letters() {
        for face in Typeface::ALL {
            let l = layout("abc", face).unwrap();
            assert!(l.ink.width() > l.cap, "{face:?}");
        }
        assert!(layout("   ", Typeface::Sans).is_none());
    }
}
