//! The generator: determinism, random access, kinds and captions.

use std::collections::BTreeSet;

use modalscope_synth::{
    CONCEPTS, DECOYS, Generator, GeneratorConfig, SHORT_NAME, SampleKind, Size, SynthError,
    is_short, vocabulary,
};

fn generator(seed: u64) -> Generator {
    Generator::new(GeneratorConfig::default(), seed).unwrap()
}

#[test]
fn same_seed_and_index_give_the_same_sample_and_indices_differ() {
    let (a, b) = (generator(5), generator(5));
    for index in [0, 1, 17, 1_000_000, u64::MAX] {
        assert_eq!(a.sample(index), b.sample(index));
    }
    // Random access: sample 40 does not depend on having generated 0..40 first.
    let batch = a.batch(30, 20);
    assert_eq!(batch[10], b.sample(40));
    let images: BTreeSet<Vec<u8>> = (0..50).map(|i| a.sample(i).image.into_raw()).collect();
    assert_eq!(images.len(), 50, "distinct indices gave identical images");
    let other = generator(6);
    assert_ne!(a.sample(3).image, other.sample(3).image);
}

#[test]
fn captions_use_only_the_vocabulary() {
    let vocab: BTreeSet<String> = vocabulary().into_iter().collect();
    let config = GeneratorConfig {
        image_size: 16,
        ..GeneratorConfig::default()
    };
    let g = Generator::new(config, 11).unwrap();
    let mut used = BTreeSet::new();
    for i in 0..3000 {
        let sample = g.sample(i);
        assert!(!sample.caption.is_empty());
        for word in sample.caption.split(' ') {
            assert!(
                vocab.contains(word),
                "{word:?} of {:?} is not in the vocabulary",
                sample.caption
            );
            used.insert(word.to_string());
        }
    }
    // The vocabulary is not padded with words no caption uses.
    let unused: Vec<_> = vocab.difference(&used).collect();
    assert!(unused.is_empty(), "never used: {unused:?}");
}

#[test]
fn captions_name_what_the_image_shows() {
    let g = Generator::new(
        GeneratorConfig {
            image_size: 16,
            ..GeneratorConfig::default()
        },
        3,
    )
    .unwrap();
    let mut kinds = [0usize; 3];
    let (mut mixed, mut mixed_word_only) = (0, 0);
    for i in 0..2000 {
        let s = g.sample(i);
        let words: Vec<&str> = s.caption.split(' ').collect();
        let names = |id: Option<usize>| id.is_some_and(|c| words.contains(&CONCEPTS[c]));
        match s.kind {
            SampleKind::Drawn => {
                kinds[0] += 1;
                assert!(s.drawn.is_some() && s.written.is_none());
                assert!(
                    names(s.drawn),
                    "{:?} does not name {:?}",
                    s.caption,
                    s.drawn
                );
            }
            SampleKind::Written => {
                kinds[1] += 1;
                assert!(s.drawn.is_none() && s.written.is_some());
                assert!(
                    names(s.written),
                    "{:?} does not name {:?}",
                    s.caption,
                    s.written
                );
            }
            SampleKind::Mixed => {
                kinds[2] += 1;
                assert!(s.drawn.is_some() && s.written.is_some() && s.drawn != s.written);
                assert!(
                    names(s.written),
                    "{:?} does not name the written {:?}",
                    s.caption,
                    s.written
                );
                mixed += 1;
                if !names(s.drawn) {
                    mixed_word_only += 1;
                }
            }
        }
        let scene = &s.scene;
        assert_eq!(scene.drawing.map(|d| d.concept), s.drawn);
        assert_eq!(
            scene.lettering.as_ref().map(|l| l.word.as_str()),
            s.written.map(|w| CONCEPTS[w])
        );
    }
    let share = |n: usize| n as f32 / 2000.0;
    assert!((share(kinds[0]) - 0.45).abs() < 0.05, "{kinds:?}");
    assert!((share(kinds[1]) - 0.35).abs() < 0.05, "{kinds:?}");
    assert!((share(kinds[2]) - 0.2).abs() < 0.05, "{kinds:?}");
    let word_only = mixed_word_only as f32 / mixed as f32;
    assert!((0.4..0.6).contains(&word_only), "{word_only}");
}

