//! Dataset examples and atlases on the shipped built-in model, end to end.

use std::io::Cursor;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use modalscope_atlas::{AtlasParams, trustworthiness};
use modalscope_model::{Capture, Clip, Preprocessor};
use modalscope_survey::*;

type B = Flex;
type A = Autodiff<Flex>;

const BUILTIN: &[u8] = include_bytes!("../../../web/builtin.msb");

fn model<T: burn::tensor::backend::Backend>() -> Clip<T> {
    Clip::<T>::from_bundle(BUILTIN, &Default::default())
        .expect("the built-in bundle")
        .0
}

/// The image tower's last layer of neurons (a ViT's last MLP, a ResNet's last block), the layer
/// the atlas test surveys.
fn last_neurons<T: burn::tensor::backend::Backend>(clip: &Clip<T>) -> String {
    clip.neuron_layers()
        .pop()
        .expect("an image tower with neurons")
}

/// A residual-stream layer early in the image tower: a ViT's block 1, a ResNet's first block.
fn early_block<T: burn::tensor::backend::Backend>(clip: &Clip<T>) -> String {
    clip.layer_names()
        .into_iter()
        .find(|l| l == "vision.blocks.1" || l == "vision.layer1.0")
        .expect("an image tower with blocks")
}

fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A set of generated images as PNG files, with planted duplicates (equal responses that
/// must tie-break by image id) and files that are not images.
fn planted_set(n: usize, size: u32) -> ImageSet {
    let generated = ImageSet::generated(n, size, 11).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| (format!("img{i:03}.png"), png(&generated.load(i).unwrap())))
        .collect();
    files.push(("img003-copy.png".into(), files[3].1.clone()));
    files.push(("img007-copy.png".into(), files[7].1.clone()));
    files.push(("readme.txt".into(), b"not an image".to_vec()));
    files.push(("broken.png".into(), files[0].1[..40].to_vec()));
    ImageSet::from_files(files)
}

#[test]
fn streaming_top_k_equals_a_full_sort_of_every_activation() {
    let clip = model::<B>();
    let size = clip.config().vision.image_size();
    let layers = vec![last_neurons(&clip), early_block(&clip)];
    let set = planted_set(40, size as u32);
    let k = 5;
    // Batches of 7 so top-k sees the images in pieces.
    let survey = survey(
        &clip,
        set.clone(),
        PassConfig {
            layers: layers.clone(),
            k,
            batch: 7,
            sampling: None,
        },
        |_| true,
    )
    .unwrap();
    assert_eq!(survey.images, 42);
    assert_eq!(survey.skipped.len(), 2, "{:?}", survey.skipped);
    assert!(
        survey.summary().contains("2 files skipped"),
        "{}",
        survey.summary()
    );

    // Reference: every image at once, every activation sorted.
    let pre = Preprocessor::for_config(clip.config());
    let mut ids = Vec::new();
    let mut images = Vec::new();
    for i in 0..set.len() {
        if let Ok(img) = set.load(i) {
            ids.push(i as u32);
            images.push(img);
        }
    }
    let mut cap = Capture::only(layers.clone());
    clip.encode_image_with(pre.batch::<B>(&images, &Default::default()), &mut cap);
    for layer in &layers {
        let pos = cap.get(layer).unwrap().positions();
        let [n, p, c] = pos.dims();
        let v: Vec<f32> = pos.into_data().convert::<f32>().into_vec().unwrap();
        let got = survey.layer(layer).unwrap();
        for unit in 0..c {
            // Per image its maximum and first argmax, then all images sorted.
            let mut all: Vec<(f32, u32, u32)> = (0..n)
                .map(|i| {
                    let (q, s) = (0..p)
                        .map(|q| (q, v[(i * p + q) * c + unit]))
                        .fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
                    (s, ids[i], q as u32)
                })
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let expected: Vec<(f32, u32, u32)> = all.into_iter().take(k).collect();
            let actual: Vec<(f32, u32, u32)> = got
                .examples(unit)
                .into_iter()
                .map(|e| (e.score, e.image, e.position))
                .collect();
            assert_eq!(actual, expected, "{layer} unit {unit}");
        }
    }
    // The planted duplicates score exactly like their originals.
    let l = survey.layer(&layers[0]).unwrap();
    let copy = survey
        .names
        .iter()
        .position(|n| n == "img003-copy.png")
        .unwrap() as u32;
    let orig = survey.names.iter().position(|n| n == "img003.png").unwrap() as u32;
    for unit in 0..l.top.neurons() {
        let e = l.examples(unit);
        if let Some(a) = e.iter().find(|x| x.image == orig) {
            let b = e.iter().find(|x| x.image == copy);
            if e.len() == k && e.last().unwrap().image == orig {
                continue; // the copy may have been the one cut off at rank k
            }
            assert_eq!(b.map(|b| b.score), Some(a.score), "unit {unit}");
        }
    }
}

