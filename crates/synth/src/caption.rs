//! Captions: English templates filled with a scene's concepts and attributes, and the fixed
//! vocabulary they are drawn from.

use crate::attribute::{Position, Size, Style, Tone};
use crate::colour::Colour;
use crate::concept::{CONCEPTS, article};
use crate::draw::Drawing;
use crate::rng::Rng;
use crate::scene::{Lettering, Scene};

/// Captions of a drawing alone. `{np}` is a noun phrase with article and random modifiers
/// ("a big striped red star"), `{concept}` the bare name.
const DRAWN: &[&str] = &[
    "{np}",
    "{concept}",
    "a drawing of {np}",
    "a picture of {np}",
    "an image of {np}",
    "a sketch of {np}",
    "an icon of {np}",
    "{np} {where}",
    "a drawing of {np} {where}",
    "{np} on a {tone} background",
];

/// Captions of a written word (also used for mixed scenes that mention only the word).
const WRITTEN: &[&str] = &[
    "{word}",
    "the word {word}",
    "the text {word}",
    "a sign that says {word}",
    "text that says {word}",
    "the word {word} written in {colour}",
    "{word} written in {colour}",
    "{colour} text that says {word}",
    "the word {word} {where}",
    "the word {word} in {size} letters",
    "the word {word} on a {tone} background",
];

/// Extra captions of a word written in capitals.
const WRITTEN_CAPITALS: &[&str] = &[
    "the word {word} in capital letters",
    "{word} in capital letters",
];

/// Captions of a drawing with a word written on it that mention both.
const MIXED: &[&str] = &[
    "the word {word} written on {np}",
    "the word {word} written on a drawing of {np}",
    "{np} with the word {word} written on it",
    "{np} labelled {word}",
    "a drawing of {np} with the text {word}",
    "{np} and the word {word}",
];

/// Every word a caption can contain, sorted and deduplicated: template words, concept names
/// and every attribute word.
pub fn vocabulary() -> Vec<String> {
    let templates = DRAWN
        .iter()
        .chain(WRITTEN)
        .chain(WRITTEN_CAPITALS)
        .chain(MIXED);
    let mut words: Vec<String> = templates
        .flat_map(|t| t.split_whitespace())
        .filter(|w| !w.starts_with('{'))
        .chain(CONCEPTS.iter().copied())
        .chain(["a", "an"])
        .chain(Colour::ALL.map(Colour::name))
        .chain(Size::ALL.map(Size::name))
        .chain(Style::ALL.map(Style::name))
        .chain(Tone::ALL.map(Tone::name))
        .chain(
            Position::ALL
                .iter()
                .flat_map(|p| p.phrase().split_whitespace()),
        )
        .map(str::to_string)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// A caption for a scene with a drawing only.
pub(crate) fn describe_drawn(rng: &mut Rng, scene: &Scene, drawing: &Drawing) -> String {
    let template = rng.pick(DRAWN);
    fill(rng, template, scene, Some(drawing), None)
}

/// A caption for a scene with a written word only, or a mixed scene described by its word.
pub(crate) fn describe_written(rng: &mut Rng, scene: &Scene, lettering: &Lettering) -> String {
    let template = if lettering.uppercase && rng.chance(0.3) {
        rng.pick(WRITTEN_CAPITALS)
    } else {
        rng.pick(WRITTEN)
    };
    fill(rng, template, scene, None, Some(lettering))
}

/// A caption for a drawing with a word on it that names both.
pub(crate) fn describe_mixed(
    rng: &mut Rng,
    scene: &Scene,
    drawing: &Drawing,
    lettering: &Lettering,
) -> String {
    let template = rng.pick(MIXED);
    fill(rng, template, scene, Some(drawing), Some(lettering))
}

/// Fills a template's slots from the drawing (`{np}`, `{concept}`, `{where}`), the lettering
/// (`{word}`, `{colour}`, `{size}`, `{where}` when there is no drawing) and the scene (`{tone}`).
fn fill(
    rng: &mut Rng,
    template: &str,
    scene: &Scene,
    drawing: Option<&Drawing>,
    lettering: Option<&Lettering>,
) -> String {
    let mut out = Vec::new();
    for token in template.split_whitespace() {
        match token {
            "{np}" => out.push(noun_phrase(rng, drawing.expect("{np} needs a drawing"))),
            "{concept}" => {
                out.push(CONCEPTS[drawing.expect("{concept} needs a drawing").concept].to_string())
            }
            "{word}" => out.push(lettering.expect("{word} needs a lettering").word.clone()),
            "{colour}" => out.push(
                lettering
                    .expect("{colour} needs a lettering")
                    .colour
                    .name()
                    .to_string(),
            ),
            "{size}" => out.push(
                lettering
                    .expect("{size} needs a lettering")
                    .size
                    .name()
                    .to_string(),
            ),
            "{tone}" => out.push(scene.background.tone.name().to_string()),
            "{where}" => {
                let position = match (drawing, lettering) {
                    (Some(d), _) => d.position,
                    (None, Some(l)) => l.position,
                    (None, None) => unreachable!("{{where}} needs a drawing or a lettering"),
                };
                out.push(position.phrase().to_string());
            }
            word => out.push(word.to_string()),
        }
    }
    out.join(" ")
}

/// "a big striped red star": the article, then size, style and colour each included at random.
fn noun_phrase(rng: &mut Rng, drawing: &Drawing) -> String {
    let mut words = Vec::new();
    if rng.chance(0.3) {
        words.push(drawing.size.name());
    }
    if rng.chance(0.3) {
        words.push(drawing.style.name());
    }
    if rng.chance(0.5) {
        words.push(drawing.colour.name());
    }
    words.push(CONCEPTS[drawing.concept]);
    format!("{} {}", article(words[0]), words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_sorted_unique_lower_case_words() {
        let vocab = vocabulary();
        assert!(vocab.windows(2).all(|w| w[0] < w[1]));
        assert!(
            vocab
                .iter()
                .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        );
        for concept in CONCEPTS {
            assert!(vocab.iter().any(|w| w == concept));
        }
    }
}
