//! `write_word`: the typographic-attack tool, on images of any size.

use image::RgbImage;
use modalscope_synth::{Typeface, WordParams, render_drawn, write_word};

/// Pixels that differ between two images, as `(x, y)`.
fn changed(a: &RgbImage, b: &RgbImage) -> Vec<(u32, u32)> {
    a.enumerate_pixels()
        .filter(|(x, y, p)| *p != b.get_pixel(*x, *y))
        .map(|(x, y, _)| (x, y))
        .collect()
}

#[test]
fn writes_inside_the_requested_region_only() {
    let blank = RgbImage::from_pixel(300, 200, [250, 250, 250].into());
    let mut image = blank.clone();
    let params = WordParams::new(0.3, 0.25, 0.15, [200, 20, 20]);
    let region = write_word(&mut image, "apple", params).expect("something is drawn");
    let diff = changed(&blank, &image);
    assert!(diff.len() > 300, "only {} pixels changed", diff.len());
    assert!(
        diff.iter()
            .all(|&(x, y)| (region.x0..region.x1).contains(&x)
                && (region.y0..region.y1).contains(&y))
    );
    // The region is centred where asked and about as tall as asked (cap height 30 px).
    let (cx, cy) = (
        (region.x0 + region.x1) as f32 / 2.0,
        (region.y0 + region.y1) as f32 / 2.0,
    );
    assert!(
        (cx - 90.0).abs() < 4.0 && (cy - 50.0).abs() < 4.0,
        "centre ({cx}, {cy})"
    );
    let tall = (region.y1 - region.y0) as f32;
    assert!((28.0..48.0).contains(&tall), "{tall} px tall");
    // The opposite corner is untouched.
    assert!(diff.iter().all(|&(x, y)| x < 200 && y < 120));
}

#[test]
fn empty_word_is_a_no_op() {
    let mut image = render_drawn(4, 64, 0);
    let before = image.clone();
    assert!(write_word(&mut image, "", WordParams::default()).is_none());
    assert!(write_word(&mut image, "   ", WordParams::default()).is_none());
    assert_eq!(image, before);
}

#[test]
fn absurd_parameters_are_clamped() {
    let cases = [
        WordParams {
            height: 0.0,
            ..WordParams::default()
        },
        WordParams {
            height: 5.0,
            ..WordParams::default()
        },
        WordParams {
            height: -1.0,
            x: -3.0,
            y: 7.0,
            ..WordParams::default()
        },
        WordParams {
            x: f32::NAN,
            y: f32::INFINITY,
            height: f32::NAN,
            rotation: f32::NAN,
            ..WordParams::default()
        },
        WordParams {
            rotation: 720.0,
            typeface: Typeface::Mono,
            label: Some([255, 255, 0]),
            ..WordParams::default()
        },
    ];
    for (w, h) in [(300, 200), (64, 64), (1, 1), (7, 300), (2000, 1500)] {
        for params in cases {
            let mut image = RgbImage::from_pixel(w, h, [128, 128, 128].into());
            if let Some(region) = write_word(&mut image, "typographic", params) {
                assert!(
                    region.x1 <= w
                        && region.y1 <= h
                        && region.x0 < region.x1
                        && region.y0 < region.y1
                );
            }
        }
    }
    // A word too wide for the image is shrunk to fit, not cut off.
    let mut image = RgbImage::from_pixel(300, 200, [255, 255, 255].into());
    let region = write_word(
        &mut image,
        "multimodal",
        WordParams {
            x: 0.95,
            height: 0.9,
            ..WordParams::default()
        },
    )
    .unwrap();
    assert!(region.x0 > 0 && region.x1 < 300, "{region:?}");
}

#[test]
fn labels_and_rotation_change_more_pixels_in_the_same_place() {
    let blank = RgbImage::from_pixel(128, 128, [40, 40, 40].into());
    let plain = WordParams::new(0.5, 0.5, 0.12, [255, 255, 255]);
    let mut a = blank.clone();
    write_word(&mut a, "star", plain);
    let mut b = blank.clone();
    write_word(
        &mut b,
        "star",
        WordParams {
            label: Some([240, 240, 220]),
            colour: [0, 0, 0],
            ..plain
        },
    );
    assert!(changed(&blank, &b).len() > changed(&blank, &a).len());
    let mut c = blank.clone();
    write_word(
        &mut c,
        "star",
        WordParams {
            rotation: 30.0,
            ..plain
        },
    );
    assert_ne!(a, c);
}
