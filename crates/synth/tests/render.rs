//! Every concept renders in every kind and size, visibly but without filling the image.

use image::RgbImage;
use modalscope_synth::{Backing, CONCEPTS, Overlay, Scene};

const SIZES: [u32; 4] = [48, 64, 96, 128];

/// The fraction of pixels that differ noticeably between two renderings.
fn changed_fraction(a: &RgbImage, b: &RgbImage) -> f32 {
    let changed = a
        .pixels()
        .zip(b.pixels())
        .filter(|(p, q)| p.0.iter().zip(q.0).any(|(&x, y)| x.abs_diff(y) > 24))
        .count();
    changed as f32 / (a.width() * a.height()) as f32
}

/// The pixel variance summed over the three channels.
fn variance(image: &RgbImage) -> f32 {
    let n = (image.width() * image.height()) as f32;
    (0..3)
        .map(|c| {
            let values: Vec<f32> = image.pixels().map(|p| f32::from(p.0[c])).collect();
            let mean = values.iter().sum::<f32>() / n;
            values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n
        })
        .sum()
}

/// The scene rendered with and without its foreground (drawing and word).
fn with_and_without(scene: &Scene, size: u32) -> (RgbImage, RgbImage) {
    let bare = Scene {
        drawing: None,
        lettering: None,
        ..scene.clone()
    };
    (scene.render(size), bare.render(size))
}

/// Renders `scene` and records a problem if its foreground covers a fraction outside `range`
/// or the image is nearly flat.
fn check(problems: &mut Vec<String>, what: &str, scene: &Scene, size: u32, range: (f32, f32)) {
    let (image, bare) = with_and_without(scene, size);
    assert_eq!(image.dimensions(), (size, size));
    let fraction = changed_fraction(&image, &bare);
    if !(range.0..=range.1).contains(&fraction) {
        problems.push(format!(
            "{what} at {size} px: foreground {:.1} % ({scene:?})",
            100.0 * fraction
        ));
    }
    if variance(&image) <= 100.0 {
        problems.push(format!("{what} at {size} px is nearly flat"));
    }
}

