//! Writes PNG contact sheets of the generator's output so a person can look at them.
//!
//! `cargo run --release -p modalscope-synth --example contact_sheet -- sheet.png [size]`
//! writes `sheet.png` (every concept: four drawings, its written name and a typographic
//! attack, two concepts per row) and `sheet_x4.png` (the first 64 samples of a default
//! generator at 64 px, enlarged 4× with nearest-neighbour so single pixels are visible), and
//! prints the captions of the enlarged sheet and the generation speed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{RgbImage, imageops};
use modalscope_synth::{
    CONCEPTS, Generator, GeneratorConfig, render_drawn, render_mixed, render_written,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: contact_sheet OUT.png [SIZE]")?);
    let size: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);

    let per_concept = 6;
    let columns = 2 * per_concept;
    let rows = CONCEPTS.len().div_ceil(2);
    let mut sheet = RgbImage::from_pixel(
        columns as u32 * (size + 2),
        rows as u32 * (size + 2),
        [255, 255, 255].into(),
    );
    for (id, name) in CONCEPTS.iter().enumerate() {
        let other = (id * 7 + 3) % CONCEPTS.len();
        let mut tiles: Vec<RgbImage> = (0..4)
            .map(|k| render_drawn(id, size, 1000 + 10 * id as u64 + k))
            .collect();
        tiles.push(render_written(name, size, id as u64));
        tiles.push(render_mixed(id, CONCEPTS[other], size, id as u64));
        for (k, tile) in tiles.iter().enumerate() {
            let col = (id % 2) * per_concept + k;
            let row = id / 2;
            imageops::replace(
                &mut sheet,
                tile,
                (col as u32 * (size + 2)) as i64,
                (row as u32 * (size + 2)) as i64,
            );
        }
    }
    sheet.save(&out)?;
    println!("wrote {}", out.display());

    let generator = Generator::new(
        GeneratorConfig {
            image_size: 64,
            ..GeneratorConfig::default()
        },
        1,
    )?;
    let start = Instant::now();
    let samples = generator.batch(0, 128);
    let elapsed = start.elapsed();
    println!(
        "128 samples at 64 px: {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );

    let (grid, scale) = (8u32, 4u32);
    let tile = 64 * scale;
    let mut big =
        RgbImage::from_pixel(grid * (tile + 4), grid * (tile + 4), [255, 255, 255].into());
    for (i, sample) in samples.iter().take((grid * grid) as usize).enumerate() {
        let enlarged = imageops::resize(&sample.image, tile, tile, imageops::FilterType::Nearest);
        let (col, row) = (i as u32 % grid, i as u32 / grid);
        imageops::replace(
            &mut big,
            &enlarged,
            (col * (tile + 4)) as i64,
            (row * (tile + 4)) as i64,
        );
        println!("{i:2} {:?}: {}", sample.kind, sample.caption);
    }
    let big_path = sibling(&out, "_x4");
    big.save(&big_path)?;
    println!("wrote {}", big_path.display());
    Ok(())
}

/// `dir/name.png` → `dir/name{suffix}.png`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("sheet");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("png");
    path.with_file_name(format!("{stem}{suffix}.{ext}"))
}
