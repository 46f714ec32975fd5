//! Rendering: the optimized image drives its objective far above noise and natural images;
//! seeds make renders reproducible; Fourier + decorrelated colour gives smoother images than
//! raw pixels; a ReLU channel or a GELU neuron silent on the starting image still renders; bad
//! requests are refused with clear errors.

mod common;

use burn::backend::{Autodiff, NdArray};
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use common::*;
use modalscope_model::{Activation, Capture, Clip, SeededRng};
use modalscope_vis::{
    Objective, ParamKind, Place, RenderConfig, Session, Transforms, VisError, normalize_input,
    render, unit_values,
};

fn quick(size: usize, steps: usize, seed: u64) -> RenderConfig {
    RenderConfig {
        size,
        steps,
        seed,
        ..RenderConfig::default()
    }
}

/// Values of `obj` on the rendered image and on the baseline images (8 noise images, then the
/// fixture's 3 natural images).
fn margin(model: &str, obj: Objective) -> (f32, Vec<f32>) {
    let clip = load::<B>(model);
    let s = clip.config().vision.image_size();
    let out = render(&clip, obj.clone(), quick(2 * s, 512, 1), 0, |_| true).unwrap();
    let img = Tensor::<B, 4>::from_data(
        TensorData::new(out.pixels.clone(), [1, 3, 2 * s, 2 * s]),
        &Default::default(),
    );
    let optimized = host(obj.scores(&clip, img))[0];
    let mut baseline = host(obj.scores(&clip, noise_images::<B>(8, s, 3)));
    baseline.extend(host(obj.scores(&clip, fixture_images::<B>(s))));
    (optimized, baseline)
}

/// The optimized value must beat every baseline image and stand at least 3 standard
/// deviations above the baselines' mean (measured: 3.3 to 20).
///
/// A ratio to the noise value (say 5x) means little on these random-weight fixtures: a
/// random unit already responds to white noise and to any image with an offset (ReLU after a
/// random BatchNorm shift), and the [0,1] input caps its response (unconstrained pixel
/// optimization saturates hf_vit's `vision.blocks.1.mlp` neuron 3 at 5.9 against 1.7 on
/// noise). The trained built-in model is held to 5x the noise value (modalscope-train).
fn assert_far_above(model: &str, obj: Objective) {
    let (optimized, baseline) = margin(model, obj.clone());
    let n = baseline.len() as f32;
    let mean = baseline.iter().sum::<f32>() / n;
    let std = (baseline.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / (n - 1.0)).sqrt();
    let best = baseline.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z = (optimized - mean) / std.max(1e-6);
    println!(
        "{model} {:?}: optimized {optimized:.4}; baselines mean {mean:.4}, sd {std:.4}, best {best:.4}; z {z:.1}",
        obj.terms[0].term
    );
    assert!(
        optimized > best && z >= 3.0,
        "{model}: optimized {optimized}, baselines {baseline:?}"
    );
}

#[test]
fn optimized_neurons_beat_noise_and_natural_images() {
    assert_far_above("hf_vit", Objective::neuron("vision.blocks.1.mlp", 3));
    assert_far_above("openai_rn", Objective::neuron("vision.layer4.0", 5));
}

#[test]
fn optimized_channels_beat_noise_and_natural_images() {
    assert_far_above("hf_vit", Objective::channel("vision.blocks.1.mlp", 10));
    assert_far_above("openai_rn", Objective::channel("vision.layer3.0", 2));
}

#[test]
fn optimized_text_directions_beat_noise_and_natural_images() {
    // A text embedding of each fixture model ("a photo of a spider" in CLIP's ids, clamped to
    // the tiny vocabulary) as the direction.
    for model in ["hf_vit", "openai_rn"] {
        let clip = load::<B>(model);
        let top = clip.config().text.vocab_size as u32 - 1;
        let ids = vec![
            [49406u32, 320, 1125, 539, 320, 7622, 49407]
                .map(|t| t.min(top))
                .to_vec(),
        ];
        let text = host(clip.encode_text(&ids).unwrap());
        assert_far_above(model, Objective::embedding(text));
    }
}