#[test]
fn attributes_in_captions_match_the_scene() {
    let g = generator(21);
    for i in 0..1500 {
        let s = g.sample(i);
        let caption = format!(" {} ", s.caption);
        if let (SampleKind::Drawn, Some(d)) = (s.kind, s.scene.drawing) {
            for colour in modalscope_synth::Colour::ALL {
                if caption.contains(&format!(" {} {}", colour.name(), CONCEPTS[d.concept])) {
                    assert_eq!(colour, d.colour, "{caption}");
                }
            }
            if caption.contains(d.position.phrase()) {
                continue;
            }
            for p in modalscope_synth::Position::ALL {
                assert!(
                    !caption.contains(p.phrase()),
                    "{caption} but {:?}",
                    d.position
                );
            }
        }
        if let (SampleKind::Written, Some(l)) = (s.kind, &s.scene.lettering) {
            for colour in modalscope_synth::Colour::ALL {
                let name = colour.name();
                if caption.contains(&format!(" written in {name} "))
                    || caption.starts_with(&format!(" {name} text "))
                {
                    assert_eq!(colour, l.colour, "{caption}");
                }
            }
            if caption.contains("capital") {
                assert!(l.uppercase);
            }
        }
    }
}

#[test]
fn configuration_restricts_concepts_and_kinds() {
    let config = GeneratorConfig {
        concepts: vec![3, 7],
        p_drawn: 0.0,
        p_written: 0.0,
        p_mixed: 1.0,
        p_word_only: 1.0,
        ..GeneratorConfig::default()
    };
    let g = Generator::new(config, 0).unwrap();
    for i in 0..100 {
        let s = g.sample(i);
        assert_eq!(s.kind, SampleKind::Mixed);
        let (d, w) = (s.drawn.unwrap(), s.written.unwrap());
        assert!((d == 3 && w == 7) || (d == 7 && w == 3));
        assert!(
            !s.caption.split(' ').any(|x| x == CONCEPTS[d]),
            "{}",
            s.caption
        );
    }
    let sized = Generator::new(
        GeneratorConfig {
            image_size: 96,
            ..GeneratorConfig::default()
        },
        0,
    )
    .unwrap();
    assert_eq!(sized.sample(0).image.dimensions(), (96, 96));
}

#[test]
fn invalid_configurations_are_refused() {
    let base = GeneratorConfig::default();
    let refuse = |config: GeneratorConfig| Generator::new(config, 0).unwrap_err();
    assert_eq!(
        refuse(GeneratorConfig {
            image_size: 4,
            ..base.clone()
        }),
        SynthError::ImageSize(4)
    );
    assert_eq!(
        refuse(GeneratorConfig {
            concepts: vec![],
            ..base.clone()
        }),
        SynthError::NoConcepts
    );
    assert!(matches!(
        refuse(GeneratorConfig {
            concepts: vec![0, 99],
            ..base.clone()
        }),
        SynthError::UnknownConcept(99, _)
    ));
    assert!(matches!(
        refuse(GeneratorConfig {
            p_drawn: 0.0,
            p_written: 0.0,
            p_mixed: 0.0,
            ..base.clone()
        }),
        SynthError::Probabilities(..)
    ));
    assert!(matches!(
        refuse(GeneratorConfig {
            p_drawn: f32::NAN,
            ..base.clone()
        }),
        SynthError::Probabilities(..)
    ));
    assert_eq!(
        refuse(GeneratorConfig {
            p_word_only: 1.5,
            ..base.clone()
        }),
        SynthError::WordOnlyShare(1.5)
    );
    assert_eq!(
        refuse(GeneratorConfig {
            p_labelled: 1.5,
            ..base.clone()
        }),
        SynthError::LabelledShare(1.5)
    );
    assert_eq!(
        refuse(GeneratorConfig {
            p_big_words: -0.5,
            ..base.clone()
        }),
        SynthError::BigWordsShare(-0.5)
    );
    for share in [-0.1, 1.5, f32::NAN] {
        assert!(matches!(
            refuse(GeneratorConfig {
                p_decoys: share,
                ..base.clone()
            }),
            SynthError::DecoyShare(_)
        ));
    }
    for weight in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            refuse(GeneratorConfig {
                short_words: weight,
                ..base.clone()
            }),
            SynthError::ShortWordsWeight(_)
        ));
    }
    assert_eq!(
        refuse(GeneratorConfig {
            concepts: vec![2, 2],
            ..base.clone()
        }),
        SynthError::MixedNeedsTwoConcepts
    );
    assert!(
        Generator::new(
            GeneratorConfig {
                concepts: vec![2],
                p_mixed: 0.0,
                ..base
            },
            0
        )
        .is_ok()
    );
}

