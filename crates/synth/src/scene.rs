//! Scenes: a background with a drawn concept, a written word, or both, and their sampling.

use image::RgbImage;

use crate::attribute::{Position, Size, Tone};
use crate::background::Background;
use crate::canvas::Canvas;
use crate::colour::{Colour, Rgb, contrast, to_unit};
use crate::draw::{Drawing, jitter};
use crate::rng::Rng;
use crate::text::{Typeface, WordParams, paint_word, placement};

/// A word written in a scene: the word and its captionable attributes plus exact geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct Lettering {
    /// The word in lower case, as captions name it.
    pub word: String,
    /// Whether it is drawn in capital letters.
    pub uppercase: bool,
    /// The named colour of the letters.
    pub colour: Colour,
    /// Small or big letters, from the fitted cap height.
    pub size: Size,
    /// Where the word sits, from its fitted centre.
    pub position: Position,
    /// The exact geometry, colour, typeface and label, already fitted to a square image.
    pub params: WordParams,
}

impl Lettering {
    /// The text as it appears in the image (upper-cased when `uppercase`).
    pub fn text(&self) -> String {
        if self.uppercase {
            self.word.to_uppercase()
        } else {
            self.word.clone()
        }
    }
}

/// Everything one image shows; rendering it is deterministic and works at any size.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// The background.
    pub background: Background,
    /// The drawn concept, if any.
    pub drawing: Option<Drawing>,
    /// The written word, if any (drawn over the drawing).
    pub lettering: Option<Lettering>,
}

/// How a word is written on a drawing in a typographic attack; what is left `None` or
/// [`Backing::AsTrained`] is drawn at random as in the training's mixtures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overlay {
    /// Cap height as a fraction of the image side (shrunk only where the word would not
    /// fit); `None`: 0.13 to 0.21, as the training's mixtures.
    pub height: Option<f32>,
    /// What the word is written on.
    pub backing: Backing,
}

/// What an attack's word is written on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backing {
    /// A paper label on some attacks, as on 30 % of the training's mixtures; ink on the rest
    /// (also where no ink colour would be legible on both drawing and background).
    #[default]
    AsTrained,
    /// Always a paper label, as the study's attacks were handwritten notes stuck on objects.
    Label,
    /// Always ink straight on the drawing, in the colour that reads best there.
    Ink,
}

/// The pale paper of labels (jittered a little in generated scenes), as tools that write on
/// labels offer it.
pub const PALE_PAPER: [u8; 3] = [244, 240, 228];

/// Share of the training's mixtures whose word sits on a paper label.
const MIXED_LABELS: f32 = 0.3;

/// The contrast ratio every figure and word keeps against what lies beneath it.
const MIN_CONTRAST: f32 = 2.6;
/// Share of written words in big letters in held-out scenes and, by default, in training.
pub(crate) const EVEN_BIG_WORDS: f32 = 0.5;
/// Cap height (fraction of the image) from which letters count as big.
const BIG_LETTERS: f32 = 0.21;
/// Side of the square image that scenes are fitted in (fitting is scale-free above a few pixels).
const REFERENCE_SIDE: f32 = 256.0;

impl Scene {
    /// A random drawing of `concept` (an index into [`crate::CONCEPTS`]) determined by `seed`.
    pub fn drawn(concept: usize, seed: u64) -> Scene {
        Self::sample_drawn(&mut Rng::new(seed), concept)
    }

    /// The word `word` written at random (colour, size, position, case, typeface) by `seed`.
    pub fn written(word: &str, seed: u64) -> Scene {
        Self::sample_written(&mut Rng::new(seed), word, EVEN_BIG_WORDS)
    }

    /// A random drawing of `concept` with `word` written over it: a typographic attack.
    pub fn mixed(concept: usize, word: &str, seed: u64) -> Scene {
        Self::sample_mixed(&mut Rng::new(seed), concept, word, Overlay::default())
    }

    /// [`Scene::mixed`] with the word written as `overlay` says (letter height, paper label or
    /// ink): the same drawing, background and place; what `overlay` leaves open is drawn as
    /// in the training's mixtures.
    pub fn mixed_with(concept: usize, word: &str, seed: u64, overlay: Overlay) -> Scene {
        Self::sample_mixed(&mut Rng::new(seed), concept, word, overlay)
    }

    /// Renders the scene as a `size × size` image.
    pub fn render(&self, size: u32) -> RgbImage {
        let mut canvas = Canvas::new(size, size, to_unit(self.background.top));
        self.background.paint(&mut canvas);
        if let Some(drawing) = &self.drawing {
            drawing.paint(&mut canvas);
        }
        if let Some(lettering) = &self.lettering {
            paint_word(&mut canvas, &lettering.text(), &lettering.params);
        }
        canvas.to_image()
    }

