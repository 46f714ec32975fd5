//! `modalscope`: convert CLIP checkpoints into the page's int8 bundle, inspect models, train
//! the built-in model, and study its neurons (multimodal neurons, lesions, typographic
//! attacks, neuron families).

use std::path::PathBuf;

use anyhow::Result;
use burn::backend::Flex;
use clap::{Parser, Subcommand, ValueEnum};

mod analyze;
mod convert;
mod survey;
mod train;

/// The allocator: see the note on `mimalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to keep freed memory rather than return it to the OS after a delay: tensor
/// buffers of the same sizes come back every step.
fn keep_freed_memory() {
    // SAFETY: plain option calls on mimalloc's global option table, before any thread starts.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// The CPU backend every command runs on.
pub type B = Flex;

#[derive(Parser)]
#[command(
    name = "modalscope",
    version,
    about = "A microscope for the neurons of multimodal models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PrecisionArg {
    Int8,
    F32,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a checkpoint (safetensors file, or a Hugging Face folder) into a bundle.
    Convert {
        /// A `.safetensors` file or a folder with `model.safetensors` (+ `config.json`,
        /// `vocab.json`, `merges.txt`).
        checkpoint: PathBuf,
        /// Where to write the bundle.
        #[arg(short, long)]
        output: PathBuf,
        /// Architecture: a Hugging Face `config.json` or an OpenCLIP model config; default:
        /// the folder's config.json, else inferred from tensor shapes.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Folder holding `vocab.json` and `merges.txt` to carry inside the bundle.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Name the model goes by in links (default: the preset name or the file stem).
        #[arg(long)]
        name: Option<String>,
        /// Storage precision.
        #[arg(long, value_enum, default_value = "int8")]
        precision: PrecisionArg,
        /// Skip the check that compares int8 and fp32 embeddings on random inputs.
        #[arg(long)]
        no_check: bool,
    },
    /// Train the built-in model (a small CLIP) on procedural image-caption data.
    Train(train::TrainArgs),
    /// Zero-shot accuracy on held-out drawn and written concepts, per concept, and which
    /// concepts the model takes for which.
    ZeroShot(analyze::ZeroShotArgs),
    /// Rank a layer's neurons by multimodality: AUROC for their best concept on drawn and on
    /// written images, and alignment with the text embedding of the concept's name.
    Neurons(analyze::NeuronsArgs),
    /// Whether a layer carries each concept at all, drawn and written, when no single unit
    /// does: a read-out over all its units, fit on some images and measured on others.
    Directions(analyze::DirectionsArgs),
    /// Silence units of a layer (zero or mean ablation) and compare zero-shot accuracy per
    /// concept before and after.
    Lesion(analyze::LesionArgs),
    /// Write concept names on drawings of other concepts and count how often the zero-shot
    /// prediction flips to the written word.
    Attack(analyze::AttackArgs),
    /// Cluster a layer's neurons into families by their concept profiles.
    Families(analyze::FamiliesArgs),
    /// The rendered-text probe: the vocabulary's words written in images, and which of them
    /// drive a unit most.
    Words(analyze::WordsArgs),
    /// Dataset examples: the images (a folder, a zip or the generated set) that drive each
    /// neuron of some layers most, with where they fired, exported as JSON + PNG.
    Examples(survey::ExamplesArgs),
    /// An activation atlas of a layer over an image set (UMAP layout, grid cells, rendered
    /// icons), exported as JSON + PNG for articles and the page.
    Atlas(survey::AtlasArgs),
    /// Print a model's architecture and layers (bundle or safetensors).
    Inspect {
        /// Bundle or safetensors file.
        file: PathBuf,
        /// Architecture config for a safetensors file whose shapes do not say it all.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() {
    keep_freed_memory();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Convert {
            checkpoint,
            output,
            config,
            tokenizer,
            name,
            precision,
            no_check,
        } => convert::convert(
            &checkpoint,
            &output,
            config.as_deref(),
            tokenizer.as_deref(),
            name,
            precision,
            !no_check,
        ),
        Command::Inspect { file, config } => convert::inspect(&file, config.as_deref()),
        Command::Train(args) => train::run(args),
        Command::ZeroShot(args) => analyze::zero_shot(args),
        Command::Neurons(args) => analyze::neurons(args),
        Command::Directions(args) => analyze::directions(args),
        Command::Lesion(args) => analyze::lesion(args),
        Command::Attack(args) => analyze::attack(args),
        Command::Families(args) => analyze::families(args),
        Command::Words(args) => analyze::words(args),
        Command::Examples(args) => survey::examples(args),
        Command::Atlas(args) => survey::atlas(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_documented_with_a_default_of_1000_ms() {
        // SAFETY: reads mimalloc's option table.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000, "mimalloc.h: purge_delay (=1000 ms in v3)");
    }
}
