//! Parity with `transformers.CLIPTokenizer` on the tiny CLIP vocabulary
//! (fixture written by tools/reference/make_tokenizer_cases.py).

use modalscope_tokenizer::{ClipTokenizer, TokenizerError};
use serde_json::Value;

const VOCAB: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tokenizer/vocab.json"
));
const MERGES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tokenizer/merges.txt"
));
const CASES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tokenizer/cases.json"
));
const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tokenizer"
);

fn tokenizer() -> ClipTokenizer {
    ClipTokenizer::from_strings(VOCAB, MERGES).expect("fixture vocabulary loads")
}

struct Case {
    text: String,
    ids: Vec<u32>,
    padded_ids: Vec<u32>,
    decoded: String,
}

fn cases() -> Vec<Case> {
    let json: Value = serde_json::from_str(CASES).expect("cases.json parses");
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .expect("id list")
            .iter()
            .map(|x| u32::try_from(x.as_u64().expect("integer id")).expect("id fits u32"))
            .collect()
    };
    json.as_array()
        .expect("cases.json is a list")
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().expect("text").to_string(),
            ids: ids(&c["ids"]),
            padded_ids: ids(&c["padded_ids"]),
            decoded: c["decoded"].as_str().expect("decoded").to_string(),
        })
        .collect()
}

