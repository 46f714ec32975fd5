//! CLIP's byte-level BPE tokenizer, reading `vocab.json` + `merges.txt` as Hugging Face ships them.
//!
//! The ids match `transformers.CLIPTokenizer` (5.x, backed by the `tokenizers` library; in
//! transformers 5 `CLIPTokenizerFast` is the same class):
//!
//! 1. the special tokens `<|startoftext|>` / `<|endoftext|>` are cut out of the raw text
//!    (exact, case-sensitive matches) and map straight to their ids;
//! 2. every other segment is normalised: Unicode NFC, each run of whitespace replaced by one
//!    space, then lower-cased character by character (no ftfy, no HTML unescaping, no
//!    final-sigma rule);
//! 3. the segment is split into words with CLIP's pattern
//!    `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
//!    (whitespace between matches is dropped), then each word with GPT-2's byte-level pattern;
//! 4. each word's UTF-8 bytes are mapped to the byte-level alphabet, `</w>` is appended to the
//!    last character, and BPE merges are applied in rank order.
//!
//! The core API takes strings, so it works in the browser (wasm32) with downloaded files.

mod bpe;
mod byte_level;
mod train;

pub use train::{TrainedVocab, train_bpe};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use bpe::MergeMap;
use byte_level::ByteLevel;

/// Token that starts every encoded sequence.
pub const BOS_TOKEN: &str = "<|startoftext|>";
/// Token that ends every encoded sequence (also CLIP's padding and unknown token).
pub const EOS_TOKEN: &str = "<|endoftext|>";
/// Suffix that marks the last piece of a word in CLIP's vocabulary.
pub const END_OF_WORD_SUFFIX: &str = "</w>";
/// CLIP's text context length.
pub const DEFAULT_CONTEXT_LENGTH: usize = 77;

/// CLIP's word pattern (the `Split` pre-tokenizer of Hugging Face's CLIP tokenizer).
const CLIP_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";
/// GPT-2's pattern, applied by the `ByteLevel` pre-tokenizer to each CLIP word. Its
/// `\s+(?!\S)` alternative is left out: CLIP words never contain whitespace.
const BYTE_LEVEL_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";
/// Words kept in the BPE cache at most (as in `tokenizers`).
const CACHE_CAPACITY: usize = 10_000;

/// Errors raised while loading a tokenizer or configuring it.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// `vocab.json` is not a JSON object mapping token strings to non-negative integer ids.
    #[error("malformed vocab.json (expected a JSON object of token -> id): {0}")]
    VocabJson(#[from] serde_json::Error),
    /// Two tokens in `vocab.json` share one id.
    #[error("malformed vocab.json: tokens {first:?} and {second:?} share id {id}")]
    DuplicateId {
        /// The shared id.
        id: u32,
        /// One token with that id.
        first: String,
        /// Another token with that id.
        second: String,
    },
    /// A required special token is absent from `vocab.json`.
    #[error("vocab.json has no special token {0:?}")]
    MissingSpecialToken(&'static str),
    /// A line of `merges.txt` is not two tokens separated by one space.
    #[error(
        "malformed merges.txt line {line}: expected two tokens separated by one space, found {content:?}"
    )]
    MalformedMerge {
        /// 1-based line number in the file.
        line: usize,
        /// The offending line.
        content: String,
    },
    /// A merge names a token (or produces one) that `vocab.json` lacks.
    #[error("merges.txt line {line}: token {token:?} is not in vocab.json")]
    MergeTokenNotInVocab {
        /// 1-based line number in the file.
        line: usize,
        /// The missing token.
        token: String,
    },
    /// The requested context length cannot hold the start and end tokens.
    #[error("context length {0} is too small: it must be at least 2 (start and end tokens)")]
    ContextLengthTooSmall(usize),
    /// A tokenizer file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// One of the built-in patterns failed to compile (a bug, not a bad input).
    #[error("internal pattern error: {0}")]
    Pattern(#[from] regex::Error),
}

