//! Learning a small CLIP-layout BPE vocabulary from a word list, so a model trained on a
//! closed vocabulary (the built-in model's captions) still uses CLIP's tokenizer unchanged.

use std::collections::{BTreeMap, HashMap};

use crate::byte_level::ByteLevel;
use crate::{BOS_TOKEN, END_OF_WORD_SUFFIX, EOS_TOKEN};

/// A learned vocabulary as the two files Hugging Face ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainedVocab {
    /// `vocab.json`: token → id, in CLIP's layout (bytes, bytes + `</w>`, merges, specials).
    pub vocab_json: String,
    /// `merges.txt`: a `#version` line, then one merge per line in rank order.
    pub merges_txt: String,
}

/// Learns byte-level BPE merges (most frequent pair first, ties broken by the pair's text)
/// until every word of `words` is a single token.
///
/// Words are taken as the CLIP pre-tokenizer would split them (lower-case letter runs);
/// any other input still tokenizes, byte by byte, with the resulting vocabulary.
pub fn train_bpe<S: AsRef<str>>(words: &[S]) -> TrainedVocab {
    let bl = ByteLevel::new();
    let alphabet = bl.alphabet();
    let mut tokens: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    tokens.extend(alphabet.iter().map(|c| format!("{c}{END_OF_WORD_SUFFIX}")));

    let mut unique: Vec<String> = words
        .iter()
        .map(|w| w.as_ref().to_string())
        .filter(|w| !w.is_empty())
        .collect();
    unique.sort();
    unique.dedup();
    let mut pieces: Vec<Vec<String>> = unique
        .iter()
        .map(|w| {
            let chars: Vec<char> = bl.encode(w).chars().collect();
            let last = chars.len() - 1;
            chars
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == last {
                        format!("{c}{END_OF_WORD_SUFFIX}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();

    let mut merges: Vec<(String, String)> = Vec::new();
    loop {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for word in &pieces {
            for pair in word.windows(2) {
                *counts
                    .entry((pair[0].clone(), pair[1].clone()))
                    .or_default() += 1;
            }
        }
        // BTreeMap iterates in pair order, so the first maximum is the smallest pair text.
        let Some((best, _)) = counts.iter().fold(
            None,
            |acc: Option<(&(String, String), usize)>, (k, &n)| match acc {
                Some((_, m)) if m >= n => acc,
                _ => Some((k, n)),
            },
        ) else {
            break;
        };
        let best = best.clone();
        let merged = format!("{}{}", best.0, best.1);
        for word in &mut pieces {
            let mut i = 0;
            while i + 1 < word.len() {
                if word[i] == best.0 && word[i + 1] == best.1 {
                    word[i] = merged.clone();
                    word.remove(i + 1);
                }
                i += 1;
            }
        }
        if !tokens.contains(&merged) {
            tokens.push(merged);
        }
        merges.push(best);
    }
    tokens.push(BOS_TOKEN.to_string());
    tokens.push(EOS_TOKEN.to_string());

    let vocab: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    // Write in id order so the file reads like CLIP's.
    let mut ordered: Vec<(&str, usize)> = vocab.into_iter().collect();
    ordered.sort_by_key(|&(_, i)| i);
    let body: Vec<String> = ordered
        .iter()
        .map(|(t, i)| {
            format!(
                "{}:{i}",
                serde_json::to_string(t).expect("strings serialize")
            )
        })
        .collect();
    let vocab_json = format!("{{{}}}", body.join(","));
    let mut merges_txt = String::from("#version: 0.2\n");
    for (a, b) in &merges {
        merges_txt.push_str(a);
        merges_txt.push(' ');
        merges_txt.push_str(b);
        merges_txt.push('\n');
    }
    TrainedVocab {
        vocab_json,
        merges_txt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClipTokenizer;

    #[test]
    fn every_training_word_becomes_one_token_and_other_text_still_encodes() {
        let words = [
            "star", "stars", "heart", "the", "word", "a", "drawing", "of", "tree", "three",
        ];
        let v = train_bpe(&words);
        let tok = ClipTokenizer::from_strings(&v.vocab_json, &v.merges_txt).unwrap();
        for w in words {
            let ids = tok.tokenize(w);
            assert_eq!(ids.len(), 1, "{w} -> {ids:?}");
            assert_eq!(tok.decode(&ids), w);
        }
        // The end-of-text token has the largest id (OpenAI's pooling rule relies on it).
        assert_eq!(tok.eos_id() as usize, tok.vocab_size() - 1);
        assert_eq!(tok.bos_id() + 1, tok.eos_id());
        // Unseen words and punctuation fall back to byte pieces and decode back.
        let ids = tok.tokenize("a spider, 42!");
        assert!(ids.len() > 4);
        assert_eq!(tok.decode(&ids), "a spider , 4 2 !");
        // Deterministic.
        assert_eq!(train_bpe(&words), v);
    }

    #[test]
    fn byte_tokens_follow_the_layout_of_openai_clip_vocabulary() {
        // The fixture vocabulary was cut from OpenAI's own BPE file: its first 512 ids are
        // the byte alphabet and the same with `</w>`.
        let fixture: HashMap<String, usize> =
            serde_json::from_str(include_str!("../../../tests/fixtures/tokenizer/vocab.json"))
                .unwrap();
        let ours: HashMap<String, usize> =
            serde_json::from_str(&train_bpe(&["x"]).vocab_json).unwrap();
        for (token, &id) in fixture.iter().filter(|&(_, &id)| id < 512) {
            assert_eq!(ours.get(token), Some(&id), "{token}");
        }
    }
}