#[test]
fn the_share_of_written_words_in_big_letters_follows_the_configuration() {
    let n = 600;
    let sizes = |p_big_words: f32| -> Vec<Option<Size>> {
        let config = GeneratorConfig {
            p_drawn: 0.0,
            p_written: 1.0,
            p_mixed: 0.0,
            p_big_words,
            ..GeneratorConfig::default()
        };
        let g = Generator::new(config, 5).unwrap();
        (0..n)
            .map(|i| g.sample(i).scene.lettering.map(|l| l.size))
            .collect()
    };
    let (none, half, most, all) = (sizes(0.0), sizes(0.5), sizes(0.8), sizes(1.0));
    assert!(none.iter().all(|s| *s == Some(Size::Small)));
    // Words asked for in big letters stay big unless they must shrink to fit (long names).
    let fits: Vec<usize> = (0..n as usize)
        .filter(|&i| all[i] == Some(Size::Big))
        .collect();
    assert!(fits.len() > n as usize / 2, "{} of {n} fit", fits.len());
    let share = |v: &[Option<Size>]| {
        fits.iter().filter(|&&i| v[i] == Some(Size::Big)).count() as f64 / fits.len() as f64
    };
    assert!((0.42..0.58).contains(&share(&half)), "{}", share(&half));
    assert!((0.72..0.88).contains(&share(&most)), "{}", share(&most));
    // One draw decides: a word in big letters at a lower share is big at any higher one.
    assert!((0..n as usize).all(|i| half[i] != Some(Size::Big) || most[i] == Some(Size::Big)));
}

#[test]
fn short_names_are_written_as_often_as_their_weight_asks_and_drawings_do_not_change() {
    let n = 3000;
    let shorts = CONCEPTS.iter().filter(|c| c.len() <= SHORT_NAME).count() as f64;
    let longs = CONCEPTS.len() as f64 - shorts;
    assert!(
        shorts >= 5.0 && longs >= 5.0,
        "{shorts} short, {longs} long names"
    );
    let run = |short_words: f32| {
        let config = GeneratorConfig {
            short_words,
            ..GeneratorConfig::default()
        };
        let g = Generator::new(config, 11).unwrap();
        (0..n).map(|i| g.sample(i)).collect::<Vec<_>>()
    };
    let (even, triple, default) = (run(1.0), run(3.0), generator(11).batch(0, n as usize));
    // Weight 1 is the default, sample for sample.
    assert_eq!(even, default);
    let share = |samples: &[modalscope_synth::Sample], kind: SampleKind| {
        let words: Vec<usize> = samples
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.written.expect("a written word"))
            .collect();
        words.iter().filter(|&&c| is_short(c)).count() as f64 / words.len() as f64
    };
    let expected = |w: f64| w * shorts / (w * shorts + longs);
    for kind in [SampleKind::Written, SampleKind::Mixed] {
        let (at1, at3) = (share(&even, kind), share(&triple, kind));
        assert!((at1 - expected(1.0)).abs() < 0.06, "{kind:?}: {at1}");
        assert!((at3 - expected(3.0)).abs() < 0.06, "{kind:?}: {at3}");
    }
    // Drawings alone are the same samples whatever the weight of short names.
    for (a, b) in even.iter().zip(&triple) {
        if a.kind == SampleKind::Drawn {
            assert_eq!(a, b);
        }
    }
    // The mixed samples' drawn concept is not weighted: about as many short as at weight 1.
    let drawn_short = |samples: &[modalscope_synth::Sample]| {
        let mixed: Vec<_> = samples
            .iter()
            .filter(|s| s.kind == SampleKind::Mixed)
            .collect();
        mixed.iter().filter(|s| is_short(s.drawn.unwrap())).count() as f64 / mixed.len() as f64
    };
    assert!(
        (drawn_short(&triple) - expected(1.0)).abs() < 0.08,
        "{}",
        drawn_short(&triple)
    );
}

