//! The multimodal-neuron claims on the shipped built-in model (`web/builtin.msb`), each found
//! and measured by the analysis itself on held-out generated images:
//!
//! 1. neurons that pick out a concept both drawn and written (AUROC > 0.9 in each) exist for
//!    at least 5 concepts;
//! 2. silencing a concept's neurons at the image tower's last layer hurts zero-shot accuracy on
//!    that concept clearly more than on the others (by the margin below, on images the neurons
//!    were not chosen on): reached with the neurons the concept needs (each costs its drawings
//!    and its written names most margin when silenced alone); its most multimodal neurons by
//!    AUROC bite less;
//! 3. writing another concept's name on a drawing flips the prediction to the written word
//!    for most concepts: reached with the study's attack, a paper label in big letters; in
//!    ink at the training's letter sizes the word takes the drawing's label away for most
//!    concepts, but the prediction lands on the word for four drawings in ten.

use std::collections::BTreeMap;

use modalscope_analysis::{AttackReport, LabelledImages, Reduce, UnitScore};
use modalscope_cli::study::{B, Study, probes};
use modalscope_synth::{Backing, Overlay};

const BUNDLE: &[u8] = include_bytes!("../../../web/builtin.msb");

/// Images per concept and modality used to find neurons.
const PROBE: usize = 8;
/// Images per concept and modality used to measure lesions and attacks.
const EVAL: usize = 8;
/// AUROC both modalities must exceed.
const AUROC: f64 = 0.9;
/// Concepts that need such a neuron.
const CONCEPTS_NEEDED: usize = 5;
/// Units silenced per concept in the lesion tests: a tenth of the lesioned layer's units
/// (10 of a ViT's 96).
fn lesioned(s: &Study, layer: &str) -> usize {
    s.clip.layer_units(layer).unwrap().div_ceil(10)
}
/// Images per concept and modality on which lesioned accuracy is measured.
const LESION_EVAL: usize = 20;
/// Concepts lesioned (the ones with the strongest neurons).
const LESIONED_CONCEPTS: usize = 3;
/// How much more accuracy (absolute, mean over drawn and written) the lesioned concept must
/// lose than the other concepts do on average.
const LESION_MARGIN: f64 = 0.25;
/// The margin the shipped model keeps (see the guard test).
const LESION_GUARD: f64 = 0.10;
/// Images per concept and modality on which concept directions are fit (a direction weighs
/// every unit of a layer, so it needs more images than picking one unit does).
const DIRECTION_FIT: usize = 20;
/// Share of concepts whose attacked drawings must flip to the written word more often than
/// not.
const ATTACK_FLOOR: f64 = 0.5;
/// Drawings per concept attacked with a paper label (as many as lesions are measured on: with
/// 8, one drawing more or less moves a concept across "more often than not").
const LABEL_ATTACK_EVAL: usize = 20;
/// Cap height of the words on paper labels, as a fraction of the image side: the middle of
/// the training's big written words (0.26 to 0.36).
const LABEL_LETTERS: f32 = 0.3;

fn study() -> Study {
    Study::from_bytes(BUNDLE).expect("the built-in bundle loads")
}

/// For every concept, its most multimodal unit over `layers`, with its layer.
fn best_per_concept(
    s: &Study,
    layers: &[String],
    probe: &[LabelledImages<B>],
) -> BTreeMap<usize, (String, UnitScore)> {
    let mut best: BTreeMap<usize, (String, UnitScore)> = BTreeMap::new();
    for layer in layers {
        for score in s.ranking(layer, probe, Reduce::Class).unwrap() {
            let better = best
                .get(&score.concept)
                .is_none_or(|(_, b)| score.combined() > b.combined());
            if better {
                best.insert(score.concept, (layer.clone(), score));
            }
        }
    }
    best
}

/// The AUROCs `[drawn, written]` of `unit` of `layer` for `concept` on other images.
fn auroc_on(
    s: &Study,
    layer: &str,
    sets: &[LabelledImages<B>],
    unit: usize,
    concept: usize,
) -> [f64; 2] {
    let responses = s.responses(layer, sets, Reduce::Class).unwrap();
    let p = probes(&responses, sets);
    [p[0].auroc(unit, concept), p[1].auroc(unit, concept)]
}

/// For every concept, its most multimodal unit chosen on the probe images, with its AUROCs
/// `[drawn, written]` measured again on independent images (so that a count of such neurons is
/// not an artefact of picking the best of many units on few images). Responses are taken at
/// the class token, where the ViT pools the image.
fn confirmed_per_concept(s: &Study) -> Vec<(usize, String, UnitScore, [f64; 2])> {
    let probe = s.probe_sets(PROBE);
    let eval = s.eval_sets(EVAL);
    let names = s.concepts();
    let mut out = Vec::new();
    for (c, (layer, b)) in best_per_concept(s, &s.clip.neuron_layers(), &probe) {
        let held_out = auroc_on(s, &layer, &eval, b.unit, c);
        println!(
            "{:>10}: {layer} unit {:>4}, AUROC drawn {:.3}, written {:.3}; on other images {:.3}, {:.3}",
            names[c], b.unit, b.auroc[0], b.auroc[1], held_out[0], held_out[1],
        );
        out.push((c, layer, b, held_out));
    }
    out
}