    /// A random drawn scene of `concept` (half small, half big).
    pub(crate) fn sample_drawn(rng: &mut Rng, concept: usize) -> Scene {
        Self::sample_drawing(rng, concept, 0.5)
    }

    /// A drawn scene whose drawing is big with probability `p_big`.
    fn sample_drawing(rng: &mut Rng, concept: usize, p_big: f32) -> Scene {
        let drawing = Drawing::sample(rng, concept, p_big);
        let background = backdrop(rng, &[drawing.ink_rgb()]);
        Scene {
            background,
            drawing: Some(drawing),
            lettering: None,
        }
    }

    /// A random written scene of `word`, in big letters with probability `p_big`; some words
    /// sit on a label.
    pub(crate) fn sample_written(rng: &mut Rng, word: &str, p_big: f32) -> Scene {
        let colour = rng.pick(&Colour::ALL);
        let ink = jitter(rng, colour.rgb(), 10);
        let background = backdrop(rng, &[to_unit(ink)]);
        // The upper `p_big` of the unit interval: at 0.5 the very choice `pick(&Size::ALL)`
        // made from the same draw, so the default data is unchanged.
        let size = if rng.unit() >= 1.0 - p_big {
            Size::Big
        } else {
            Size::Small
        };
        let height = match size {
            Size::Small => rng.range(0.16, 0.21),
            Size::Big => rng.range(0.26, 0.36),
        };
        let position = rng.pick(&Position::ALL);
        let shift = rng.range(0.18, 0.32);
        let [x, y] = position.sample_centre(rng, shift, 0.04);
        let mut params = WordParams::new(x, y, height, ink);
        params.rotation = tilt(rng, 0.4, 12.0);
        params.typeface = rng.pick(&Typeface::ALL);
        let uppercase = rng.chance(0.25);
        let (colour, ink) = if rng.chance(0.15) {
            let paper = paper(rng, &background);
            params.label = Some(paper);
            legible(rng, &[to_unit(paper)], None)
        } else {
            (colour, ink)
        };
        let lettering = letter(word, uppercase, colour, ink, params);
        Scene {
            background,
            drawing: None,
            lettering: Some(lettering),
        }
    }

    /// A random drawing of `concept` (mostly big) with `word` written over part of it, in a
    /// colour legible on both drawing and background, or on a label; what `overlay` fixes
    /// replaces the random choice (drawn all the same, so the rest of the scene stays as it
    /// was).
    pub(crate) fn sample_mixed(
        rng: &mut Rng,
        concept: usize,
        word: &str,
        overlay: Overlay,
    ) -> Scene {
        let Scene {
            background,
            drawing,
            ..
        } = Self::sample_drawing(rng, concept, 0.75);
        let drawing = drawing.expect("a drawn scene has a drawing");
        let random_height = rng.range(0.13, 0.21);
        let height = overlay.height.unwrap_or(random_height);
        let x = drawing.centre[0] + rng.range(-0.08, 0.08);
        let band = [0.0, -0.25, 0.25][rng.below(3)] * drawing.extent;
        let y = drawing.centre[1] + band + rng.range(-0.04, 0.04);
        let mut params = WordParams::new(x, y, height, [0; 3]);
        params.rotation = tilt(rng, 0.4, 15.0);
        params.typeface = rng.pick(&Typeface::ALL);
        let uppercase = rng.chance(0.25);
        let under = [
            drawing.ink_rgb(),
            to_unit(background.top),
            to_unit(background.bottom),
        ];
        let labelled = rng.chance(MIXED_LABELS);
        let choice = match overlay.backing {
            Backing::AsTrained if !labelled => legible_among(rng, &under, Some(drawing.colour)),
            Backing::Ink => Some(legible(rng, &under, Some(drawing.colour))),
            Backing::AsTrained | Backing::Label => None,
        };
        let (colour, ink) = choice.unwrap_or_else(|| {
            let paper = paper(rng, &background);
            params.label = Some(paper);
            legible(rng, &[to_unit(paper)], None)
        });
        let text = if uppercase {
            word.to_uppercase()
        } else {
            word.to_string()
        };
        params.y = reveal(&drawing, &text, &params);
        let lettering = letter(word, uppercase, colour, ink, params);
        Scene {
            background,
            drawing: Some(drawing),
            lettering: Some(lettering),
        }
    }
}

/// The largest fraction of a drawing's ink that a word written on it may cover.
const MAX_HIDDEN: f32 = 0.4;
/// Side of the grid on which that fraction is measured.
const PROBE_SIDE: u32 = 64;

