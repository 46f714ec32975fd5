//! The vector geometry of every concept, in a unit box `[-1, 1]²` (x right, y down).
//!
//! A figure is a list of parts, each with a role: the body carries the concept's colour and
//! style, holes are cut out of it, contrast details (a door, an iris) sit on the body in a
//! contrasting shade, and accents (clock hands, a pupil) are drawn on top in the body colour.

use tiny_skia::{FillRule, Path, PathBuilder, Rect, Transform};

/// What a part contributes to the drawing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The silhouette, painted in the concept's colour and style.
    Body,
    /// Cut out of the silhouette.
    Hole,
    /// A detail in a shade contrasting with the body (outlined in non-filled styles).
    Contrast,
    /// A detail drawn last in the body colour.
    Accent,
}

/// One filled or stroked path of a figure.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    /// What the part contributes.
    pub role: Role,
    /// The outline (or centre line when stroked), in unit-box coordinates.
    pub path: Path,
    /// `Some(width)` (unit-box units) when the path is a line to stroke, `None` to fill it.
    pub stroke: Option<f32>,
}

/// The geometry of one concept and how much it may be varied.
#[derive(Clone, Debug)]
pub(crate) struct Figure {
    /// The parts in drawing order within each role.
    pub parts: Vec<Part>,
    /// The largest rotation (degrees, either way) that keeps the concept recognisable.
    pub tilt: f32,
    /// Whether a mirrored copy is still the same concept drawn naturally.
    pub mirror: bool,
}

impl Part {
    /// The part as a fillable path at `scale` pixels per unit, strokes expanded to outlines
    /// `widen` times their width.
    pub(crate) fn fill_path(&self, scale: f32, widen: f32) -> Option<(Path, FillRule)> {
        match self.stroke {
            None => Some((self.path.clone(), FillRule::Winding)),
            Some(width) => {
                let stroke = tiny_skia::Stroke {
                    width: width * widen,
                    line_cap: tiny_skia::LineCap::Round,
                    line_join: tiny_skia::LineJoin::Round,
                    ..tiny_skia::Stroke::default()
                };
                self.path
                    .stroke(&stroke, scale.max(1.0))
                    .map(|p| (p, FillRule::Winding))
            }
        }
    }
}

/// Collects the parts of a figure with small helpers for common shapes.
struct Sketch {
    parts: Vec<Part>,
}

impl Sketch {
    fn new() -> Self {
        Self { parts: Vec::new() }
    }

    fn add(&mut self, role: Role, path: Option<Path>, stroke: Option<f32>) {
        if let Some(path) = path {
            self.parts.push(Part { role, path, stroke });
        }
    }

    fn circle(&mut self, role: Role, cx: f32, cy: f32, r: f32) {
        self.add(role, PathBuilder::from_circle(cx, cy, r), None);
    }

    fn ellipse(&mut self, role: Role, cx: f32, cy: f32, rx: f32, ry: f32, degrees: f32) {
        let path = Rect::from_ltrb(cx - rx, cy - ry, cx + rx, cy + ry)
            .and_then(PathBuilder::from_oval)
            .and_then(|p| p.transform(Transform::from_rotate_at(degrees, cx, cy)));
        self.add(role, path, None);
    }

    fn rect(&mut self, role: Role, l: f32, t: f32, r: f32, b: f32) {
        self.add(
            role,
            Rect::from_ltrb(l, t, r, b).map(PathBuilder::from_rect),
            None,
        );
    }

    fn round_rect(&mut self, role: Role, l: f32, t: f32, r: f32, b: f32, radius: f32) {
        let k = radius.min((r - l) / 2.0).min((b - t) / 2.0);
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
        self.add(role, pb.finish(), None);
    }

    fn polygon(&mut self, role: Role, points: &[(f32, f32)]) {
        let mut pb = PathBuilder::new();
        pb.move_to(points[0].0, points[0].1);
        for &(x, y) in &points[1..] {
            pb.line_to(x, y);
        }
        pb.close();
        self.add(role, pb.finish(), None);
    }