#[test]
fn same_seed_same_image_bit_for_bit_on_ndarray() {
    type N = Autodiff<NdArray>;
    let clip = load::<N>("hf_vit");
    let obj = Objective::channel("vision.blocks.1.mlp", 4);
    let run = |seed| render(&clip, obj.clone(), quick(48, 12, seed), 0, |_| true).unwrap();
    let (a, b, c) = (run(5), run(5), run(6));
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&a.pixels),
        bits(&b.pixels),
        "same seed, different image"
    );
    assert_eq!(a.values, b.values);
    assert_ne!(
        bits(&a.pixels),
        bits(&c.pixels),
        "different seeds gave the same image"
    );
}

/// Share of the spectral energy (mean removed) above a quarter of the sampling frequency.
fn high_frequency_share(pixels: &[f32], size: usize) -> f64 {
    let plane = size * size;
    let tau = 2.0 * std::f64::consts::PI;
    let (mut high, mut all) = (0.0, 0.0);
    for c in 0..3 {
        let img = &pixels[c * plane..(c + 1) * plane];
        let mean = img.iter().map(|v| *v as f64).sum::<f64>() / plane as f64;
        for ky in 0..size {
            for kx in 0..size {
                let (mut re, mut im) = (0.0, 0.0);
                for y in 0..size {
                    for x in 0..size {
                        let a = tau * ((ky * y + kx * x) % size) as f64 / size as f64;
                        let v = img[y * size + x] as f64 - mean;
                        re += v * a.cos();
                        im -= v * a.sin();
                    }
                }
                let e = re * re + im * im;
                let f = |k: usize| (if k <= size / 2 { k } else { size - k }) as f64 / size as f64;
                all += e;
                if (f(ky).powi(2) + f(kx).powi(2)).sqrt() > 0.25 {
                    high += e;
                }
            }
        }
    }
    high / all.max(1e-30)
}

#[test]
fn fourier_with_decorrelated_colour_has_less_high_frequency_energy_than_pixels() {
    let clip = load::<B>("hf_vit");
    let obj = Objective::channel("vision.blocks.1.mlp", 7);
    let share = |param| {
        let cfg = RenderConfig {
            param,
            ..quick(32, 64, 2)
        };
        let out = render(&clip, obj.clone(), cfg, 0, |_| true).unwrap();
        high_frequency_share(&out.pixels, 32)
    };
    let fourier = share(ParamKind::Fourier {
        decorrelate: true,
        decay_power: 1.0,
    });
    let pixel = share(ParamKind::Pixel { decorrelate: false });
    println!("high-frequency energy share: fourier+decorrelated {fourier:.4}, pixels {pixel:.4}");
    assert!(fourier < 0.5 * pixel, "fourier {fourier} vs pixel {pixel}");
}

#[test]
fn batches_with_diversity_give_different_facets() {
    let clip = load::<B>("hf_vit");
    let layer = "vision.blocks.1.mlp";
    let cfg = RenderConfig {
        batch: 3,
        ..quick(32, 48, 4)
    };
    let plain = render(&clip, Objective::channel(layer, 2), cfg.clone(), 0, |_| {
        true
    })
    .unwrap();
    let diverse = render(
        &clip,
        Objective::channel(layer, 2) + 10.0 * Objective::diversity(layer),
        cfg,
        0,
        |_| true,
    )
    .unwrap();
    let spread = |p: &[f32]| {
        let n = p.len() / 3;
        let (a, b, c) = (&p[..n], &p[n..2 * n], &p[2 * n..]);
        let d = |x: &[f32], y: &[f32]| {
            x.iter().zip(y).map(|(u, v)| (u - v).abs()).sum::<f32>() / n as f32
        };
        (d(a, b) + d(b, c) + d(a, c)) / 3.0
    };
    let (sp, sd) = (spread(&plain.pixels), spread(&diverse.pixels));
    println!("mean pixel distance between facets: plain {sp:.4}, with diversity {sd:.4}");
    assert!(sd > sp, "diversity did not spread the facets: {sd} vs {sp}");
    assert_eq!(diverse.images.len(), 3);
}