#[test]
fn every_concept_renders_visibly_in_every_kind_and_size() {
    // Over 60 seeds per concept the extremes are about 2.5 % (a small outlined circle, a short
    // word in small letters) and 57 % (a big word on a label); mixed scenes 5 % to 45 %.
    let mut problems = Vec::new();
    for size in SIZES {
        for (id, name) in CONCEPTS.iter().enumerate() {
            for seed in 0..4 {
                let p = &mut problems;
                check(
                    p,
                    &format!("drawn {name}"),
                    &Scene::drawn(id, seed),
                    size,
                    (0.02, 0.7),
                );
                check(
                    p,
                    &format!("written {name}"),
                    &Scene::written(name, seed),
                    size,
                    (0.02, 0.7),
                );
                let other = CONCEPTS[(id + 1 + seed as usize) % CONCEPTS.len()];
                check(
                    p,
                    &format!("{other} on {name}"),
                    &Scene::mixed(id, other, seed),
                    size,
                    (0.05, 0.8),
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn scenes_render_the_same_at_every_call_and_scale_with_size() {
    let scene = Scene::mixed(3, "apple", 9);
    assert_eq!(scene.render(64), scene.render(64));
    let (small, large) = (scene.render(48), scene.render(128));
    let small_fraction = changed_fraction(
        &small,
        &Scene {
            drawing: None,
            lettering: None,
            ..scene.clone()
        }
        .render(48),
    );
    let large_fraction = changed_fraction(
        &large,
        &Scene {
            drawing: None,
            lettering: None,
            ..scene.clone()
        }
        .render(128),
    );
    assert!(
        (small_fraction - large_fraction).abs() < 0.08,
        "{small_fraction} vs {large_fraction}"
    );
}

#[test]
fn arbitrary_words_render() {
    for word in ["", "a", "zebra", "multimodal", "ünïcode", "two words"] {
        let image = modalscope_synth::render_written(word, 64, 1);
        assert_eq!(image.dimensions(), (64, 64));
    }
    let long = modalscope_synth::render_written("extraordinarily", 64, 2);
    assert!(variance(&long) > 50.0);
}

#[test]
fn one_seed_gives_every_concept_the_same_attributes() {
    for seed in 0..5 {
        let reference = Scene::drawn(0, seed);
        let r = reference.drawing.unwrap();
        for id in 1..CONCEPTS.len() {
            let scene = Scene::drawn(id, seed);
            let d = scene.drawing.unwrap();
            assert_eq!(scene.background, reference.background);
            assert_eq!(
                (d.colour, d.ink, d.style, d.size, d.position, d.centre),
                (r.colour, r.ink, r.style, r.size, r.position, r.centre)
            );
        }
    }
}

#[test]
fn an_attack_word_takes_the_asked_height_on_the_same_drawing() {
    for seed in 0..20 {
        let concept = seed as usize % CONCEPTS.len();
        let plain = Scene::mixed(concept, "cup", seed);
        for height in [0.1, 0.2, 0.3, 0.45] {
            let overlay = Overlay {
                height: Some(height),
                ..Overlay::default()
            };
            let sized = Scene::mixed_with(concept, "cup", seed, overlay);
            // The drawing, background and the word's colour and case are those of the plain
            // attack; only the letters' size (and so where they fit) differs.
            assert_eq!(sized.drawing, plain.drawing);
            assert_eq!(sized.background, plain.background);
            let (a, b) = (
                sized.lettering.as_ref().unwrap(),
                plain.lettering.as_ref().unwrap(),
            );
            assert_eq!((a.colour, a.uppercase), (b.colour, b.uppercase));
            // A three-letter word fits at moderate heights unshrunk; at big ones it may shrink
            // to fit (capitals on a label), but never grows past the height asked for.
            let got = a.params.height;
            assert!(
                got <= height + 1e-3,
                "seed {seed}: asked {height}, got {got}"
            );
            if height <= 0.2 {
                assert!(
                    (got - height).abs() < 1e-3,
                    "seed {seed}: asked {height}, got {got}"
                );
            } else {
                assert!(
                    got > b.params.height,
                    "seed {seed}: {got} not above {}",
                    b.params.height
                );
            }
        }
    }
}

#[test]
fn an_attack_word_goes_on_a_label_or_in_ink_as_asked_on_the_same_drawing() {
    let with = |concept, seed, backing| {
        let overlay = Overlay {
            backing,
            ..Overlay::default()
        };
        Scene::mixed_with(concept, "bell", seed, overlay)
    };
    let mut trained_labels = 0;
    for seed in 0..60 {
        let concept = seed as usize % CONCEPTS.len();
        let plain = Scene::mixed(concept, "bell", seed);
        assert_eq!(with(concept, seed, Backing::AsTrained), plain);
        let label = with(concept, seed, Backing::Label);
        let ink = with(concept, seed, Backing::Ink);
        for forced in [&label, &ink] {
            assert_eq!(forced.drawing, plain.drawing);
            assert_eq!(forced.background, plain.background);
            let (a, b) = (forced.lettering.as_ref(), plain.lettering.as_ref());
            assert_eq!(a.unwrap().uppercase, b.unwrap().uppercase);
        }
        assert!(label.lettering.as_ref().unwrap().params.label.is_some());
        assert!(ink.lettering.as_ref().unwrap().params.label.is_none());
        // Forcing the backing the training's draw chose changes nothing.
        if plain.lettering.as_ref().unwrap().params.label.is_some() {
            trained_labels += 1;
            assert_eq!(label, plain, "seed {seed}");
        } else {
            assert_eq!(ink, plain, "seed {seed}");
        }
        // The label shows: it changes more of the image than ink alone does.
        let clean = Scene::drawn(concept, seed).render(64);
        assert_ne!(ink.render(64), clean, "seed {seed}: the ink shows");
        assert!(
            changed_fraction(&label.render(64), &clean) > changed_fraction(&ink.render(64), &clean),
            "seed {seed}"
        );
    }
    // About 30 % of the training's attacks are on labels.
    assert!((8..=30).contains(&trained_labels), "{trained_labels} of 60");
}