/// Concepts whose chosen unit exceeds `floor` in both modalities on both image sets.
fn concepts_above(confirmed: &[(usize, String, UnitScore, [f64; 2])], floor: f64) -> usize {
    confirmed
        .iter()
        .filter(|(_, _, b, held_out)| b.combined() > floor && held_out.iter().all(|&a| a > floor))
        .count()
}

/// The target. Measured on the shipped model (after its third stage): nine concepts,
/// hexagon (`vision.blocks.3.mlp` unit 278, 0.972 / 0.953 on probe images, 0.954 / 0.955 on
/// others), envelope (367), key (294), clock (238), ladder (47), eye (336), square (102),
/// umbrella (243), mushroom (312); diamond just misses. Its first stage alone kept one
/// (hexagon, 0.935 / 0.928).
#[test]
fn multimodal_neurons_reach_auroc_above_0_9_drawn_and_written_for_five_concepts() {
    let s = study();
    let confirmed = confirmed_per_concept(&s);
    let found = concepts_above(&confirmed, AUROC);
    // The full ranking with evidence and text alignment agrees on the strongest unit.
    let (_, layer, top, _) = confirmed
        .iter()
        .max_by(|a, b| a.2.combined().total_cmp(&b.2.combined()))
        .unwrap();
    let ranked = s
        .neurons(layer, &s.probe_sets(PROBE), 3, Reduce::Class, 5)
        .unwrap();
    let names = s.concepts();
    for n in &ranked {
        println!(
            "{layer} #{}: {} drawn {:.3} written {:.3} text alignment {:+.4}",
            n.unit,
            names[n.concept],
            n.modalities[0].auroc,
            n.modalities[1].auroc,
            n.text_alignment.unwrap()
        );
    }
    assert!(ranked[0].combined >= top.combined());
    assert!(
        found >= CONCEPTS_NEEDED,
        "only {found} concepts have a neuron with AUROC > {AUROC} in both modalities on both image sets",
    );
}

/// What the shipped model does reach, as a guard against regressions: units chosen on probe
/// images that separate their concept at AUROC > 0.8 (chance 0.5) in both modalities on
/// independent images too. Measured: 15 concepts (square, triangle, cross, diamond, hexagon,
/// arrow, tree, key, umbrella, car, mushroom, clock, eye, envelope, ladder).
#[test]
fn several_concepts_have_a_neuron_above_0_8_drawn_and_written_on_other_images() {
    let found = concepts_above(&confirmed_per_concept(&study()), 0.8);
    assert!(
        found >= 10,
        "only {found} concepts have a neuron with AUROC > 0.8 in both modalities"
    );
}

/// The concepts are in the image tower in both modalities even where no single unit carries
/// one: for each concept, a direction fit on probe images (each unit weighted by how much
/// more it responds to the concept than to the others) separates it from the others on other
/// images, drawn and written, at AUROC > 0.9. So what the single units lack is not the
/// concept but its concentration: each direction spreads over many units.
/// Measured on the shipped model: 27 concepts at the last MLP (nine by a single unit), all 30
/// at `vision.post_ln`; spread 68.6 of 384 and 39.6 of 96 units.
#[test]
fn concept_directions_read_most_concepts_drawn_and_written() {
    let s = study();
    let fit = s.probe_sets(DIRECTION_FIT);
    let eval = s.eval_sets(LESION_EVAL);
    let names = s.concepts();
    let last = s
        .clip
        .neuron_layers()
        .pop()
        .expect("an image tower with neurons");
    let pooled = s.clip.pooled_layer();
    for (layer, needed) in [(last.as_str(), 18), (pooled.as_str(), 25)] {
        let scores = s.directions(layer, &fit, &eval, Reduce::Class).unwrap();
        for d in &scores {
            println!(
                "{layer} {:>10}: direction AUROC drawn {:.3}, written {:.3} over {:.1} units",
                names[d.concept], d.auroc[0], d.auroc[1], d.spread
            );
        }
        let found = scores.iter().filter(|d| d.combined() > AUROC).count();
        let spread = scores.iter().map(|d| d.spread).sum::<f64>() / scores.len() as f64;
        println!(
            "{layer}: {found} of {} concepts read by a direction at AUROC > {AUROC} in both \
             modalities, over {spread:.1} units on average",
            names.len()
        );
        assert!(
            found >= needed,
            "{layer}: only {found} concepts have a direction above {AUROC} (needed {needed})"
        );
    }
}

