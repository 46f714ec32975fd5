//! The concepts: things that can be both drawn with vector shapes and written as one word.

/// Every concept's name, in class-id order (the index is the class id; the order is stable).
pub const CONCEPTS: &[&str] = &[
    "circle", "square", "triangle", "star", "heart", "cross", "diamond", "hexagon", "arrow",
    "moon", "ring", "house", "tree", "sun", "fish", "cup", "key", "flower", "umbrella", "car",
    "boat", "cloud", "bolt", "mushroom", "apple", "clock", "eye", "bell", "envelope", "ladder",
];

/// The name the built-in model (trained on these concepts) goes by in links and bundles.
pub const BUILTIN_MODEL: &str = "modalscope-synth";

/// Names of at most this many letters count as short (sun, cup, bell...): the ones the model
/// reads worst, told apart mostly by their length.
pub const SHORT_NAME: usize = 4;

/// Whether concept `c`'s name is short.
///
/// # Panics
/// If `c` is not an index into [`CONCEPTS`].
pub fn is_short(c: usize) -> bool {
    CONCEPTS[c].len() <= SHORT_NAME
}

/// Short words that are not concepts, most a letter away from a short concept name (sum and
/// sun, cap and cup, ball and bell): written in place of a name, with captions that say them,
/// they can only be matched by reading the letters, not by a word's length or outline. They
/// are not in the captions' vocabulary; the tokenizer spells them in pieces.
pub const DECOYS: &[&str] = &[
    "sum", "run", "bun", "fun", "son", "cap", "cop", "cut", "pup", "bar", "cat", "jar", "bay",
    "hey", "dye", "eve", "bee", "coat", "goat", "moat", "beat", "free", "true", "king", "wing",
    "rang", "belt", "boot", "ball", "bill", "dish", "wish", "fist", "moan", "noon", "soon", "stir",
    "scar", "stay", "mist",
];

/// The class id of a concept name, if it is one.
pub fn concept_id(name: &str) -> Option<usize> {
    CONCEPTS.iter().position(|c| *c == name)
}

/// The indefinite article English puts before `word` ("an apple", "a star").
pub(crate) fn article(word: &str) -> &'static str {
    match word.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_single_lower_case_words() {
        for (i, name) in CONCEPTS.iter().enumerate() {
            assert!(name.chars().all(|c| c.is_ascii_lowercase()), "{name}");
            assert_eq!(concept_id(name), Some(i));
        }
        assert!(CONCEPTS.len() >= 28);
    }

    #[test]
    fn articles_follow_the_first_sound() {
        assert_eq!(article("apple"), "an");
        assert_eq!(article("umbrella"), "an");
        assert_eq!(article("star"), "a");
    }
}
