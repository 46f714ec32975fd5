//! `train`: the built-in model, from seeded random weights to the bundle the page ships.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::backend::Autodiff;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use modalscope_model::{Clip, bundle};
use modalscope_train::{Event, TrainConfig, Trainer, train};

use crate::B;
use crate::convert::mb;

/// Options of `modalscope train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Where to write the trained model as an int8 bundle.
    #[arg(short, long, default_value = "web/builtin.msb")]
    output: PathBuf,
    /// Checkpoint folder, written every `checkpoint_every` steps and at the end.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue the run saved in `--checkpoint` instead of starting afresh.
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    /// Start from this bundle's weights (e.g. `web/builtin.msb`) instead of the seed's random
    /// ones, with a fresh optimizer: a second stage of training on a model that already reads.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// A recipe as JSON (default: the built-in model's first stage).
    #[arg(long, conflicts_with_all = ["tiny", "stage"])]
    recipe: Option<PathBuf>,
    /// A later stage of the built-in model's recipe, to start from the previous stage's bundle.
    #[arg(long, value_enum, requires = "init", conflicts_with = "tiny")]
    stage: Option<Stage>,
    /// The tiny recipe used by tests (seconds).
    #[arg(long)]
    tiny: bool,
    /// Override the recipe's number of steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Override the recipe's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the recipe's shards: parts of each batch trained at once on their own
    /// threads, each with its own loss (faster on several cores; fewer negatives per loss).
    #[arg(long)]
    shards: Option<usize>,
    /// Write the step log and evaluations as JSON here.
    #[arg(long)]
    log: Option<PathBuf>,
}

/// The built-in model's stages after the first, each started from the one before.
#[derive(Clone, Copy, ValueEnum)]
pub enum Stage {
    /// The second: more reading of written names ([`TrainConfig::builtin_reading`]).
    Reading,
    /// The third: drawing and name aligned in the last MLP ([`TrainConfig::builtin_aligned`]).
    Aligned,
}

/// Runs the command.
pub fn run(args: TrainArgs) -> Result<()> {
    let device = Default::default();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut trainer = if args.resume {
        let dir = args.checkpoint.as_ref().expect("clap requires it");
        Trainer::<Autodiff<B>>::resume(dir, device)
            .with_context(|| format!("cannot resume from {}", dir.display()))?
    } else {
        let mut config = match (&args.recipe, args.tiny) {
            (Some(path), _) => serde_json::from_slice::<TrainConfig>(
                &std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            )
            .with_context(|| format!("{} is not a training recipe", path.display()))?,
            (None, true) => TrainConfig::tiny(),
            (None, false) => match args.stage {
                None => TrainConfig::builtin(),
                Some(Stage::Reading) => TrainConfig::builtin_reading(),
                Some(Stage::Aligned) => TrainConfig::builtin_aligned(),
            },
        };
        if let Some(s) = args.steps {
            config.steps = s;
        }
        if let Some(s) = args.seed {
            config.seed = s;
        }
        if let Some(s) = args.shards {
            config.shards = s;
        }
        if config.steps == 0 || config.batch < 2 {
            bail!("a run needs at least one step and two samples per batch");
        }
        let trainer = Trainer::new(config, device)?;
        match &args.init {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let not_a_bundle = || format!("{} is not a model bundle", path.display());
                // Read once: the weights, and the record of how they were made.
                let b = bundle::read(&bytes).with_context(not_a_bundle)?;
                let clip = Clip::<Autodiff<B>>::from_store(&b.config, b.store, &Default::default())
                    .with_context(not_a_bundle)?;
                trainer
                    .start_from(clip, b.meta)
                    .with_context(|| format!("cannot start from {}", path.display()))?
            }
            None => trainer,
        }
    };
    let total = trainer.config().steps;
    let steps_before = trainer.steps_done();
    println!("recipe       {}", serde_json::to_string(trainer.config())?);
    let bar = ProgressBar::new(total as u64).with_position(trainer.steps_done() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  {elapsed} (eta {eta})")
            .expect("a valid template"),
    );
    // Without a terminal (CI, logs) the bar is hidden: print a line every 5 % instead.
    let line_every = (total / 20).max(1);
    let say = |line: String| {
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    };
    let trainer_has_penalty =
        trainer.config().sparsity.is_some() || trainer.config().readout.is_some();
    let start = Instant::now();
    train(&mut trainer, args.checkpoint.as_deref(), |event| {
        match event {
            Event::Step(s) => {
                let mut msg = format!(
                    "loss {:.3}  lr {:.2e}  scale {:.1}",
                    s.loss, s.learning_rate, s.logit_scale
                );
                if trainer_has_penalty {
                    msg += &format!("  penalty {:.4}", s.penalty);
                }
                if bar.is_hidden() && s.step % line_every == 0 {
                    let rate = start.elapsed().as_secs_f64()
                        / s.step.saturating_sub(steps_before).max(1) as f64;
                    println!("step {:>5}/{total}  {msg}  {:.2} s/step", s.step, rate);
                }
                bar.set_position(s.step as u64);
                bar.set_message(msg);
            }
            Event::Eval(m) => say(format!(
                "step {:>5}  zero-shot drawn {:.1}%  written {:.1}%  held-out loss {:.3}",
                m.step,
                100.0 * m.drawn_accuracy,
                100.0 * m.written_accuracy,
                m.heldout_loss
            )),
            Event::Checkpoint(step) => say(format!("step {step:>5}  checkpoint written")),
        }
        true
    })?;
    bar.finish();
    let (bytes, report) = trainer.bundle(&command);
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "trained      {} steps in {:.1} min; bundle {} ({} int8 tensors) -> {}",
        trainer.steps_done(),
        start.elapsed().as_secs_f64() / 60.0,
        mb(bytes.len() as u64),
        report.quantized_tensors,
        args.output.display()
    );
    if let Some(m) = trainer.evals.last() {
        println!(
            "final        zero-shot drawn {:.1}%, written {:.1}% (chance {:.1}%)",
            100.0 * m.drawn_accuracy,
            100.0 * m.written_accuracy,
            100.0 / modalscope_synth::CONCEPTS.len() as f64
        );
    }
    if let Some(path) = &args.log {
        let log = serde_json::json!({ "steps": trainer.log, "evaluations": trainer.evals });
        std::fs::write(path, serde_json::to_vec_pretty(&log)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