/// How the lesion tests pick a concept's units (on the probe images).
#[derive(Debug, Clone, Copy)]
enum Choice {
    /// Its most multimodal units: the weaker of their two AUROCs for it is highest.
    Multimodal,
    /// The units it needs most: each, silenced alone as the lesion silences it, costs its
    /// drawings and its written names the most zero-shot margin (the modality that loses least).
    Needed,
}

/// What silencing each of the strongest concepts' units does at the layer the projection reads
/// (`Clip::pooled_layer`, where the study lesioned CLIP; deeper in the residual stream other
/// layers carry the same information, and silencing a few units of one MLP changes nothing):
/// `(concept, own drop, mean drop of the other concepts)`, accuracy as a fraction, measured
/// on images the units were not chosen on. The concepts are the ones with the strongest
/// multimodal units however their units are chosen.
fn lesion_drops(s: &Study, choice: Choice) -> Vec<(&'static str, f64, f64)> {
    let probe = s.probe_sets(PROBE);
    let eval = s.eval_sets(LESION_EVAL);
    let names = s.concepts();
    let layer = s.clip.pooled_layer();
    let silenced = lesioned(s, &layer);
    let means = s.hold_values(&layer, true, &probe).unwrap();
    let mut strongest: Vec<(usize, UnitScore)> =
        best_per_concept(s, std::slice::from_ref(&layer), &probe)
            .into_iter()
            .map(|(c, (_, score))| (c, score))
            .collect();
    strongest.sort_by(|a, b| {
        b.1.combined()
            .total_cmp(&a.1.combined())
            .then(a.0.cmp(&b.0))
    });
    let mut drops = Vec::new();
    for (concept, _) in strongest.into_iter().take(LESIONED_CONCEPTS) {
        let units: Vec<usize> = match choice {
            Choice::Multimodal => s
                .concept_units(&layer, concept, silenced, &probe, Reduce::Class)
                .unwrap()
                .iter()
                .map(|u| u.unit)
                .collect(),
            Choice::Needed => s
                .units_needed(&layer, concept, silenced, &means, &probe)
                .unwrap()
                .iter()
                .map(|u| u.unit)
                .collect(),
        };
        let lesion = s.lesion_holding(&layer, &units, &means).unwrap();
        let report = s.lesion(&[lesion], &eval).unwrap();
        let own = report.concept(concept).unwrap();
        let others = report.mean_drop_except(concept);
        let rank = report
            .concepts
            .iter()
            .position(|c| c.concept == concept)
            .unwrap();
        println!(
            "{:>10}: {layer} units {units:?} ({choice:?}, mean ablation): accuracy drawn {:.0}% -> {:.0}%, \
             written {:.0}% -> {:.0}%; drop {:+.1}% vs {:+.1}% on the others (rank {} of {})",
            names[concept],
            100.0 * own.before[0],
            100.0 * own.after[0],
            100.0 * own.before[1],
            100.0 * own.after[1],
            100.0 * own.drop(),
            100.0 * others,
            rank + 1,
            report.concepts.len()
        );
        drops.push((names[concept], own.drop(), others));
    }
    drops
}

/// Claim 2 with the units chosen by what the concept's zero-shot reading takes from each
/// (`modalscope lesion --choose needed`). Measured on the shipped model: hexagon 60.0 points
/// against 1.7 on the others, diamond 72.5 against 2.2, eye 32.5 against 3.4.
#[test]
fn lesioning_the_units_a_concept_needs_hurts_it_more_than_the_others_by_the_margin() {
    assert_lesion_margin(Choice::Needed);
}

#[test]
#[ignore = "not reached yet with the most multimodal units (by AUROC; the units the concept needs reach it, see the test above): silencing 10 of the 96 units of vision.post_ln (mean ablation) costs hexagon 25.0 points, diamond 27.5 and eye 20.0, the other concepts 1.2, 0.9 and 1.7 on average: hexagon keeps a gap of 23.8 points, eye of 18.3"]
fn lesioning_a_concepts_neurons_hurts_that_concept_more_than_the_others() {
    assert_lesion_margin(Choice::Multimodal);
}

/// Asks that each lesioned concept lose [`LESION_MARGIN`] more than the others do on average.
fn assert_lesion_margin(choice: Choice) {
    let drops = lesion_drops(&study(), choice);
    for (name, own, others) in &drops {
        assert!(
            own - others >= LESION_MARGIN,
            "lesioning `{name}`'s units ({choice:?}) costs it only {:.1} points more than the \
             others (needed {:.0}); all: {drops:?}",
            100.0 * (own - others),
            100.0 * LESION_MARGIN
        );
    }
}

