//! The rendered-text probe (`modalscope words`) on the shipped built-in model: it agrees with
//! neurons found on a different set of written images, and the command prints what the
//! library computes.

use modalscope_analysis::Reduce;
use modalscope_analysis::reading::{RENDERINGS, rank_words, reading_responses};
use modalscope_cli::study::{BATCH, Modality, Study, probes};
use modalscope_synth::CONCEPTS;

mod common;
use common::modalscope;

const BUNDLE: &[u8] = include_bytes!("../../../web/builtin.msb");
const BUNDLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/builtin.msb");

/// Written probe images per concept used to pick each concept's reading unit.
const PROBE: usize = 8;
/// The concept words' mean rank, as a fraction of the vocabulary, must stay below this
/// (chance: about one half).
const MEAN_RANK: f64 = 0.3;

/// For every concept, the unit of the last MLP layer that best tells written images of it
/// from written images of the others (AUROC on the probe set) must rank the concept's own
/// word high in the rendered-text probe, whose letterings are other random draws and which
/// compares every caption word, not just the 30 concept names. A probe that read the wrong
/// unit, mixed words up or ranked backwards would put the words at chance: a mean rank of
/// half the vocabulary (the mean of 30 random ranks has a spread of 0.05). Measured on the
/// shipped model (r3): 0.25 of the vocabulary, with 4 of 30 words first to third (the model
/// reads weakly: those units' written AUROCs are 0.67 to 0.90).
#[test]
fn the_best_reader_of_a_concept_ranks_its_word_high() {
    let s = Study::from_bytes(BUNDLE).unwrap();
    let layer = s.clip.neuron_layers().last().unwrap().clone();
    let written = s.images(Modality::Written, PROBE, 0);
    let responses = s
        .responses(&layer, std::slice::from_ref(&written), Reduce::Mean)
        .unwrap();
    let sets = std::slice::from_ref(&written);
    let best = modalscope_analysis::best_units(&probes(&responses, sets), CONCEPTS.len());

    let (reading, units) = reading_responses(&s.clip, &layer, &s.words, RENDERINGS, BATCH).unwrap();
    let (mut hits, mut rank_sum) = (0, 0.0);
    for (c, score) in best.iter().enumerate() {
        let ranked = rank_words(
            &s.words,
            &reading,
            units,
            RENDERINGS,
            score.unit,
            s.words.len(),
        )
        .unwrap();
        let rank = ranked.iter().position(|w| w.word == CONCEPTS[c]).unwrap();
        println!(
            "{:>10}: unit {:>3} (written AUROC {:.3}) ranks its word {:>2} of {}; top: {}",
            CONCEPTS[c],
            score.unit,
            score.auroc[0],
            rank + 1,
            ranked.len(),
            ranked[..3]
                .iter()
                .map(|w| w.word.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        hits += usize::from(rank < 3);
        rank_sum += rank as f64 / (ranked.len() - 1) as f64;
    }
    let mean_rank = rank_sum / CONCEPTS.len() as f64;
    println!(
        "mean rank {mean_rank:.3} of the vocabulary (chance 0.5); {hits} of {} words in the top 3",
        CONCEPTS.len()
    );
    assert!(mean_rank < MEAN_RANK, "mean rank {mean_rank:.3}");
}

#[test]
fn the_command_prints_the_library_ranking() {
    let s = Study::from_bytes(BUNDLE).unwrap();
    let layer = s.clip.neuron_layers().last().unwrap().clone();
    let (reading, units) = reading_responses(&s.clip, &layer, &s.words, RENDERINGS, BATCH).unwrap();
    let want = rank_words(&s.words, &reading, units, RENDERINGS, 5, 4).unwrap();
    // `modalscope words` on the built-in model's last MLP layer, with more arguments.
    let words = |more: &[&str]| {
        let mut args = vec!["words", "--model", BUNDLE_PATH, "--layer", layer.as_str()];
        args.extend_from_slice(more);
        modalscope(&args)
    };
    let (ok, out, err) = words(&["--unit", "5", "--top", "4", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: Vec<&str> = v["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["word"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        want.iter().map(|w| w.word.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(v["vocabulary"], s.words.len());
    // The built-in model's probe writes whole caption words only.
    assert!(
        s.words
            .iter()
            .all(|w| modalscope_synth::vocabulary().contains(w))
    );

    let (ok, out, _) = words(&["--unit", "5"]);
    assert!(ok);
    assert!(out.contains(&format!("1  {:<14}", want[0].word)), "{out}");

    let (ok, _, err) = words(&["--unit", "99999"]);
    assert!(!ok && err.contains("unit 99999 is out of range"), "{err}");
    assert!(!err.contains("panicked"));
    let (ok, _, err) = modalscope(&[
        "words",
        "--model",
        BUNDLE_PATH,
        "--layer",
        "text.blocks.0.mlp",
        "--unit",
        "1",
    ]);
    assert!(!ok && err.contains("text tower"), "{err}");
}
