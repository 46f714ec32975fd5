//! `examples` and `atlas`: a survey of a model over an image set (a folder, a zip, or the
//! built-in generated set), exported as static JSON + PNG files an article can embed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use modalscope_atlas::AtlasParams;
use modalscope_model::Clip;
use modalscope_survey::{
    AtlasConfig, IconConfig, ImageSet, PassConfig, Sampling, Survey, build_atlas, export_atlas,
    export_examples, manifest_file, render_icons, survey, write_dir,
};

type B = Flex;

/// Where the images come from and which model looks at them.
#[derive(Args)]
pub struct Source {
    /// The model: a bundle file.
    #[arg(long, default_value = "web/builtin.msb")]
    model: PathBuf,
    /// A folder of images (walked recursively), a .zip of images, or one image. Files that are
    /// not images are skipped and counted.
    #[arg(long, conflicts_with = "generated")]
    images: Option<PathBuf>,
    /// Instead of --images: this many images of the built-in generated set.
    #[arg(long)]
    generated: Option<usize>,
    /// Seed of the generated set.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Folder the export is written to (manifest.json, JSON files and PNG images).
    #[arg(long, short)]
    out: PathBuf,
}

/// Options of `modalscope examples`.
#[derive(Args)]
pub struct ExamplesArgs {
    /// Image-tower layers, comma-separated (e.g. vision.blocks.3.mlp).
    #[arg(long, value_delimiter = ',', required = true)]
    layers: Vec<String>,
    /// Examples kept per neuron.
    #[arg(long, default_value_t = 8)]
    k: usize,
    #[command(flatten)]
    source: Source,
}

/// Options of `modalscope atlas`.
#[derive(Args)]
pub struct AtlasArgs {
    /// The image-tower layer laid out.
    #[arg(long)]
    layer: String,
    /// Activation vectors sampled (reservoir over every position of every image).
    #[arg(long, default_value_t = 4000)]
    samples: usize,
    /// Grid sizes of the zoom levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 20])]
    levels: Vec<u32>,
    /// Cells with this many vectors or fewer are dropped.
    #[arg(long, default_value_t = 5)]
    min_count: usize,
    /// Optimization steps per icon.
    #[arg(long, default_value_t = 128)]
    steps: usize,
    /// Icons rendered together.
    #[arg(long, default_value_t = 8)]
    icon_batch: usize,
    /// Also export the dataset examples of the layer (top-k per neuron).
    #[arg(long)]
    examples: bool,
    #[command(flatten)]
    source: Source,
}

/// Runs `modalscope examples`.
pub fn examples(args: ExamplesArgs) -> Result<()> {
    let (clip, name) = load(&args.source.model)?;
    let set = image_set(&args.source, &clip)?;
    let config = PassConfig {
        layers: args.layers.clone(),
        k: args.k,
        batch: args.source.batch,
        sampling: None,
    };
    let s = pass(&clip, set.clone(), config)?;
    let mut files = export_examples(&clip, &set, &s)?;
    files.push(manifest_file(&name, true, None)?);
    write_dir(&files, &args.source.out)?;
    for l in &s.layers {
        let best = (0..l.top.neurons())
            .filter_map(|u| l.examples(u).first().map(|e| (u, e.score, e.image)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((u, score, image)) = best {
            println!(
                "{:<24} {} units; strongest: unit {u} at {score:.3} on {}",
                l.layer,
                l.top.neurons(),
                s.names[image as usize]
            );
        }
    }
    println!(
        "wrote {} files to {}",
        files.len(),
        args.source.out.display()
    );
    Ok(())
}

/// Runs `modalscope atlas`.
pub fn atlas(args: AtlasArgs) -> Result<()> {
    let (clip, name) = load(&args.source.model)?;
    let set = image_set(&args.source, &clip)?;
    let config = PassConfig {
        layers: if args.examples {
            vec![args.layer.clone()]
        } else {
            Vec::new()
        },
        k: 8,
        batch: args.source.batch,
        sampling: Some(Sampling {
            layer: args.layer.clone(),
            capacity: args.samples,
            seed: args.source.seed,
        }),
    };
    let s = pass(&clip, set.clone(), config)?;
    let samples = s.samples.as_ref().context("the pass sampled no vectors")?;
    let atlas_config = AtlasConfig {
        grid: AtlasParams {
            levels: args.levels.clone(),
            min_count: args.min_count,
            ..AtlasParams::default()
        },
        icons: IconConfig {
            steps: args.steps,
            batch: args.icon_batch,
            ..IconConfig::default()
        },
        ..AtlasConfig::default()
    };
    let start = Instant::now();
    let layout_bar = bar(0, "layout");
    let atlas = build_atlas(samples, &atlas_config, |stage, done, total| {
        layout_bar.set_length(total as u64);
        layout_bar.set_position(done as u64);
        layout_bar.set_message(stage.to_string());
        true
    })?;
    layout_bar.finish_and_clear();
    let cells: usize = atlas.levels.iter().map(|l| l.cells.len()).sum();
    eprintln!(
        "layout of {} vectors and {} cells in {:.1} s",
        samples.len(),
        cells,
        start.elapsed().as_secs_f64()
    );
    // Icons need gradients with respect to the image: the same weights under autodiff.
    let grad = load_as::<Autodiff<B>>(&args.source.model)?.no_grad();
    let icon_bar = bar(cells as u64, "icons");
    let icons = render_icons(
        &grad,
        &atlas,
        &args.layer,
        &[],
        &atlas_config.icons,
        |d, _| {
            icon_bar.set_position(d as u64);
            true
        },
    )?;
    icon_bar.finish_and_clear();
    let mut files = export_atlas(&atlas, &icons)?;
    if args.examples {
        files.extend(export_examples(&clip, &set, &s)?);
    }
    files.push(manifest_file(&name, args.examples, Some(&args.layer))?);
    write_dir(&files, &args.source.out)?;
    for (i, l) in atlas.levels.iter().enumerate() {
        println!("level {i}: {0}x{0} grid, {1} cells", l.size, l.cells.len());
    }
    println!(
        "wrote {} files to {} in {:.1} s",
        files.len(),
        args.source.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn load(path: &Path) -> Result<(Clip<B>, String)> {
    let clip = load_as::<B>(path)?;
    let name = path
        .file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned());
    Ok((clip, name))
}

fn load_as<T: burn::tensor::backend::Backend>(path: &Path) -> Result<Clip<T>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (clip, _) = Clip::<T>::from_bundle(&bytes, &Default::default())
        .with_context(|| format!("{} is not a usable model bundle", path.display()))?;
    Ok(clip)
}

fn image_set(source: &Source, clip: &Clip<B>) -> Result<ImageSet> {
    match (&source.images, source.generated) {
        (Some(path), _) => Ok(ImageSet::from_path(path)?),
        (None, Some(n)) => {
            let size = clip.config().vision.image_size() as u32;
            Ok(ImageSet::generated(n, size, source.seed)?)
        }
        (None, None) => bail!("give --images (a folder or a .zip) or --generated N"),
    }
}

fn pass(clip: &Clip<B>, set: ImageSet, config: PassConfig) -> Result<Survey> {
    let start = Instant::now();
    let pass_bar = bar(set.len() as u64, "images");
    let s = survey(clip, set, config, |p| {
        pass_bar.set_position(p.done as u64);
        true
    })?;
    pass_bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "pass: {} in {secs:.1} s ({:.1} images/s)",
        s.summary(),
        s.images as f64 / secs.max(1e-9)
    );
    Ok(s)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