#[test]
fn bad_image_sets_give_clear_messages() {
    let clip = model::<B>();
    let cfg = || PassConfig {
        layers: vec![last_neurons(&clip)],
        ..PassConfig::default()
    };
    let empty = survey(&clip, ImageSet::from_files([]), cfg(), |_| true).unwrap_err();
    assert_eq!(empty.to_string(), "the image set has no images");
    let junk = ImageSet::from_files([
        ("a.txt".to_string(), b"hello".to_vec()),
        ("b.jpg".to_string(), vec![0xff, 0xd8, 0xff, 0x00, 0x01]),
    ]);
    let err = survey(&clip, junk, cfg(), |_| true)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the image set has no images (2 files were skipped: a.txt: not an image;"),
        "{err}"
    );
    // One image works.
    let one = ImageSet::generated(1, 64, 1).unwrap();
    let s = survey(&clip, one, cfg(), |_| true).unwrap();
    assert_eq!(s.images, 1);
    assert_eq!(s.layers[0].examples(0).len(), 1);
    // A huge image is decoded and cropped like any other (4000 x 3000 px).
    let big = image::RgbImage::from_fn(4000, 3000, |x, y| {
        image::Rgb([(x / 16) as u8, (y / 12) as u8, 90])
    });
    let s = survey(
        &clip,
        ImageSet::from_files([("big.png".to_string(), png(&big))]),
        cfg(),
        |_| true,
    )
    .unwrap();
    assert_eq!(s.images, 1);
    // Text-tower layers, unknown layers and a cancelled pass.
    let text = PassConfig {
        layers: vec!["text.blocks.0.mlp".into()],
        ..PassConfig::default()
    };
    let err = survey(&clip, ImageSet::generated(2, 64, 1).unwrap(), text, |_| {
        true
    })
    .unwrap_err();
    assert!(err.to_string().contains("not in the image tower"), "{err}");
    let unknown = PassConfig {
        layers: vec!["vision.blocks.99.mlp".into()],
        ..PassConfig::default()
    };
    let err = survey(
        &clip,
        ImageSet::generated(2, 64, 1).unwrap(),
        unknown,
        |_| true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("vision.blocks.99.mlp"), "{err}");
    let err = survey(
        &clip,
        ImageSet::generated(40, 64, 1).unwrap(),
        cfg(),
        |_| false,
    )
    .unwrap_err();
    assert!(matches!(err, SurveyError::Cancelled));
    // An atlas from too few vectors says so.
    let s = Samples {
        layer: "x".into(),
        dim: 3,
        vectors: vec![1.0, 2.0, 3.0],
        origins: vec![[0, 0]],
    };
    let err = build_atlas(&s, &AtlasConfig::default(), |_, _, _| true).unwrap_err();
    assert!(
        err.to_string().contains("at least 2 activation vectors"),
        "{err}"
    );
}