#[test]
fn progress_reports_every_step_and_cancel_stops_early() {
    let clip = load::<B>("hf_vit");
    let mut seen = Vec::new();
    let out = render(
        &clip,
        Objective::neuron("vision.blocks.0.mlp", 1),
        quick(32, 20, 0),
        5,
        |p| {
            seen.push((p.step, p.preview.is_some()));
            p.step < 8
        },
    )
    .unwrap();
    assert!(out.cancelled);
    assert_eq!(out.values.len(), 8);
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(
        seen.iter().filter(|s| s.1).map(|s| s.0).collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(out.images[0].len(), 32 * 32 * 3);
}

#[test]
fn larger_sizes_and_transforms_work() {
    // 224 px images (the ViT-B/32 input size) resampled down to the tiny model's input.
    let clip = load::<B>("hf_vit");
    let cfg = RenderConfig {
        size: 224,
        batch: 2,
        steps: 2,
        transforms: Transforms::standard(),
        ..RenderConfig::default()
    };
    let out = render(
        &clip,
        Objective::channel("vision.blocks.1", 0),
        cfg,
        0,
        |_| true,
    )
    .unwrap();
    assert_eq!(out.pixels.len(), 2 * 3 * 224 * 224);
    assert!(out.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn bad_requests_get_clear_errors() {
    let clip = load::<B>("hf_vit");
    let err = |obj: Objective, cfg: RenderConfig| match render(&clip, obj, cfg, 0, |_| true) {
        Ok(_) => panic!("a bad request rendered"),
        Err(e) => e,
    };
    let e = err(Objective::neuron("vision.blocks.9.mlp", 0), quick(32, 1, 0));
    assert!(
        matches!(e, VisError::Model(_)) && e.to_string().contains("vision.blocks.9.mlp"),
        "{e}"
    );
    let e = err(
        Objective::neuron("vision.blocks.1.mlp", 5000),
        quick(32, 1, 0),
    );
    assert!(
        matches!(e, VisError::UnitOutOfRange { channels: 192, .. }),
        "{e}"
    );
    let e = err(Objective::neuron("text.blocks.0.mlp", 0), quick(32, 1, 0));
    assert!(matches!(e, VisError::NotAnImageLayer(_)), "{e}");
    let e = err(
        Objective::spatial("vision.blocks.1", 0, 9, 0),
        quick(32, 1, 0),
    );
    assert!(
        matches!(
            e,
            VisError::PositionOutOfRange {
                rows: 4,
                cols: 4,
                ..
            }
        ),
        "{e}"
    );
    let e = err(
        Objective::direction("vision.blocks.1", vec![1.0; 3]),
        quick(32, 1, 0),
    );
    assert!(
        matches!(
            e,
            VisError::DirectionLength {
                channels: 48,
                found: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = err(
        Objective::neuron("vision.blocks.1", 0).at_batch(3),
        quick(32, 1, 0),
    );
    assert!(
        matches!(e, VisError::BatchOutOfRange { index: 3, batch: 1 }),
        "{e}"
    );
    let e = err(Objective::neuron("vision.blocks.1", 0), quick(0, 1, 0));
    assert!(matches!(e, VisError::InvalidConfig(_)), "{e}");
    let e = err(Objective::default(), quick(32, 1, 0));
    assert!(matches!(e, VisError::InvalidConfig(_)), "{e}");
}

#[test]
fn per_image_objectives_drive_each_image_separately() {
    // Two units rendered in one batch, each image with its own objective (atlas icons).
    let clip = load::<B>("hf_vit");
    let layer = "vision.blocks.1.mlp";
    let obj = Objective::channel(layer, 1).at_batch(0) + Objective::channel(layer, 2).at_batch(1);
    let cfg = RenderConfig {
        batch: 2,
        ..quick(32, 64, 8)
    };
    let out = render(&clip, obj, cfg, 0, |_| true).unwrap();
    let imgs = Tensor::<B, 4>::from_data(
        TensorData::new(out.pixels, [2, 3, 32, 32]),
        &Default::default(),
    );
    let u1 = host(Objective::channel(layer, 1).scores(&clip, imgs.clone()));
    let u2 = host(Objective::channel(layer, 2).scores(&clip, imgs));
    println!("unit 1 on images: {u1:?}; unit 2: {u2:?}");
    assert!(u1[0] > u1[1] && u2[1] > u2[0]);
    let _ = SeededRng::new(0);
}

#[test]
fn unit_values_give_every_units_score_in_one_pass() {
    let clip = load::<B>("hf_vit");
    let layer = "vision.blocks.1.mlp";
    let s = clip.config().vision.image_size();
    // At the model's size and at twice it (resized as the scores resize).
    for images in [fixture_images::<B>(s), noise_images::<B>(2, 2 * s, 4)] {
        for (place, one) in [
            (
                Place::Centre,
                Objective::neuron as fn(&str, usize) -> Objective,
            ),
            (Place::Mean, Objective::channel),
            (Place::At { x: 1, y: 0 }, |l: &str, u| {
                Objective::spatial(l, u, 1, 0)
            }),
        ] {
            let all = unit_values(&clip, layer, place, images.clone()).unwrap();
            let [b, units] = all.dims();
            assert_eq!(units, clip.layer_units(layer).unwrap());
            let all = host(all);
            for u in 0..units {
                let each = host(one(layer, u).scores(&clip, images.clone()));
                for i in 0..b {
                    let (a, e) = (all[i * units + u], each[i]);
                    assert!(
                        (a - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{place:?} unit {u} image {i}: {a} vs {e}"
                    );
                }
            }
        }
    }
    let images = fixture_images::<B>(s);
    let e = unit_values(&clip, "vision.blocks.99", Place::Mean, images.clone()).unwrap_err();
    assert!(e.to_string().contains("vision.blocks.99"), "{e}");
    let e = unit_values(&clip, "text.blocks.0.mlp", Place::Mean, images).unwrap_err();
    assert!(matches!(e, VisError::NotAnImageLayer(_)), "{e}");
}

/// The largest value of each channel of `layer` over the positions of `images`, `[channels]`.
fn channel_peaks(clip: &Clip<B>, layer: &str, images: Tensor<B, 4>) -> Vec<f32> {
    let mut cap = Capture::only([layer]);
    let _ = clip.encode_image_with(normalize_input(clip, images), &mut cap);
    let Some(Activation::Map(map)) = cap.take(layer) else {
        panic!("{layer} is a feature map");
    };
    let [b, c, h, w] = map.dims();
    host(map.swap_dims(0, 1).reshape([c, b * h * w]).max_dim(1))
}

/// A ResNet channel that no position of the starting image drives above zero gets no gradient
/// through its ReLU: with Lucid's redirection (the default) the render still finds it.
#[test]
fn a_relu_channel_silent_on_the_starting_image_still_renders() {
    let mut clip = load::<B>("openai_rn");
    let layer = clip
        .layer_names()
        .into_iter()
        .rfind(|l| l.starts_with("vision.layer"))
        .unwrap();
    let cfg = quick(64, 200, 5);
    // The channel most alive on the starting image, shifted down by 1.1 times its peak so
    // that no position of the starting image (nor of its jittered copies) reaches zero.
    let start = Session::new(&clip, Objective::channel(&layer, 0), cfg.clone())
        .unwrap()
        .images();
    let peaks = channel_peaks(&clip, &layer, Tensor::from_inner(start));
    let (unit, peak) = peaks
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(peak > 0.0, "some channel fires on the start");
    let block = clip.resnet.as_mut().unwrap().stages[3].last_mut().unwrap();
    block.c3.bn.shift = lowered(&block.c3.bn.shift, unit, 1.1 * peak);
    let (stuck, revived) = plain_and_revived(&clip, Objective::channel(&layer, unit), cfg);
    println!(
        "{layer} channel {unit} (peak {peak:.3} before the shift): plain ReLU {:?}, revived {:?}",
        stuck.last(),
        revived.last()
    );
    assert!(
        stuck.iter().all(|v| *v == 0.0),
        "the channel is silent throughout without revival: {stuck:?}"
    );
    assert!(
        *revived.last().unwrap() > 0.0,
        "revived gradients bring the channel to fire: {revived:?}"
    );
}

/// `param` with its entry `unit` lowered by `by`.
fn lowered(param: &Param<Tensor<B, 1>>, unit: usize, by: f32) -> Param<Tensor<B, 1>> {
    let mut values = host(param.val());
    values[unit] -= by;
    let n = values.len();
    Param::from_tensor(Tensor::from_data(
        TensorData::new(values, [n]),
        &Default::default(),
    ))
}

/// The objective's value at each step of a render with plain gradients, then with silent
/// units revived (the default).
fn plain_and_revived(clip: &Clip<B>, obj: Objective, cfg: RenderConfig) -> (Vec<f32>, Vec<f32>) {
    let plain = RenderConfig {
        revive_silent: false,
        ..cfg.clone()
    };
    let stuck = render(clip, obj.clone(), plain, 0, |_| true).unwrap();
    let revived = render(clip, obj, cfg, 0, |_| true).unwrap();
    (stuck.values, revived.values)
}

/// A ViT MLP neuron that the starting image leaves below its GELU's minimum: there the GELU's
/// own gradient points down (its value creeps up to zero from below as the pre-activation
/// sinks), so plain ascent never makes it fire; with the straight-through gradient (the
/// default) the render does.
#[test]
fn a_gelu_neuron_far_below_zero_on_the_starting_image_still_renders() {
    let mut clip = load::<B>("hf_vit");
    let blocks = clip.vit.as_ref().unwrap().blocks.len();
    let layer = format!("vision.blocks.{}.mlp", blocks - 1);
    let cfg = quick(64, 200, 5);
    let start = Session::new(&clip, Objective::neuron(&layer, 0), cfg.clone())
        .unwrap()
        .images();
    let values = host(
        unit_values(&clip, &layer, Place::Centre, Tensor::from_inner(start))
            .unwrap()
            .max_dim(0)
            .flatten::<1>(0, 1),
    );
    let (unit, peak) = values
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(peak > 0.0, "some neuron fires on the start");
    // A GELU's output is at most 0.17 below its input, so this shift leaves the
    // pre-activation at -2 or lower on the starting image, past the minimum (about -0.75).
    let fc1 = &mut clip.vit.as_mut().unwrap().blocks[blocks - 1].mlp.fc1;
    fc1.bias = Some(lowered(fc1.bias.as_ref().unwrap(), unit, peak + 0.17 + 2.0));
    let (stuck, revived) = plain_and_revived(&clip, Objective::neuron(&layer, unit), cfg);
    println!(
        "{layer} neuron {unit} (peak {peak:.3} before the shift): plain GELU {:?}, revived {:?}",
        stuck.last(),
        revived.last()
    );
    assert!(
        stuck.iter().all(|v| *v < 0.0),
        "the neuron stays below zero throughout without revival: {stuck:?}"
    );
    assert!(
        *revived.last().unwrap() > 0.0,
        "revived gradients bring the neuron to fire: {revived:?}"
    );
}