#[test]
fn decoys_are_short_words_that_no_caption_or_concept_uses() {
    let vocab: BTreeSet<String> = vocabulary().into_iter().collect();
    let unique: BTreeSet<&str> = DECOYS.iter().copied().collect();
    assert_eq!(unique.len(), DECOYS.len());
    for d in DECOYS {
        assert!(d.chars().all(|c| c.is_ascii_lowercase()), "{d}");
        assert!((3..=SHORT_NAME).contains(&d.len()), "{d}");
        assert!(!vocab.contains(*d), "{d} is a caption word");
    }
}

#[test]
fn a_share_of_written_samples_shows_decoys_captioned_with_them() {
    let n = 2000;
    let run = |p_decoys: f32| {
        let config = GeneratorConfig {
            p_decoys,
            ..GeneratorConfig::default()
        };
        Generator::new(config, 13).unwrap().batch(0, n)
    };
    let (none, some, default) = (run(0.0), run(0.3), generator(13).batch(0, n));
    assert_eq!(none, default);
    assert!(none.iter().all(|s| s.decoy.is_none()));
    let written: Vec<_> = some
        .iter()
        .filter(|s| s.kind == SampleKind::Written)
        .collect();
    let decoys: Vec<_> = written.iter().filter(|s| s.decoy.is_some()).collect();
    let share = decoys.len() as f64 / written.len() as f64;
    assert!((0.24..0.36).contains(&share), "{share}");
    // Only written samples show decoys, and a decoy replaces the concept's name.
    assert!(
        some.iter()
            .all(|s| s.decoy.is_none() || s.kind == SampleKind::Written)
    );
    let mut seen = BTreeSet::new();
    for s in &decoys {
        let word = DECOYS[s.decoy.unwrap()];
        seen.insert(word);
        assert_eq!(s.written, None);
        assert_eq!(s.scene.lettering.as_ref().unwrap().word, word);
        assert!(
            s.caption.split_whitespace().any(|w| w == word),
            "{word}: {}",
            s.caption
        );
        assert!(
            !s.caption.split_whitespace().any(|w| CONCEPTS.contains(&w)),
            "{}",
            s.caption
        );
    }
    assert!(
        seen.len() > DECOYS.len() * 3 / 4,
        "{} decoys seen",
        seen.len()
    );
    // Drawings and mixtures are the samples they were without decoys.
    for (a, b) in none.iter().zip(&some) {
        if a.kind != SampleKind::Written {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn labelled_drawings_carry_their_own_name_as_often_as_asked() {
    let with = |p_labelled: f32| {
        let config = GeneratorConfig {
            p_labelled,
            ..GeneratorConfig::default()
        };
        Generator::new(config, 11).unwrap().batch(0, 800)
    };
    let (none, half, all) = (with(0.0), with(0.5), with(1.0));
    let mixed = |samples: &[modalscope_synth::Sample]| -> Vec<modalscope_synth::Sample> {
        samples
            .iter()
            .filter(|s| s.kind == SampleKind::Mixed)
            .cloned()
            .collect()
    };
    let own = |samples: &[modalscope_synth::Sample]| {
        let m = mixed(samples);
        assert!(m.len() > 100, "{} mixed samples", m.len());
        m.iter().filter(|s| s.drawn == s.written).count() as f64 / m.len() as f64
    };
    assert_eq!(own(&none), 0.0);
    assert_eq!(own(&all), 1.0);
    assert!((0.4..0.6).contains(&own(&half)), "{}", own(&half));
    // A labelled drawing shows its own name, which its caption names.
    for s in mixed(&all) {
        let name = CONCEPTS[s.drawn.unwrap()];
        assert_eq!(s.scene.lettering.as_ref().unwrap().word, name);
        assert!(s.caption.split(' ').any(|w| w == name), "{}", s.caption);
    }
    // Samples of other kinds are the same whatever the share: the draw is made for mixtures only.
    for (a, b) in none.iter().zip(&half) {
        if a.kind != SampleKind::Mixed {
            assert_eq!(a, b);
        }
    }
}