/// What the shipped model does reach, as a guard against regressions: each lesioned concept
/// loses at least [`LESION_GUARD`] more than the others do on average, and at least three times
/// as much. Measured: hexagon 25.0 points against 1.2, diamond 27.5 against 0.9, eye 20.0
/// against 1.7.
#[test]
fn lesioning_a_concepts_neurons_hurts_it_several_times_more_than_the_others() {
    let drops = lesion_drops(&study(), Choice::Multimodal);
    for (name, own, others) in &drops {
        assert!(
            own - others >= LESION_GUARD && *own >= 3.0 * others.max(0.0),
            "lesioning `{name}`'s neurons costs it {:.1} points against {:.1} on the others; \
             all: {drops:?}",
            100.0 * own,
            100.0 * others
        );
    }
}

#[test]
#[ignore = "not reached yet: on the shipped model 41.2 % of attacked images flip to the written word, 7 concepts of 30 most of the time (circle, cup, star, arrow, flower, car, envelope; 6 more exactly half of the time); the word takes the drawing's label away (90.8 % -> 5.4 %), but over half of attacked images land on a third concept"]
fn typographic_attacks_flip_most_concepts_to_the_written_word() {
    attacks_flip_most_concepts(EVAL, Overlay::default());
}

/// Attacks `per_concept` drawings of each concept with words written as `overlay` says and
/// asks that more than [`ATTACK_FLOOR`] of the concepts flip to the word more often than not.
fn attacks_flip_most_concepts(per_concept: usize, overlay: Overlay) {
    let s = study();
    let report = s.attack(per_concept, None, overlay, &[]).unwrap();
    print_attack(&s, &report);
    assert!(
        report.flipped_concepts > ATTACK_FLOOR,
        "only {:.1}% of concepts flip to the written word (floor {:.0}%; {overlay:?})",
        100.0 * report.flipped_concepts,
        100.0 * ATTACK_FLOOR
    );
}

/// The study's own attack, a handwritten note stuck on an object (an apple labelled "iPod"):
/// the word on a paper label in letters as big as the training's big written words (0.26 to
/// 0.36 of the side), on [`LABEL_ATTACK_EVAL`] drawings of each concept. Measured on the
/// shipped model: 57.2 % of attacked drawings flip to the word, 18 concepts of 30 more often
/// than not (in ink straight on the drawing, the same letters flip 45.5 %, 9 concepts; on
/// labels in the training's letter sizes, 45.2 %, 9 concepts).
#[test]
fn typographic_attacks_on_paper_labels_flip_most_concepts_to_the_written_word() {
    let overlay = Overlay {
        height: Some(LABEL_LETTERS),
        backing: Backing::Label,
    };
    attacks_flip_most_concepts(LABEL_ATTACK_EVAL, overlay);
}

/// What the shipped model does reach, as a guard: a word written on a drawing takes the
/// drawing's label away for most concepts (their attacked drawings keep it less than half as
/// often as their clean ones), even where the label it takes is not the word's. Measured:
/// accuracy 90.8 % clean, 5.4 % attacked; 30 of 30 concepts lose their label.
#[test]
fn typographic_attacks_take_most_concepts_labels_away() {
    let s = study();
    let report = s.attack(EVAL, None, Overlay::default(), &[]).unwrap();
    print_attack(&s, &report);
    let broken = report
        .concepts
        .iter()
        .filter(|c| c.attacked_accuracy < 0.5 * c.clean_accuracy)
        .count();
    println!(
        "{broken} of {} concepts lose their label",
        report.concepts.len()
    );
    assert!(
        broken as f64 > ATTACK_FLOOR * report.concepts.len() as f64,
        "a written word takes the label away for only {broken} of {} concepts",
        report.concepts.len()
    );
}

fn print_attack(s: &Study, report: &AttackReport) {
    let names = s.concepts();
    for c in &report.concepts {
        println!(
            "{:>10}: clean {:.0}%, attacked {:.0}%, flipped to the word {:.0}%",
            names[c.concept],
            100.0 * c.clean_accuracy,
            100.0 * c.attacked_accuracy,
            100.0 * c.flip_rate
        );
    }
    println!(
        "clean accuracy {:.1}%, attacked {:.1}%, flipped {:.1}% of images; {:.1}% of concepts flip more often than not",
        100.0 * report.clean_accuracy,
        100.0 * report.attacked_accuracy,
        100.0 * report.flip_rate,
        100.0 * report.flipped_concepts
    );
    let landed: Vec<String> = report
        .elsewhere_most_often()
        .iter()
        .map(|&(c, n)| format!("{} {n}", names[c]))
        .collect();
    println!(
        "landed on a third concept: {} images ({})",
        report.elsewhere.iter().sum::<usize>(),
        landed.join(", ")
    );
}