/// CLIP's byte-level BPE tokenizer.
pub struct ClipTokenizer {
    encoder: HashMap<String, u32>,
    decoder: HashMap<u32, String>,
    merges: MergeMap,
    byte_level: ByteLevel,
    clip_pattern: Regex,
    byte_level_pattern: Regex,
    bos_id: u32,
    eos_id: u32,
    vocab_size: usize,
    context_length: usize,
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

impl Clone for ClipTokenizer {
    fn clone(&self) -> Self {
        Self {
            encoder: self.encoder.clone(),
            decoder: self.decoder.clone(),
            merges: self.merges.clone(),
            byte_level: self.byte_level.clone(),
            clip_pattern: self.clip_pattern.clone(),
            byte_level_pattern: self.byte_level_pattern.clone(),
            bos_id: self.bos_id,
            eos_id: self.eos_id,
            vocab_size: self.vocab_size,
            context_length: self.context_length,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("merges", &self.merges.len())
            .field("bos_id", &self.bos_id)
            .field("eos_id", &self.eos_id)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl ClipTokenizer {
    /// Builds the tokenizer from the text of `vocab.json` and `merges.txt`.
    pub fn from_strings(vocab_json: &str, merges_txt: &str) -> Result<Self, TokenizerError> {
        let encoder: HashMap<String, u32> = serde_json::from_str(vocab_json)?;
        let mut decoder: HashMap<u32, String> = HashMap::with_capacity(encoder.len());
        for (token, &id) in &encoder {
            if let Some(other) = decoder.insert(id, token.clone()) {
                let (first, second) = if other < *token {
                    (other, token.clone())
                } else {
                    (token.clone(), other)
                };
                return Err(TokenizerError::DuplicateId { id, first, second });
            }
        }
        let special = |t: &'static str| {
            encoder
                .get(t)
                .copied()
                .ok_or(TokenizerError::MissingSpecialToken(t))
        };
        let bos_id = special(BOS_TOKEN)?;
        let eos_id = special(EOS_TOKEN)?;
        let merges = parse_merges(merges_txt, &encoder)?;
        let vocab_size = encoder.values().max().map_or(0, |&m| m as usize + 1);
        Ok(Self {
            encoder,
            decoder,
            merges,
            byte_level: ByteLevel::new(),
            clip_pattern: Regex::new(CLIP_PATTERN)?,
            byte_level_pattern: Regex::new(BYTE_LEVEL_PATTERN)?,
            bos_id,
            eos_id,
            vocab_size,
            context_length: DEFAULT_CONTEXT_LENGTH,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Reads `vocab.json` and `merges.txt` from a directory (not available in the browser).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let read = |name: &str| {
            let path = dir.as_ref().join(name);
            std::fs::read_to_string(&path).map_err(|source| TokenizerError::Io { path, source })
        };
        Self::from_strings(&read("vocab.json")?, &read("merges.txt")?)
    }

    /// Returns the tokenizer with another context length (at least 2).
    pub fn with_context_length(mut self, context_length: usize) -> Result<Self, TokenizerError> {
        if context_length < 2 {
            return Err(TokenizerError::ContextLengthTooSmall(context_length));
        }
        self.context_length = context_length;
        Ok(self)
    }

    /// Number of ids: one more than the largest id in `vocab.json` (the embedding table size).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Id of `<|startoftext|>`.
    pub fn bos_id(&self) -> u32 {
        self.bos_id
    }

    /// Id of `<|endoftext|>`.
    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    /// Id used for padding (`<|endoftext|>`, as in Hugging Face's CLIP tokenizer).
    pub fn pad_id(&self) -> u32 {
        self.eos_id
    }

    /// Maximum sequence length produced by the `encode*` methods (77 by default).
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Id of a vocabulary token, if present.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.encoder.get(token).copied()
    }

    /// Vocabulary token of an id, if present.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.decoder.get(&id).map(String::as_str)
    }

    /// Encodes to `<|startoftext|>` + tokens + `<|endoftext|>`, truncated to the context length
    /// (the end token is kept last), without padding.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut tokens = self.tokenize(text);
        tokens.truncate(self.context_length - 2);
        let mut ids = Vec::with_capacity(tokens.len() + 2);
        ids.push(self.bos_id);
        ids.extend(tokens);
        ids.push(self.eos_id);
        ids
    }

    /// Like [`encode`](Self::encode), then padded with the pad id to exactly the context length.
    pub fn encode_padded(&self, text: &str) -> Vec<u32> {
        let mut ids = self.encode(text);
        ids.resize(self.context_length, self.pad_id());
        ids
    }

    /// Encodes several texts with [`encode_padded`](Self::encode_padded).
    pub fn encode_batch_padded<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<u32>> {
        texts
            .iter()
            .map(|t| self.encode_padded(t.as_ref()))
            .collect()
    }

    /// Encodes several texts padded to the longest of them rather than to the context length
    /// (Hugging Face's `padding="longest"`). A causal text tower pooled at the end token gives
    /// the same embeddings either way, from fewer positions.
    pub fn encode_batch_longest<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<u32>> {
        let mut ids: Vec<Vec<u32>> = texts.iter().map(|t| self.encode(t.as_ref())).collect();
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0);
        for seq in &mut ids {
            seq.resize(longest, self.pad_id());
        }
        ids
    }

