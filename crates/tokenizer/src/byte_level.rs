//! GPT-2 / CLIP byte <-> printable character mapping (`bytes_to_unicode`).

use std::collections::HashMap;

/// Byte-level alphabet: every byte maps to a printable character and back.
#[derive(Clone)]
pub(crate) struct ByteLevel {
    encoder: [char; 256],
    decoder: HashMap<char, u8>,
}

impl ByteLevel {
    /// Builds the mapping exactly like OpenAI's `bytes_to_unicode`.
    pub(crate) fn new() -> Self {
        let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let mut encoder = ['\0'; 256];
        let mut next = 256u32;
        for b in 0..=255u8 {
            encoder[usize::from(b)] = if printable(b) {
                char::from(b)
            } else {
                let c = char::from_u32(next).unwrap_or('\u{FFFD}');
                next += 1;
                c
            };
        }
        let decoder = (0..=255u8).map(|b| (encoder[usize::from(b)], b)).collect();
        Self { encoder, decoder }
    }

    /// The 256 characters in CLIP's vocabulary order: printable bytes first, then the rest.
    pub(crate) fn alphabet(&self) -> Vec<char> {
        let printable = |b: u8| char::from(b) == self.encoder[usize::from(b)];
        let (first, rest): (Vec<u8>, Vec<u8>) = (0..=255u8).partition(|&b| printable(b));
        first
            .into_iter()
            .chain(rest)
            .map(|b| self.encoder[usize::from(b)])
            .collect()
    }

    /// Maps the UTF-8 bytes of `text` to byte-level characters.
    pub(crate) fn encode(&self, text: &str) -> String {
        text.bytes().map(|b| self.encoder[usize::from(b)]).collect()
    }

    /// Appends the bytes of a token to `out`; a token with a character outside the alphabet
    /// is taken verbatim, as Hugging Face's `ByteLevel` decoder does.
    pub(crate) fn decode_into(&self, token: &str, out: &mut Vec<u8>) {
        let start = out.len();
        for c in token.chars() {
            match self.decoder.get(&c) {
                Some(&b) => out.push(b),
                None => {
                    out.truncate(start);
                    out.extend_from_slice(token.as_bytes());
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_a_bijection_with_known_points() {
        let bl = ByteLevel::new();
        assert_eq!(bl.decoder.len(), 256);
        assert_eq!(bl.encoder[usize::from(b'a')], 'a');
        assert_eq!(bl.encoder[usize::from(b' ')], '\u{120}');
        assert_eq!(bl.encoder[0], '\u{100}');
        assert_eq!(bl.encode("é"), "Ã©");
        let mut out = Vec::new();
        bl.decode_into("Ã©", &mut out);
        assert_eq!(out, "é".as_bytes());
    }
}
