//! `convert` and `inspect`: checkpoints into bundles, and what a model file holds.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::{Distribution, Tensor};
use modalscope_model::bundle::{self, Precision, TokenizerFiles};
use modalscope_model::{Clip, ClipConfig, WeightStore, canonical_store, infer_config, naming};

use crate::{B, PrecisionArg};

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a config file of either dialect (Hugging Face or OpenCLIP).
fn read_config(path: &Path, name: &str) -> Result<ClipConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg = if text.contains("vision_cfg") {
        ClipConfig::from_open_clip_json(name, &text)?
    } else {
        ClipConfig::from_hf_json(name, &text)?
    };
    Ok(cfg)
}

pub fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

#[allow(clippy::too_many_arguments)]
pub fn convert(
    checkpoint: &Path,
    output: &Path,
    config: Option<&Path>,
    tokenizer: Option<&Path>,
    name: Option<String>,
    precision: PrecisionArg,
    check: bool,
) -> Result<()> {
    let (weights, dir) = if checkpoint.is_dir() {
        (
            checkpoint.join("model.safetensors"),
            Some(checkpoint.to_path_buf()),
        )
    } else {
        (checkpoint.to_path_buf(), None)
    };
    let stem = checkpoint
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("clip")
        .to_string();
    let raw = WeightStore::from_safetensors(&read(&weights)?)
        .with_context(|| format!("{} is not a CLIP checkpoint", weights.display()))?;
    let naming = naming::detect(&raw)?;
    let store = canonical_store(raw)?;
    let config_path = config.map(Path::to_path_buf).or_else(|| {
        dir.as_ref()
            .map(|d| d.join("config.json"))
            .filter(|p| p.exists())
    });
    let mut cfg = match &config_path {
        Some(p) => read_config(p, &stem)?.named_after_preset(),
        None => infer_config(&store)?,
    };
    if let Some(n) = name {
        cfg.name = n;
    } else if cfg.name == "clip-custom" {
        cfg.name = stem;
    }
    let tok_dir = tokenizer.map(Path::to_path_buf).or(dir);
    let tok = match tok_dir {
        Some(d) if d.join("vocab.json").exists() && d.join("merges.txt").exists() => {
            Some(TokenizerFiles {
                vocab_json: std::fs::read_to_string(d.join("vocab.json"))?,
                merges_txt: std::fs::read_to_string(d.join("merges.txt"))?,
            })
        }
        Some(d) if tokenizer.is_some() => bail!("{} has no vocab.json + merges.txt", d.display()),
        _ => None,
    };
    let device = Default::default();
    let fp32 = Clip::<B>::from_store(&cfg, store.clone(), &device)
        .with_context(|| format!("the weights do not fit the {} architecture", cfg.name))?;
    let precision = match precision {
        PrecisionArg::Int8 => Precision::Int8,
        PrecisionArg::F32 => Precision::F32,
    };
    let meta = serde_json::json!({
        "source": weights.file_name().and_then(|s| s.to_str()),
        "naming": format!("{naming:?}"),
        "converted_by": format!("modalscope {}", env!("CARGO_PKG_VERSION")),
    });
    let (bytes, report) = bundle::write(
        &cfg,
        &fp32.layer_names(),
        &store,
        tok.as_ref(),
        precision,
        meta,
    );
    std::fs::write(output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    println!("model        {} ({:?} naming)", cfg.name, naming);
    println!(
        "tensors      {} int8, {} f32",
        report.quantized_tensors, report.f32_tensors
    );
    println!(
        "tokenizer    {}",
        if tok.is_some() {
            "included"
        } else {
            "not included"
        }
    );
    println!("fp32 size    {}", mb(report.f32_bytes));
    println!(
        "bundle size  {} ({:.1}% of fp32) -> {}",
        mb(report.bundle_bytes),
        100.0 * report.bundle_bytes as f64 / report.f32_bytes as f64,
        output.display()
    );
    println!(
        "weight error max {:.3e}, mean {:.3e} (absolute)",
        report.max_abs_error, report.mean_abs_error
    );
    if check {
        let (back, _) = Clip::<B>::from_bundle(&bytes, &device)?;
        let s = cfg.vision.image_size();
        let images = Tensor::<B, 4>::random([2, 3, s, s], Distribution::Normal(0.0, 1.0), &device);
        let a = fp32.encode_image(images.clone());
        let b = back.encode_image(images);
        let cos = modalscope_model::normalize(a) * modalscope_model::normalize(b);
        let cos: Vec<f32> = cos
            .sum_dim(1)
            .into_data()
            .convert::<f32>()
            .into_vec()
            .unwrap_or_default();
        let min = cos.iter().copied().fold(f32::INFINITY, f32::min);
        println!("image embedding cosine vs fp32 (2 random inputs): min {min:.5}");
    }
    Ok(())
}

pub fn inspect(file: &Path, config: Option<&Path>) -> Result<()> {
    let bytes = read(file)?;
    let device = Default::default();
    let clip = if bundle::is_bundle(&bytes) {
        let b = bundle::read(&bytes)?;
        println!(
            "bundle       {} ({})",
            file.display(),
            mb(bytes.len() as u64)
        );
        if !b.meta.is_null() {
            println!("meta         {}", b.meta);
        }
        Clip::<B>::from_store(&b.config, b.store, &device)?
    } else {
        let cfg = config.map(|p| read_config(p, "clip")).transpose()?;
        Clip::<B>::from_safetensors(&bytes, cfg, &device)?
    };
    println!("config       {}", serde_json::to_string(clip.config())?);
    println!("layers:");
    for name in clip.layer_names() {
        println!("  {name}");
    }
    Ok(())
}