    fn line(&mut self, role: Role, points: &[(f32, f32)], width: f32) {
        let mut pb = PathBuilder::new();
        pb.move_to(points[0].0, points[0].1);
        for &(x, y) in &points[1..] {
            pb.line_to(x, y);
        }
        self.add(role, pb.finish(), Some(width));
    }

    fn shape(&mut self, role: Role, stroke: Option<f32>, build: impl FnOnce(&mut PathBuilder)) {
        let mut pb = PathBuilder::new();
        build(&mut pb);
        self.add(role, pb.finish(), stroke);
    }

    fn finish(self, tilt: f32, mirror: bool) -> Figure {
        Figure {
            parts: self.parts,
            tilt,
            mirror,
        }
    }
}

/// A point at `radius` and `degrees` (0 = right, 90 = down) around `(cx, cy)`.
fn polar(cx: f32, cy: f32, radius: f32, degrees: f32) -> (f32, f32) {
    let a = degrees.to_radians();
    (cx + radius * a.cos(), cy + radius * a.sin())
}

/// The figure of concept `id` (an index into [`crate::CONCEPTS`]).
///
/// # Panics
/// If `id` is not a concept id.
pub(crate) fn figure(id: usize) -> Figure {
    use Role::{Accent, Body, Contrast, Hole};
    let mut s = Sketch::new();
    match crate::CONCEPTS[id] {
        "circle" => {
            s.circle(Body, 0.0, 0.0, 0.72);
            s.finish(0.0, false)
        }
        "square" => {
            s.rect(Body, -0.88, -0.88, 0.88, 0.88);
            s.finish(15.0, false)
        }
        "triangle" => {
            s.polygon(Body, &[(0.0, -0.92), (0.96, 0.74), (-0.96, 0.74)]);
            s.finish(12.0, false)
        }
        "star" => {
            let points: Vec<_> = (0..10)
                .map(|k| {
                    polar(
                        0.0,
                        0.08,
                        if k % 2 == 0 { 1.0 } else { 0.42 },
                        -90.0 + 36.0 * k as f32,
                    )
                })
                .collect();
            s.polygon(Body, &points);
            s.finish(20.0, false)
        }
        "heart" => {
            s.shape(Body, None, |p| {
                p.move_to(0.0, 0.92);
                p.cubic_to(-0.45, 0.55, -1.0, 0.15, -1.0, -0.32);
                p.cubic_to(-1.0, -0.72, -0.72, -0.92, -0.48, -0.92);
                p.cubic_to(-0.22, -0.92, -0.05, -0.75, 0.0, -0.55);
                p.cubic_to(0.05, -0.75, 0.22, -0.92, 0.48, -0.92);
                p.cubic_to(0.72, -0.92, 1.0, -0.72, 1.0, -0.32);
                p.cubic_to(1.0, 0.15, 0.45, 0.55, 0.0, 0.92);
                p.close();
            });
            s.finish(15.0, false)
        }
        "cross" => {
            let (a, b) = (0.3, 0.92);
            s.polygon(
                Body,
                &[
                    (-a, -b),
                    (a, -b),
                    (a, -a),
                    (b, -a),
                    (b, a),
                    (a, a),
                    (a, b),
                    (-a, b),
                    (-a, a),
                    (-b, a),
                    (-b, -a),
                    (-a, -a),
                ],
            );
            s.finish(10.0, false)
        }
        "diamond" => {
            s.polygon(Body, &[(0.0, -1.0), (0.68, 0.0), (0.0, 1.0), (-0.68, 0.0)]);
            s.finish(8.0, false)
        }
        "hexagon" => {
            let points: Vec<_> = (0..6)
                .map(|k| polar(0.0, 0.0, 0.95, 60.0 * k as f32))
                .collect();
            s.polygon(Body, &points);
            s.finish(8.0, false)
        }
        "arrow" => {
            s.polygon(
                Body,
                &[
                    (-0.95, -0.17),
                    (0.15, -0.17),
                    (0.15, -0.55),
                    (0.95, 0.0),
                    (0.15, 0.55),
                    (0.15, 0.17),
                    (-0.95, 0.17),
                ],
            );
            s.finish(20.0, true)
        }
        "moon" => {
            s.circle(Body, -0.08, 0.0, 0.92);
            s.circle(Hole, 0.38, -0.18, 0.8);
            s.finish(20.0, true)
        }
        "ring" => {
            s.circle(Body, 0.0, 0.0, 0.92);
            s.circle(Hole, 0.0, 0.0, 0.55);
            s.finish(0.0, false)
        }
        "house" => {
            s.polygon(Body, &[(-0.98, -0.02), (0.0, -0.92), (0.98, -0.02)]);
            s.rect(Body, 0.42, -0.8, 0.64, -0.3);
            s.rect(Body, -0.7, -0.1, 0.7, 0.92);
            s.rect(Contrast, -0.16, 0.4, 0.16, 0.92);
            s.rect(Contrast, -0.54, 0.12, -0.28, 0.38);
            s.rect(Contrast, 0.28, 0.12, 0.54, 0.38);
            s.finish(5.0, true)
        }
        "tree" => {
            s.polygon(Body, &[(0.0, -1.0), (0.48, -0.42), (-0.48, -0.42)]);
            s.polygon(Body, &[(0.0, -0.68), (0.7, 0.05), (-0.7, 0.05)]);
            s.polygon(Body, &[(0.0, -0.3), (0.9, 0.58), (-0.9, 0.58)]);
            s.rect(Body, -0.15, 0.5, 0.15, 0.98);
            s.finish(6.0, false)
        }
        "sun" => {
            s.circle(Body, 0.0, 0.0, 0.48);
            for k in 0..8 {
                let angle = 45.0 * k as f32 + 22.5;
                s.line(
                    Body,
                    &[polar(0.0, 0.0, 0.64, angle), polar(0.0, 0.0, 0.94, angle)],
                    0.15,
                );
            }
            s.finish(20.0, false)
        }
        "fish" => {
            s.shape(Body, None, |p| {
                p.move_to(-0.95, 0.0);
                p.quad_to(-0.25, -0.9, 0.45, 0.0);
                p.quad_to(-0.25, 0.9, -0.95, 0.0);
                p.close();
            });
            s.polygon(Body, &[(0.3, 0.0), (0.95, -0.5), (0.8, 0.0), (0.95, 0.5)]);
            s.circle(Contrast, -0.55, -0.08, 0.1);
            s.finish(15.0, true)
        }
        "cup" => {
            s.ellipse(Body, 0.38, 0.12, 0.36, 0.3, 0.0);
            s.ellipse(Hole, 0.38, 0.12, 0.2, 0.15, 0.0);
            s.round_rect(Body, -0.78, -0.5, 0.4, 0.82, 0.18);
            s.line(Body, &[(-0.45, -0.62), (-0.35, -0.75), (-0.45, -0.9)], 0.08);
            s.line(Body, &[(-0.1, -0.62), (0.0, -0.75), (-0.1, -0.9)], 0.08);
            s.finish(6.0, true)
        }
        "key" => {
            s.circle(Body, -0.58, 0.0, 0.4);
            s.circle(Hole, -0.58, 0.0, 0.17);
            s.rect(Body, -0.25, -0.1, 0.96, 0.1);
            s.rect(Body, 0.52, 0.05, 0.66, 0.38);
            s.rect(Body, 0.78, 0.05, 0.94, 0.3);
            s.finish(25.0, true)
        }
        "flower" => {
            let (cx, cy) = (0.0, -0.4);
            for k in 0..6 {
                let angle = 60.0 * k as f32 - 90.0;
                let (px, py) = polar(cx, cy, 0.29, angle);
                s.ellipse(Body, px, py, 0.29, 0.19, angle);
            }
            s.line(Body, &[(0.0, -0.1), (0.02, 0.98)], 0.11);
            s.ellipse(Body, 0.26, 0.52, 0.26, 0.1, -30.0);
            s.circle(Contrast, cx, cy, 0.17);
            s.finish(8.0, true)
        }
        "umbrella" => {
            s.shape(Body, None, |p| {
                p.move_to(-0.98, -0.08);
                p.cubic_to(-0.98, -0.62, -0.52, -0.9, 0.0, -0.9);
                p.cubic_to(0.52, -0.9, 0.98, -0.62, 0.98, -0.08);
                p.quad_to(0.65, -0.28, 0.33, -0.08);
                p.quad_to(0.0, -0.28, -0.33, -0.08);
                p.quad_to(-0.65, -0.28, -0.98, -0.08);
                p.close();
            });
            s.line(Body, &[(0.0, -0.88), (0.0, -1.0)], 0.09);
            s.shape(Body, Some(0.1), |p| {
                p.move_to(0.0, -0.2);
                p.line_to(0.0, 0.72);
                p.quad_to(0.0, 0.94, -0.19, 0.94);
                p.quad_to(-0.36, 0.94, -0.36, 0.76);
            });
            s.finish(10.0, true)
        }
        "car" => {
            s.round_rect(Body, -0.96, -0.12, 0.96, 0.42, 0.14);
            s.polygon(
                Body,
                &[(-0.6, -0.08), (-0.36, -0.52), (0.3, -0.52), (0.58, -0.08)],
            );
            s.circle(Body, -0.52, 0.44, 0.24);
            s.circle(Body, 0.52, 0.44, 0.24);
            s.polygon(
                Contrast,
                &[
                    (-0.47, -0.14),
                    (-0.3, -0.44),
                    (-0.06, -0.44),
                    (-0.06, -0.14),
                ],
            );
            s.polygon(
                Contrast,
                &[(0.04, -0.14), (0.04, -0.44), (0.25, -0.44), (0.45, -0.14)],
            );
            s.circle(Contrast, -0.52, 0.44, 0.1);
            s.circle(Contrast, 0.52, 0.44, 0.1);
            s.finish(6.0, true)
        }
        "boat" => {
            s.shape(Body, None, |p| {
                p.move_to(-0.98, 0.42);
                p.line_to(0.98, 0.42);
                p.quad_to(0.8, 0.86, 0.5, 0.86);
                p.line_to(-0.5, 0.86);
                p.quad_to(-0.8, 0.86, -0.98, 0.42);
                p.close();
            });
            s.line(Body, &[(0.0, 0.44), (0.0, -0.96)], 0.08);
            s.polygon(Body, &[(0.1, -0.96), (0.1, 0.3), (0.78, 0.3)]);
            s.polygon(Body, &[(-0.1, -0.66), (-0.1, 0.3), (-0.56, 0.3)]);
            s.finish(10.0, true)
        }
        "cloud" => {
            let dy = 0.1;
            s.circle(Body, -0.56, 0.12 + dy, 0.36);
            s.circle(Body, -0.1, -0.16 + dy, 0.5);
            s.circle(Body, 0.46, 0.06 + dy, 0.42);
            s.round_rect(Body, -0.62, 0.1 + dy, 0.5, 0.48 + dy, 0.05);
            s.finish(8.0, true)
        }
        "bolt" => {
            s.polygon(
                Body,
                &[
                    (0.02, -1.0),
                    (0.56, -1.0),
                    (0.16, -0.2),
                    (0.62, -0.2),
                    (-0.32, 1.0),
                    (-0.06, 0.1),
                    (-0.52, 0.1),
                ],
            );
            s.finish(12.0, true)
        }
        "mushroom" => {
            s.shape(Body, None, |p| {
                p.move_to(-0.88, 0.12);
                p.cubic_to(-0.95, -0.5, -0.5, -0.92, 0.0, -0.92);
                p.cubic_to(0.5, -0.92, 0.95, -0.5, 0.88, 0.12);
                p.quad_to(0.0, -0.04, -0.88, 0.12);
                p.close();
            });
            s.round_rect(Body, -0.28, -0.02, 0.28, 0.92, 0.14);
            s.circle(Contrast, -0.45, -0.32, 0.14);
            s.circle(Contrast, 0.08, -0.6, 0.15);
            s.circle(Contrast, 0.48, -0.24, 0.12);
            s.finish(8.0, true)
        }
        "apple" => {
            s.shape(Body, None, |p| {
                p.move_to(0.0, -0.3);
                p.cubic_to(-0.25, -0.58, -0.84, -0.52, -0.84, 0.16);
                p.cubic_to(-0.84, 0.64, -0.45, 0.98, -0.2, 0.93);
                p.cubic_to(-0.1, 0.9, 0.1, 0.9, 0.2, 0.93);
                p.cubic_to(0.45, 0.98, 0.84, 0.64, 0.84, 0.16);
                p.cubic_to(0.84, -0.52, 0.25, -0.58, 0.0, -0.3);
                p.close();
            });
            s.line(Body, &[(0.0, -0.3), (0.1, -0.9)], 0.11);
            s.ellipse(Body, 0.38, -0.72, 0.26, 0.11, -25.0);
            s.finish(12.0, true)
        }
        "clock" => {
            s.circle(Body, 0.0, 0.0, 0.96);
            s.circle(Contrast, 0.0, 0.0, 0.78);
            for k in 0..12 {
                let angle = 30.0 * k as f32;
                let inner = if k % 3 == 0 { 0.52 } else { 0.62 };
                s.line(
                    Accent,
                    &[polar(0.0, 0.0, inner, angle), polar(0.0, 0.0, 0.72, angle)],
                    0.08,
                );
            }
            s.line(Accent, &[(0.0, 0.0), (0.0, -0.5)], 0.11);
            s.line(Accent, &[(0.0, 0.0), (0.36, 0.14)], 0.11);
            s.finish(0.0, false)
        }
        "eye" => {
            s.shape(Body, None, |p| {
                p.move_to(-0.98, 0.0);
                p.quad_to(0.0, -1.0, 0.98, 0.0);
                p.quad_to(0.0, 1.0, -0.98, 0.0);
                p.close();
            });
            s.circle(Contrast, 0.0, 0.0, 0.36);
            s.circle(Accent, 0.0, 0.0, 0.16);
            s.finish(10.0, false)
        }
        "bell" => {
            s.shape(Body, None, |p| {
                p.move_to(-0.16, -0.76);
                p.cubic_to(-0.6, -0.74, -0.62, -0.3, -0.62, 0.1);
                p.cubic_to(-0.64, 0.42, -0.82, 0.5, -0.9, 0.62);
                p.line_to(0.9, 0.62);
                p.cubic_to(0.82, 0.5, 0.64, 0.42, 0.62, 0.1);
                p.cubic_to(0.62, -0.3, 0.6, -0.74, 0.16, -0.76);
                p.close();
            });
            s.circle(Body, 0.0, -0.82, 0.14);
            s.round_rect(Body, -0.96, 0.56, 0.96, 0.72, 0.06);
            s.circle(Body, 0.0, 0.82, 0.15);
            s.finish(8.0, false)
        }
        "envelope" => {
            s.rect(Body, -0.96, -0.62, 0.96, 0.62);
            s.line(Contrast, &[(-0.96, -0.62), (0.0, 0.1), (0.96, -0.62)], 0.09);
            s.finish(10.0, false)
        }
        "ladder" => {
            s.line(Body, &[(-0.45, -0.98), (-0.45, 0.98)], 0.13);
            s.line(Body, &[(0.45, -0.98), (0.45, 0.98)], 0.13);
            for y in [-0.62, -0.2, 0.22, 0.64] {
                s.line(Body, &[(-0.45, y), (0.45, y)], 0.11);
            }
            s.finish(12.0, false)
        }
        other => unreachable!("no figure for concept {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_concept_has_a_body_inside_the_box() {
        // Holes may reach outside: they only cut what is inside.
        for id in 0..crate::CONCEPTS.len() {
            let fig = figure(id);
            assert!(
                fig.parts.iter().any(|p| p.role == Role::Body),
                "{}",
                crate::CONCEPTS[id]
            );
            for part in fig.parts.iter().filter(|p| p.role != Role::Hole) {
                // Bounds include Bézier control points, which may lie a little outside.
                let b = part.fill_path(32.0, 1.0).unwrap().0.bounds();
                let inside = |v: f32| (-1.06..=1.06).contains(&v);
                let name = crate::CONCEPTS[id];
                assert!(inside(b.left()) && inside(b.right()), "{name} {b:?}");
                assert!(inside(b.top()) && inside(b.bottom()), "{name} {b:?}");
            }
        }
    }
}
