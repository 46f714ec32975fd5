//! Drawings: one concept's figure placed, styled and painted onto a canvas.

use tiny_skia::Transform;

use crate::attribute::{Position, Size, Style};
use crate::canvas::Canvas;
use crate::colour::{Colour, Rgb, contrast, to_unit};
use crate::coverage::Coverage;
use crate::figure::{Figure, Role, figure};
use crate::rng::Rng;

/// A drawn concept: what is drawn, in which colour and style, where and how large.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drawing {
    /// The concept's class id (index into [`crate::CONCEPTS`]).
    pub concept: usize,
    /// The named colour of the body.
    pub colour: Colour,
    /// The exact body colour (the named colour with a little jitter).
    pub ink: [u8; 3],
    /// How the body is painted.
    pub style: Style,
    /// Small or big, as captions say.
    pub size: Size,
    /// The side of the figure's box as a fraction of the image side.
    pub extent: f32,
    /// Where the figure sits, as captions say.
    pub position: Position,
    /// The centre of the figure's box, as fractions of width and height.
    pub centre: [f32; 2],
    /// Rotation in degrees, clockwise.
    pub rotation: f32,
    /// Whether the figure is mirrored left to right.
    pub mirrored: bool,
}

/// Extent ranges (fraction of the image side) of small and big drawings.
const SMALL_EXTENT: (f32, f32) = (0.4, 0.5);
const BIG_EXTENT: (f32, f32) = (0.58, 0.7);

impl Drawing {
    /// A big, filled, upright drawing of `concept` in `colour`, centred: the canonical view.
    pub fn new(concept: usize, colour: Colour) -> Self {
        Self {
            concept,
            colour,
            ink: colour.rgb(),
            style: Style::Filled,
            size: Size::Big,
            extent: 0.64,
            position: Position::Centre,
            centre: [0.5, 0.5],
            rotation: 0.0,
            mirrored: false,
        }
    }

    /// A random drawing of `concept`, big with probability `p_big`: colour, style, size,
    /// position, tilt and mirroring vary.
    pub(crate) fn sample(rng: &mut Rng, concept: usize, p_big: f32) -> Self {
        let fig = figure(concept);
        let colour = rng.pick(&Colour::ALL);
        let ink = jitter(rng, colour.rgb(), 10);
        let style = match rng.unit() {
            u if u < 0.4 => Style::Filled,
            u if u < 0.6 => Style::Outline,
            u if u < 0.8 => Style::Striped,
            _ => Style::Dotted,
        };
        let size = if rng.chance(p_big) {
            Size::Big
        } else {
            Size::Small
        };
        let extent = match size {
            Size::Small => rng.range(SMALL_EXTENT.0, SMALL_EXTENT.1),
            Size::Big => rng.range(BIG_EXTENT.0, BIG_EXTENT.1),
        };
        let position = rng.pick(&Position::ALL);
        let reach = (1.0 - extent) / 2.0 - 0.03;
        let shift = rng.range(0.12f32.min(reach), reach);
        let centre = position.sample_centre(rng, shift, 0.03);
        let rotation = rng.range(-fig.tilt, fig.tilt);
        // Drawn whether or not it applies, so one seed gives every concept the same attributes.
        let flip = rng.chance(0.5);
        let mirrored = fig.mirror && flip;
        Self {
            concept,
            colour,
            ink,
            style,
            size,
            extent,
            position,
            centre,
            rotation,
            mirrored,
        }
    }

    /// The body colour in `[0, 1]` units.
    pub(crate) fn ink_rgb(&self) -> Rgb {
        to_unit(self.ink)
    }

    /// Paints the drawing onto `canvas`.
    pub(crate) fn paint(&self, canvas: &mut Canvas) {
        let (w, h) = (canvas.width(), canvas.height());
        let side = w.min(h) as f32 * self.extent;
        let masks = self.masks(w, h);
        let ink = self.ink_rgb();
        let line = (side * 0.07).max(1.2);
        let thin = (side * 0.045).max(1.2);
        match self.style {
            Style::Filled => {
                canvas.paint(&masks.body, ink);
                let detail = contrasting(ink);
                canvas.paint(&masks.contrast_fill, detail);
                canvas.paint(&masks.contrast_line, detail);
            }
            Style::Outline | Style::Striped | Style::Dotted => {
                let mut region = masks.body.clone();
                region.subtract(&masks.contrast_fill);
                if self.style == Style::Outline {
                    canvas.paint(&region.contour(line), ink);
                } else {
                    let mut pattern = region.clone();
                    pattern.modulate(texture(self.style, side));
                    pattern.subtract(&masks.contrast_halo);
                    canvas.paint(&pattern, ink);
                    canvas.paint(&region.contour(thin), ink);
                }
                canvas.paint(&masks.contrast_fill.contour(thin.max(line * 0.7)), ink);
                canvas.paint(&masks.contrast_line, ink);
            }
        }
        canvas.paint(&masks.accent, ink);
    }
}