/// A vertical word centre that keeps most of the drawing visible: the requested one if it
/// hides little enough, else straddling the drawing's bottom or top edge, else whichever of
/// the three hides least.
fn reveal(drawing: &Drawing, text: &str, params: &WordParams) -> f32 {
    let silhouette = drawing.silhouette(PROBE_SIDE);
    let total = silhouette
        .sum_within(0.0, 0.0, PROBE_SIDE as f32, PROBE_SIDE as f32)
        .max(1e-6);
    let hidden = |y: f32| {
        let Some(placed) = placement(
            text,
            &WordParams { y, ..*params },
            PROBE_SIDE as f32,
            PROBE_SIDE as f32,
        ) else {
            return 0.0;
        };
        let [l, t, r, b] = placed.bounds;
        silhouette.sum_within(l, t, r, b) / total
    };
    let half = drawing.extent / 2.0;
    let candidates = [params.y, drawing.centre[1] + half, drawing.centre[1] - half];
    candidates
        .iter()
        .copied()
        .find(|&y| hidden(y) <= MAX_HIDDEN)
        .unwrap_or_else(|| {
            candidates
                .into_iter()
                .min_by(|&a, &b| hidden(a).total_cmp(&hidden(b)))
                .expect("three candidates")
        })
}

/// A rotation in degrees: uniform in `±max` with probability `p`, else upright.
fn tilt(rng: &mut Rng, p: f32, max: f32) -> f32 {
    if rng.chance(p) {
        rng.range(-max, max)
    } else {
        0.0
    }
}

/// Finishes a lettering: fits the word and describes its actual size and position.
fn letter(
    word: &str,
    uppercase: bool,
    colour: Colour,
    ink: [u8; 3],
    mut params: WordParams,
) -> Lettering {
    params.colour = ink;
    let text = if uppercase {
        word.to_uppercase()
    } else {
        word.to_string()
    };
    if let Some(placed) = placement(&text, &params, REFERENCE_SIDE, REFERENCE_SIDE) {
        params.x = placed.centre[0];
        params.y = placed.centre[1];
        params.height = placed.height;
    }
    Lettering {
        word: word.to_string(),
        uppercase,
        colour,
        size: if params.height >= BIG_LETTERS {
            Size::Big
        } else {
            Size::Small
        },
        position: Position::describe(params.x, params.y, 0.1),
        params,
    }
}

/// A background (random tone where both work) that keeps every `ink` legible.
fn backdrop(rng: &mut Rng, inks: &[Rgb]) -> Background {
    let first = rng.pick(&Tone::ALL);
    let other = if first == Tone::Light {
        Tone::Dark
    } else {
        Tone::Light
    };
    let mut best: Option<(f32, Background)> = None;
    for attempt in 0..8 {
        let tone = if attempt % 2 == 0 { first } else { other };
        let bg = Background::sample(rng, tone);
        let worst = inks
            .iter()
            .map(|&ink| bg.contrast_with(ink))
            .fold(f32::INFINITY, f32::min);
        if worst >= MIN_CONTRAST {
            return bg;
        }
        if best.as_ref().is_none_or(|(b, _)| worst > *b) {
            best = Some((worst, bg));
        }
    }
    best.expect("at least one background was sampled").1
}

/// A random named colour (not `avoid`) legible on all of `under`, jittered; `None` if none is.
fn legible_among(rng: &mut Rng, under: &[Rgb], avoid: Option<Colour>) -> Option<(Colour, [u8; 3])> {
    let fits: Vec<Colour> = Colour::ALL
        .into_iter()
        .filter(|&c| Some(c) != avoid)
        .filter(|&c| {
            under
                .iter()
                .all(|&u| contrast(to_unit(c.rgb()), u) >= MIN_CONTRAST)
        })
        .collect();
    if fits.is_empty() {
        return None;
    }
    let colour = rng.pick(&fits);
    Some((colour, jitter(rng, colour.rgb(), 8)))
}

/// Like [`legible_among`], falling back to the named colour with the best worst contrast.
fn legible(rng: &mut Rng, under: &[Rgb], avoid: Option<Colour>) -> (Colour, [u8; 3]) {
    legible_among(rng, under, avoid).unwrap_or_else(|| {
        let worst = |c: Colour| {
            under
                .iter()
                .map(|&u| contrast(to_unit(c.rgb()), u))
                .fold(f32::INFINITY, f32::min)
        };
        let best = Colour::ALL
            .into_iter()
            .max_by(|&a, &b| worst(a).total_cmp(&worst(b)))
            .expect("colours exist");
        (best, best.rgb())
    })
}

/// A label colour (pale paper or dark slate) that stands out from `background`.
fn paper(rng: &mut Rng, background: &Background) -> [u8; 3] {
    let pale = jitter(rng, PALE_PAPER, 8);
    let dark = jitter(rng, [38, 40, 48], 8);
    if background.contrast_with(to_unit(pale)) >= background.contrast_with(to_unit(dark)) {
        pale
    } else {
        dark
    }
}