    /// Token ids of `text` without start/end tokens, truncation or padding.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (segment, special) = match self.find_special(rest) {
                Some((start, len, id)) => {
                    let segment = &rest[..start];
                    rest = &rest[start + len..];
                    (segment, Some(id))
                }
                None => (std::mem::take(&mut rest), None),
            };
            self.tokenize_segment(segment, &mut ids);
            ids.extend(special);
        }
        ids
    }

    /// Decodes ids to text: skips special and unknown ids, byte-decodes (invalid UTF-8 becomes
    /// U+FFFD), turns `</w>` into spaces and trims, like Hugging Face's
    /// `decode(ids, skip_special_tokens=True)`.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            if id == self.bos_id || id == self.eos_id {
                continue;
            }
            if let Some(token) = self.decoder.get(&id) {
                self.byte_level.decode_into(token, &mut bytes);
            }
        }
        let text = String::from_utf8_lossy(&bytes).replace(END_OF_WORD_SUFFIX, " ");
        // Python's `str.strip()` also strips U+001C..U+001F.
        text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
            .to_string()
    }

    /// Earliest special token in `text`: (byte offset, byte length, id).
    fn find_special(&self, text: &str) -> Option<(usize, usize, u32)> {
        [(BOS_TOKEN, self.bos_id), (EOS_TOKEN, self.eos_id)]
            .into_iter()
            .filter_map(|(tok, id)| text.find(tok).map(|start| (start, tok.len(), id)))
            .min_by_key(|&(start, len, _)| (start, std::cmp::Reverse(len)))
    }

    /// Normalises and BPE-encodes text that contains no special token.
    fn tokenize_segment(&self, segment: &str, ids: &mut Vec<u32>) {
        if segment.is_empty() {
            return;
        }
        let normalized = normalize(segment);
        for word in self.clip_pattern.find_iter(&normalized) {
            let word = word.as_str();
            // Isolated split: the gaps between matches are kept as pieces too.
            let mut last = 0;
            for m in self.byte_level_pattern.find_iter(word) {
                if m.start() > last {
                    self.bpe(&word[last..m.start()], ids);
                }
                self.bpe(m.as_str(), ids);
                last = m.end();
            }
            if last < word.len() {
                self.bpe(&word[last..], ids);
            }
        }
    }

    /// Appends the BPE ids of one pre-tokenized word.
    fn bpe(&self, word: &str, ids: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(word)
        {
            ids.extend_from_slice(hit);
            return;
        }
        let mapped = self.byte_level.encode(word);
        let mut chars = mapped.chars().peekable();
        let mut initial = Vec::with_capacity(mapped.len());
        let mut buf = String::new();
        while let Some(c) = chars.next() {
            buf.clear();
            buf.push(c);
            if chars.peek().is_none() {
                buf.push_str(END_OF_WORD_SUFFIX);
            }
            // Unknown pieces become the unknown token (`<|endoftext|>`), as in Hugging Face.
            initial.push(self.encoder.get(&buf).copied().unwrap_or(self.eos_id));
        }
        let merged = bpe::merge_word(&initial, &self.merges);
        ids.extend_from_slice(&merged);
        if let Ok(mut cache) = self.cache.lock()
            && cache.len() < CACHE_CAPACITY
        {
            cache.insert(word.to_string(), merged);
        }
    }
}

/// NFC, whitespace runs to one space, per-character lower case (Hugging Face's CLIP normalizer).
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.nfc() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            in_space = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Parses `merges.txt` into (left id, right id) -> (rank, merged id).
fn parse_merges(
    merges_txt: &str,
    encoder: &HashMap<String, u32>,
) -> Result<MergeMap, TokenizerError> {
    let mut merges = MergeMap::new();
    let mut rank = 0u32;
    for (index, raw) in merges_txt.lines().enumerate() {
        let line = index + 1;
        if raw.starts_with("#version") || raw.is_empty() {
            continue;
        }
        let mut parts = raw.split(' ');
        let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TokenizerError::MalformedMerge {
                line,
                content: raw.to_string(),
            });
        };
        if a.is_empty() || b.is_empty() {
            return Err(TokenizerError::MalformedMerge {
                line,
                content: raw.to_string(),
            });
        }
        let id = |token: &str| {
            encoder
                .get(token)
                .copied()
                .ok_or_else(|| TokenizerError::MergeTokenNotInVocab {
                    line,
                    token: token.to_string(),
                })
        };
        let pair = (id(a)?, id(b)?);
        let merged = id(&format!("{a}{b}"))?;
        merges.insert(pair, (rank, merged));
        rank += 1;
    }
    Ok(merges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_matches_hugging_face_rules() {
        assert_eq!(normalize("  A\t\nB  "), " a b ");
        assert_eq!(normalize("cafe\u{301}"), "caf\u{e9}");
        assert_eq!(normalize("ΟΔΟΣ"), "οδοσ");
        assert_eq!(normalize("a\u{a0}\u{3000}b\u{200b}"), "a b\u{200b}");
    }
}