impl Drawing {
    /// The figure rasterised role by role for a `w × h` image.
    fn masks(&self, w: u32, h: u32) -> Masks {
        let scale = w.min(h) as f32 * self.extent / 2.0;
        let transform =
            Transform::from_translate(self.centre[0] * w as f32, self.centre[1] * h as f32)
                .pre_rotate(self.rotation)
                .pre_scale(if self.mirrored { -scale } else { scale }, scale);
        Masks::of(&figure(self.concept), w, h, scale, transform)
    }

    /// Where the drawing puts ink (whatever its style) on a `size × size` grid.
    pub(crate) fn silhouette(&self, size: u32) -> Coverage {
        let masks = self.masks(size, size);
        let mut out = masks.body;
        for detail in [&masks.contrast_fill, &masks.contrast_line, &masks.accent] {
            out.unite(detail);
        }
        out
    }
}

/// A figure rasterised role by role.
struct Masks {
    body: Coverage,
    contrast_fill: Coverage,
    contrast_line: Coverage,
    /// The contrast lines widened, to clear a gap for them through stripes and dots.
    contrast_halo: Coverage,
    accent: Coverage,
}

impl Masks {
    fn of(fig: &Figure, w: u32, h: u32, scale: f32, transform: Transform) -> Self {
        let paths: Vec<_> = fig
            .parts
            .iter()
            .filter_map(|p| {
                p.fill_path(scale, 1.0)
                    .map(|(path, rule)| (p.role, p.stroke.is_some(), path, rule))
            })
            .collect();
        let layer = |want: &dyn Fn(Role, bool) -> bool| {
            Coverage::rasterize(
                w,
                h,
                paths.iter().filter(|p| want(p.0, p.1)).map(|p| (&p.2, p.3)),
                transform,
            )
        };
        let halos: Vec<_> = fig
            .parts
            .iter()
            .filter(|p| p.role == Role::Contrast && p.stroke.is_some())
            .filter_map(|p| p.fill_path(scale, 2.6))
            .collect();
        let mut body = layer(&|r, _| r == Role::Body);
        body.subtract(&layer(&|r, _| r == Role::Hole));
        Self {
            body,
            contrast_fill: layer(&|r, line| r == Role::Contrast && !line),
            contrast_line: layer(&|r, line| r == Role::Contrast && line),
            contrast_halo: Coverage::rasterize(w, h, halos.iter().map(|(p, r)| (p, *r)), transform),
            accent: layer(&|r, _| r == Role::Accent),
        }
    }
}

/// Near-white or near-black, whichever stands out more against `ink`.
pub(crate) fn contrasting(ink: Rgb) -> Rgb {
    let (light, dark) = ([0.97, 0.96, 0.93], [0.08, 0.08, 0.1]);
    if contrast(ink, light) >= contrast(ink, dark) {
        light
    } else {
        dark
    }
}

/// The fill pattern of a striped or dotted body, as opacity at a pixel position.
fn texture(style: Style, side: f32) -> impl Fn(f32, f32) -> f32 {
    let period = (side * 0.15).max(3.2);
    let dotted = style == Style::Dotted;
    move |x, y| {
        if dotted {
            let row = (y / period).floor();
            let shift = if row as i64 % 2 == 0 {
                0.0
            } else {
                period / 2.0
            };
            let dx = (x + shift).rem_euclid(period) - period / 2.0;
            let dy = y.rem_euclid(period) - period / 2.0;
            let radius = (period * 0.32).max(1.0);
            radius - (dx * dx + dy * dy).sqrt() + 0.5
        } else {
            let t = (x + y) * std::f32::consts::FRAC_1_SQRT_2 / period;
            let distance = (t - t.floor() - 0.5).abs() * period;
            period * 0.3 - distance + 0.5
        }
    }
}

/// `rgb` with each component moved by up to `amount` either way.
pub(crate) fn jitter(rng: &mut Rng, rgb: [u8; 3], amount: i32) -> [u8; 3] {
    rgb.map(|v| {
        (i32::from(v) + rng.below(2 * amount as usize + 1) as i32 - amount).clamp(0, 255) as u8
    })
}