/// The end-to-end check: an atlas of the built-in model's last image layer whose cell
/// icons each score higher on their own cell's direction than on the other cells'.
#[test]
fn atlas_icons_match_their_own_cells_and_export_round_trips() {
    let clip = model::<B>();
    let layer = last_neurons(&clip);
    let size = clip.config().vision.image_size();
    let set = ImageSet::generated(96, size as u32, 5).unwrap();
    let s = survey(
        &clip,
        set.clone(),
        PassConfig {
            layers: vec![layer.clone()],
            k: 4,
            batch: 16,
            sampling: Some(Sampling {
                layer: layer.clone(),
                capacity: 1500,
                seed: 3,
            }),
        },
        |_| true,
    )
    .unwrap();
    let samples = s.samples.as_ref().unwrap();
    assert_eq!(samples.len(), 1500);
    assert!(samples.origins.iter().all(|o| (o[0] as usize) < 96));
    let config = AtlasConfig {
        grid: AtlasParams {
            levels: vec![4, 8],
            min_count: 5,
            ..AtlasParams::default()
        },
        icons: IconConfig {
            steps: 128,
            batch: 8,
            ..IconConfig::default()
        },
        ..AtlasConfig::default()
    };
    let atlas = build_atlas(samples, &config, |_, _, _| true).unwrap();
    // The layout keeps neighbourhoods: trustworthiness on the real activations.
    // (Cosine layout: neighbours in the data are judged on unit-length vectors.)
    let unit: Vec<f32> = samples
        .vectors
        .chunks(samples.dim)
        .flat_map(|v| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter().map(move |x| x / n)
        })
        .collect();
    let low: Vec<f32> = atlas.layout.iter().flatten().copied().collect();
    let t = trustworthiness(&unit, samples.dim, &low, 2, 10).unwrap();
    println!("trustworthiness of the atlas layout: {t:.3}");
    assert!(t > 0.8, "trustworthiness {t}");

    let grad = model::<A>().no_grad();
    let mut reports = 0;
    let icons = render_icons(&grad, &atlas, &layer, &[0], &config.icons, |d, n| {
        reports += 1;
        d <= n
    })
    .unwrap();
    let cells = &atlas.levels[0].cells;
    assert_eq!(icons.len(), cells.len());
    assert!(cells.len() >= 4, "{} cells", cells.len());
    assert_eq!(reports, cells.len().div_ceil(8));
    let pixels: Vec<f32> = icons
        .iter()
        .flat_map(|i| {
            // RGB bytes back to [batch, 3, s, s] planes in [0, 1].
            let p = i.size * i.size;
            (0..3).flat_map(move |ch| (0..p).map(move |q| i.rgb[q * 3 + ch] as f32 / 255.0))
        })
        .collect();
    let images = modalscope_survey::atlas::images_tensor::<A>(
        &pixels,
        icons.len(),
        size,
        &Default::default(),
    );
    let scores =
        centre_alignment(&grad, &layer, images, cells.iter().map(|c| &c.mean[..])).unwrap();
    // Row-wise, the check: each icon aligns with its own cell's direction more than
    // with the other cells' directions on average. Column-wise, specificity: for its own
    // direction an icon beats most other icons on average (neighbouring cells have nearly
    // the same direction, so a neighbour's icon may match it as well; a few icons of 128
    // steps also stay weakly aligned, so this is asked of the set, not of every icon).
    let n = scores.len();
    let mut column_best = 0;
    let mut beaten_share = 0.0;
    for (i, row) in scores.iter().enumerate() {
        let others: Vec<f32> = row
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, v)| *v)
            .collect();
        let mean_other = others.iter().sum::<f32>() / others.len() as f32;
        let beaten = (0..n).filter(|&j| j != i && scores[j][i] < row[i]).count();
        println!(
            "cell {i}: own {:.3}, other cells mean {mean_other:.3}; beats {beaten} of {} other icons on its direction",
            row[i],
            n - 1
        );
        assert!(
            row[i] > mean_other,
            "cell {i}: own {} vs mean of others {mean_other}",
            row[i]
        );
        beaten_share += beaten as f64 / (n - 1) as f64 / n as f64;
        if beaten == n - 1 {
            column_best += 1;
        }
    }
    println!(
        "{column_best} of {n} icons are the best icon for their own cell's direction; on \
         average an icon beats {:.0} % of the others",
        100.0 * beaten_share
    );
    assert!(
        beaten_share >= 0.75,
        "on its own direction an icon beats only {:.0} % of the others on average",
        100.0 * beaten_share
    );

    // Export, write, read back.
    let mut files = export_examples(&clip, &set, &s).unwrap();
    files.extend(export_atlas(&atlas, &icons).unwrap());
    files.push(manifest_file("builtin", true, Some(&layer)).unwrap());
    let dir = std::env::temp_dir().join(format!("modalscope-survey-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_dir(&files, &dir).unwrap();
    let read = |p: &str| std::fs::read(dir.join(p)).ok();
    let back = import(read).unwrap();
    let ex = back.examples.unwrap();
    assert_eq!(ex.layers[0].layer, layer);
    assert_eq!(ex.layers[0].units.len(), s.layers[0].top.neurons());
    let first = &ex.layers[0].units[0][0];
    assert_eq!(first.score, s.layers[0].examples(0)[0].score);
    // The map peaks where the pass said the maximum is.
    assert_eq!(first.map[first.position as usize], 255);
    let a = back.atlas.unwrap();
    assert_eq!(a.levels[0].cells.len(), cells.len());
    assert!(
        a.levels[0]
            .cells
            .iter()
            .all(|c| c.icon.is_some() && c.mean.is_empty())
    );
    // Each icon's score and specificity, computed where it was rendered, are in the export.
    for (icon, c) in icons.iter().zip(&a.levels[0].cells) {
        assert_eq!((icon.col, icon.row), (c.col, c.row));
        assert!(icon.score.is_some_and(f32::is_finite), "{:?}", icon.score);
        assert_eq!(c.icon_score, icon.score);
        assert_eq!(c.icon_specificity, icon.specificity);
    }
    // The specificity is the share of the level's other directions the icon matches less than
    // its own, as measured above (on the PNG bytes there, on the float pixels when rendered).
    let mean_specificity =
        icons.iter().filter_map(|i| i.specificity).sum::<f32>() / icons.len() as f32;
    println!("icons' mean specificity: {mean_specificity:.3}");
    assert!(mean_specificity > 0.5, "{mean_specificity}");
    // A zip of the same files imports the same way.
    let zip = zip_files(&files).unwrap();
    let zset = ImageSet::from_zip(zip).unwrap();
    assert_eq!(zset.len(), files.len());
    // A missing icon is named.
    let gone = a.levels[0].cells[0].icon.clone().unwrap();
    std::fs::remove_file(dir.join(&gone)).unwrap();
    let err = import(|p: &str| std::fs::read(dir.join(p)).ok()).unwrap_err();
    assert!(err.to_string().contains(&gone), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