/// Describes where two id sequences differ, with token strings around the first mismatch.
fn diff(tok: &ClipTokenizer, got: &[u32], want: &[u32]) -> String {
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let show = |ids: &[u32]| {
        let lo = first.saturating_sub(3);
        let hi = (first + 6).min(ids.len());
        ids[lo..hi]
            .iter()
            .map(|&id| format!("{id}:{:?}", tok.id_to_token(id).unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "lengths got {} want {}; first difference at index {first}\n      got:  ... {}\n      want: ... {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )
}

#[test]
fn tokenizer_parity_with_transformers() {
    let tok = tokenizer();
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "expected at least 40 cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let ids = tok.encode(&case.text);
        if ids != case.ids {
            failures.push(format!(
                "encode({:?}): {}",
                case.text,
                diff(&tok, &ids, &case.ids)
            ));
        }
        let padded = tok.encode_padded(&case.text);
        if padded != case.padded_ids {
            failures.push(format!(
                "encode_padded({:?}): {}",
                case.text,
                diff(&tok, &padded, &case.padded_ids)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn decode_parity_with_transformers() {
    let tok = tokenizer();
    let failures: Vec<String> = cases()
        .iter()
        .filter_map(|case| {
            let got = tok.decode(&case.ids);
            (got != case.decoded).then(|| {
                format!(
                    "decode(ids of {:?}): got {got:?}, want {:?}",
                    case.text, case.decoded
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn batch_parity_with_transformers() {
    let tok = tokenizer();
    let cases = cases();
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let batch = tok.encode_batch_padded(&texts);
    assert_eq!(batch.len(), cases.len());
    for (row, case) in batch.iter().zip(&cases) {
        assert_eq!(row, &case.padded_ids, "batch row for {:?}", case.text);
    }
}

#[test]
fn special_ids_and_sizes() {
    let tok = ClipTokenizer::from_dir(DIR).expect("from_dir loads the fixture");
    assert_eq!(tok.vocab_size(), 4514);
    assert_eq!(tok.bos_id(), 4512);
    assert_eq!(tok.eos_id(), 4513);
    assert_eq!(tok.pad_id(), 4513);
    assert_eq!(tok.context_length(), 77);
    assert_eq!(tok.token_to_id("<|startoftext|>"), Some(4512));
    assert_eq!(tok.token_to_id("photo</w>"), Some(1125));
    assert_eq!(tok.id_to_token(1125), Some("photo</w>"));
    assert_eq!(tok.id_to_token(99_999), None);
    assert_eq!(tok.token_to_id("not a token"), None);
}

#[test]
fn round_trip_lower_case_ascii() {
    let tok = tokenizer();
    for text in [
        "a photo of a cat",
        "the quick brown fox jumps over the lazy dog",
        "antidisestablishmentarianism and photographs",
        "x y z 1 2 3",
        "",
    ] {
        assert_eq!(tok.decode(&tok.encode(text)), text);
    }
}

#[test]
fn truncation_keeps_eot_last() {
    let tok = tokenizer();
    let long = "a photo of a very long caption ".repeat(40);
    let ids = tok.encode(&long);
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], tok.bos_id());
    assert_eq!(ids[76], tok.eos_id());
    assert_eq!(tok.encode_padded(&long), ids);
    assert!(tok.tokenize(&long).len() > 75);

    let short = tok
        .clone()
        .with_context_length(8)
        .expect("8 is a valid context length");
    let ids = short.encode(&long);
    assert_eq!(ids.len(), 8);
    assert_eq!(ids[7], tok.eos_id());
    assert_eq!(&ids[..7], &tok.encode(&long)[..7]);
    assert_eq!(
        short.encode_padded("cat"),
        vec![4512, 2368, 4513, 4513, 4513, 4513, 4513, 4513]
    );
    assert_eq!(
        short
            .clone()
            .with_context_length(2)
            .expect("2 fits bos+eos")
            .encode("cat"),
        vec![4512, 4513]
    );
    assert!(matches!(
        short.with_context_length(1),
        Err(TokenizerError::ContextLengthTooSmall(1))
    ));
}

#[test]
fn malformed_files_give_errors() {
    let err = |vocab: &str, merges: &str| {
        ClipTokenizer::from_strings(vocab, merges).expect_err("malformed input must be rejected")
    };

    let truncated = &VOCAB[..VOCAB.len() / 2];
    let e = err(truncated, MERGES);
    assert!(matches!(e, TokenizerError::VocabJson(_)), "{e}");
    assert!(e.to_string().contains("vocab.json"), "{e}");
    assert!(matches!(err("[1, 2]", ""), TokenizerError::VocabJson(_)));
    assert!(matches!(
        err(r#"{"a": -1}"#, ""),
        TokenizerError::VocabJson(_)
    ));

    let e = err(r#"{"a": 0, "<|endoftext|>": 1}"#, "");
    assert!(
        matches!(e, TokenizerError::MissingSpecialToken("<|startoftext|>")),
        "{e}"
    );
    let e = err(
        r#"{"a": 0, "b": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}"#,
        "",
    );
    assert!(
        matches!(e, TokenizerError::DuplicateId { id: 0, .. }),
        "{e}"
    );

    let mut bad = MERGES.lines().take(10).collect::<Vec<_>>().join("\n");
    bad.push_str("\nonlyonetoken\n");
    let e = err(VOCAB, &bad);
    assert!(
        matches!(e, TokenizerError::MalformedMerge { line: 11, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("line 11"), "{e}");
    assert!(matches!(
        err(VOCAB, "#version: 0.2\na b c\n"),
        TokenizerError::MalformedMerge { line: 2, .. }
    ));
    let e = err(VOCAB, "#version: 0.2\nq zzzz\n");
    assert!(
        matches!(e, TokenizerError::MergeTokenNotInVocab { line: 2, .. }),
        "{e}"
    );

    let e = ClipTokenizer::from_dir("/nonexistent/tokenizer").expect_err("missing directory");
    assert!(matches!(e, TokenizerError::Io { .. }), "{e}");
}

#[test]
fn odd_input_does_not_panic() {
    let tok = tokenizer();
    for text in [
        "\u{0}",
        "\u{FFFD}\u{FFFF}",
        "<|endoftext",
        "|>",
        "<|<|endoftext|>|>",
        &"x".repeat(5000),
    ] {
        let ids = tok.encode(text);
        assert!(ids.len() <= 77);
        let _ = tok.decode(&ids);
    }
    assert_eq!(tok.decode(&[u32::MAX, 0, 4512, 4513]), "!");
}

#[test]
fn longest_padding_is_transformers_padding_cut_to_the_longest_text() {
    let tok = tokenizer();
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.ids.len() < tok.context_length())
        .take(6)
        .collect();
    assert!(cases.len() >= 2, "the fixture has short texts");
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let longest = cases.iter().map(|c| c.ids.len()).max().unwrap();
    assert!(longest < tok.context_length());
    let batch = tok.encode_batch_longest(&texts);
    for (row, case) in batch.iter().zip(&cases) {
        assert_eq!(
            row[..],
            case.padded_ids[..longest],
            "row for {:?}",
            case.text
        );
    }
}
