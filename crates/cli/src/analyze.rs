//! `zero-shot`, `neurons`, `lesion`, `attack`, `families`, `words`: the concept study's analyses
//! as tables (or JSON with `--json`), on the built-in model unless `--model` names another
//! bundle.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use modalscope_analysis::Reduce;
use modalscope_analysis::reading::{RENDERINGS, rank_words, reading_responses};
use modalscope_cli::study::{
    BATCH, EVAL_FIRST, Modality, PROBE_FIRST, Study, concept_index, parse_units,
};
use modalscope_model::Lesion;
use modalscope_synth::{Backing, Overlay, ZERO_SHOT_TEMPLATES};
use serde_json::json;

/// Options every analysis shares.
#[derive(Args)]
pub struct Common {
    /// The model: a bundle carrying its tokenizer.
    #[arg(long, default_value = "web/builtin.msb")]
    model: PathBuf,
    /// Images per concept and modality (drawn, written).
    #[arg(long, default_value_t = 10)]
    per_concept: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// How a unit's map becomes one number per image.
#[derive(Clone, Copy, ValueEnum)]
pub enum ReduceArg {
    /// The class token of a ViT layer (the mean elsewhere).
    Class,
    /// Mean over positions.
    Mean,
    /// Maximum over positions.
    Max,
}

impl From<ReduceArg> for Reduce {
    fn from(r: ReduceArg) -> Self {
        match r {
            ReduceArg::Class => Reduce::Class,
            ReduceArg::Mean => Reduce::Mean,
            ReduceArg::Max => Reduce::Max,
        }
    }
}

/// What `modalscope attack` writes its word on.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum BackingArg {
    /// A paper label on some drawings, straight ink on the rest, as in the training's mixtures.
    Trained,
    /// A paper label on every drawing, as the study's handwritten notes stuck on objects.
    Label,
    /// Ink straight on every drawing.
    Ink,
}

impl From<BackingArg> for Backing {
    fn from(b: BackingArg) -> Self {
        match b {
            BackingArg::Trained => Backing::AsTrained,
            BackingArg::Label => Backing::Label,
            BackingArg::Ink => Backing::Ink,
        }
    }
}

/// How `modalscope lesion --concept` picks the concept's units.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum ChooseArg {
    /// The units whose firing best separates the concept from the others in both modalities
    /// (the weaker AUROC), as the multimodal-neuron ranking orders them.
    Multimodal,
    /// The units whose silencing alone, held as the lesion holds them, costs the concept's
    /// drawings and written names most of their zero-shot margin (the modality that loses least).
    Needed,
}

impl ChooseArg {
    /// How the chosen units are described in the table's heading.
    fn describe(self, count: usize, concept: &str) -> String {
        match self {
            Self::Multimodal => format!("the {count} most multimodal units of `{concept}`"),
            Self::Needed => format!(
                "the {count} units `{concept}` needs most: silenced one at a time, each costs its \
                 drawings and its written names the most zero-shot margin"
            ),
        }
    }
}

/// Which held-out images `modalscope zero-shot` classifies.
#[derive(Clone, Copy, ValueEnum)]
pub enum ModalityArg {
    /// Drawn concepts.
    Drawn,
    /// Written names.
    Written,
    /// Drawn, then written.
    Both,
}

impl ModalityArg {
    fn modalities(self) -> Vec<Modality> {
        match self {
            Self::Drawn => vec![Modality::Drawn],
            Self::Written => vec![Modality::Written],
            Self::Both => Modality::ALL.to_vec(),
        }
    }
}

/// Options of `modalscope zero-shot`.
#[derive(Args)]
pub struct ZeroShotArgs {
    /// Which images: drawn concepts, written names, or both.
    #[arg(long, value_enum, default_value = "both")]
    modality: ModalityArg,
    /// A prompt template with `{}` for the concept's name, e.g. "the word {}"; repeat it to
    /// average several (default: the shared prompts `{}`, `a {}`, `a drawing of a {}`,
    /// `the word {}`).
    #[arg(long = "prompt")]
    prompts: Vec<String>,
    /// How many of the most frequent confusions to list per modality.
    #[arg(long, default_value_t = 10)]
    confusions: usize,
    #[command(flatten)]
    common: Common,
}

/// Options of `modalscope neurons`.
#[derive(Args)]
pub struct NeuronsArgs {
    /// The image-tower layer, e.g. vision.blocks.3.mlp.
    #[arg(long)]
    layer: String,
    /// How many neurons to list.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Strongest images listed per modality as evidence.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// Spatial reduction of a unit's activation map.
    #[arg(long, value_enum, default_value = "class")]
    reduce: ReduceArg,
    #[command(flatten)]
    common: Common,
}

/// Options of `modalscope directions`.
#[derive(Args)]
pub struct DirectionsArgs {
    /// The image-tower layer, e.g. vision.post_ln.
    #[arg(long)]
    layer: String,
    /// Spatial reduction of a unit's activation map.
    #[arg(long, value_enum, default_value = "class")]
    reduce: ReduceArg,
    #[command(flatten)]
    common: Common,
}

/// Options of `modalscope lesion`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["units", "concept"])))]
pub struct LesionArgs {
    /// The layer whose units are silenced (either tower).
    #[arg(long)]
    layer: String,
    /// Units to silence: 1,2,3 or ranges like 4-7.
    #[arg(long)]
    units: Option<String>,
    /// Instead of --units: silence this concept's units in the layer (see --choose).
    #[arg(long)]
    concept: Option<String>,
    /// With --concept: how many of its units.
    #[arg(long, default_value_t = 5)]
    count: usize,
    /// With --concept: which of its units (default: multimodal; image-tower layers only for
    /// `needed`).
    #[arg(long, value_enum)]
    choose: Option<ChooseArg>,
    /// Mean ablation (each unit held at its mean over the probe images) instead of zero.
    #[arg(long)]
    mean: bool,
    /// How many concepts to list (all by default).
    #[arg(long)]
    show: Option<usize>,
    #[command(flatten)]
    common: Common,
}

/// Options of `modalscope attack`.
#[derive(Args)]
pub struct AttackArgs {
    /// Write this concept's name on every drawing (default: a different name on each).
    #[arg(long)]
    word: Option<String>,
    /// Height of the written letters as a fraction of the image side, 0.05 to 0.5 (default:
    /// 0.13 to 0.21 at random, as in the training's mixtures; long words shrink to fit).
    #[arg(long)]
    letter_height: Option<f32>,
    /// What the word is written on (the same drawings, places and letter sizes either way).
    #[arg(long, value_enum, default_value = "trained")]
    backing: BackingArg,
    /// A prompt template with `{}` for the concept's name, e.g. "the word {}"; repeat it to
    /// average several (default: the shared prompts `{}`, `a {}`, `a drawing of a {}`,
    /// `the word {}`).
    #[arg(long = "prompt")]
    prompts: Vec<String>,
    /// How many of the concepts that attacked drawings land on instead (neither the drawn
    /// concept nor the written word) to list.
    #[arg(long, default_value_t = 8)]
    elsewhere: usize,
    #[command(flatten)]
    common: Common,
}

/// Options of `modalscope families`.
#[derive(Args)]
pub struct FamiliesArgs {
    /// The image-tower layer, e.g. vision.blocks.3.mlp.
    #[arg(long)]
    layer: String,
    /// Number of families.
    #[arg(long, default_value_t = 8)]
    k: usize,
    /// Seed of the clustering's initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Members listed per family in the table.
    #[arg(long, default_value_t = 12)]
    members: usize,
    /// Spatial reduction of a unit's activation map.
    #[arg(long, value_enum, default_value = "class")]
    reduce: ReduceArg,
    #[command(flatten)]
    common: Common,
}

/// Options of `modalscope words`.
#[derive(Args)]
pub struct WordsArgs {
    /// The image-tower layer, e.g. vision.blocks.3.mlp.
    #[arg(long)]
    layer: String,
    /// The unit (neuron or channel) of the layer.
    #[arg(long)]
    unit: usize,
    /// How many words to list.
    #[arg(long, default_value_t = 12)]
    top: usize,
    /// The model: a bundle carrying its tokenizer.
    #[arg(long, default_value = "web/builtin.msb")]
    model: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn per_concept(c: &Common) -> Result<usize> {
    if c.per_concept == 0 {
        bail!("--per-concept must be at least 1");
    }
    Ok(c.per_concept)
}

fn print_json(value: serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// The prompt templates asked for, or the shared ones where none were.
fn templates_or_shared(asked: &[String]) -> Vec<String> {
    if asked.is_empty() {
        ZERO_SHOT_TEMPLATES.iter().map(|t| t.to_string()).collect()
    } else {
        asked.to_vec()
    }
}

/// Prompt templates in backquotes, comma-separated, for a table's heading.
fn quote(prompts: &[String]) -> String {
    let quoted: Vec<String> = prompts.iter().map(|p| format!("`{p}`")).collect();
    quoted.join(", ")
}

/// Runs `modalscope zero-shot`.
pub fn zero_shot(args: ZeroShotArgs) -> Result<()> {
    let n = per_concept(&args.common)?;
    let study = Study::load(&args.common.model)?;
    let names = study.concepts();
    let modalities = args.modality.modalities();
    let reports = study.zero_shot(&modalities, n, &args.prompts)?;
    let prompts = templates_or_shared(&args.prompts);
    if args.common.json {
        return print_json(json!({
            "model": args.common.model.display().to_string(),
            "per_concept": n,
            "prompts": prompts,
            "concepts": names,
            "modalities": modalities.iter().zip(&reports).map(|(m, r)| json!({
                "modality": m.name(),
                "report": r,
            })).collect::<Vec<_>>(),
        }));
    }
    println!(
        "zero-shot: {n} held-out images per concept, prompts {} (chance {:.1}%)",
        quote(&prompts),
        100.0 / names.len() as f64
    );
    for (m, r) in modalities.iter().zip(&reports) {
        println!(
            "\n{}: {:.1}%, worst concepts first",
            m.name(),
            100.0 * r.accuracy
        );
        for c in &r.classes {
            println!(
                "{:<10} {:>3}/{:<3} {:>5.1}%",
                names[c.class],
                c.right,
                c.total,
                100.0 * c.right as f64 / c.total.max(1) as f64
            );
        }
        let shown: Vec<String> = r
            .confusions
            .iter()
            .take(args.confusions)
            .map(|c| format!("{} -> {} {}", names[c.class], names[c.predicted], c.count))
            .collect();
        if !shown.is_empty() {
            println!("most confused: {}", shown.join(", "));
        }
    }
    Ok(())
}

/// Runs `modalscope neurons`.
pub fn neurons(args: NeuronsArgs) -> Result<()> {
    let n = per_concept(&args.common)?;
    let study = Study::load(&args.common.model)?;
    study.check_image_layer(&args.layer)?;
    let probe = study.probe_sets(n);
    let found = study.neurons(
        &args.layer,
        &probe,
        args.top,
        args.reduce.into(),
        args.examples,
    )?;
    let names = study.concepts();
    if args.common.json {
        return print_json(json!({
            "model": args.common.model.display().to_string(),
            "layer": args.layer,
            "per_concept": n,
            "modalities": ["drawn", "written"],
            "concepts": names,
            "neurons": found,
        }));
    }
    println!(
        "{}: the {} most multimodal neurons ({} drawn + {} written images per concept)",
        args.layer,
        found.len(),
        n,
        n
    );
    println!(
        "{:>4} {:>6}  {:<10} {:>8} {:>8} {:>8} {:>8}  {:<18} {:<18}",
        "rank",
        "unit",
        "concept",
        "drawn",
        "written",
        "combined",
        "text",
        "drawn top",
        "written top"
    );
    for (rank, m) in found.iter().enumerate() {
        let top = |i: usize| -> String {
            let e = &m.modalities[i];
            format!("{:.0}% of {}", 100.0 * e.top_precision, e.top_images.len())
        };
        println!(
            "{:>4} {:>6}  {:<10} {:>8.3} {:>8.3} {:>8.3} {:>+8.4}  {:<18} {:<18}",
            rank + 1,
            m.unit,
            names[m.concept],
            m.modalities[0].auroc,
            m.modalities[1].auroc,
            m.combined,
            m.text_alignment.unwrap_or(f64::NAN),
            top(0),
            top(1),
        );
    }
    println!(
        "drawn/written: AUROC of the unit for its concept against the other concepts; \
         combined: the weaker of the two;"
    );
    println!(
        "text: zero-shot margin (cosine) towards the concept's name that images of it lose \
         when the unit is zero-ablated;"
    );
    println!("top: share of the unit's strongest images (any concept) that show its concept.");
    Ok(())
}

/// Runs `modalscope lesion`.
pub fn lesion(args: LesionArgs) -> Result<()> {
    let n = per_concept(&args.common)?;
    let study = Study::load(&args.common.model)?;
    study.clip.check_layer(&args.layer)?;
    let names = study.concepts();
    let units = args.units.as_deref().map(parse_units).transpose()?;
    let concept = args.concept.as_deref().map(concept_index).transpose()?;
    if let Some(units) = &units {
        study
            .clip
            .check_lesion(&Lesion::zero(&args.layer, units.iter().copied()))?;
    }
    if args.choose.is_some() && (units.is_some() || concept.is_none()) {
        bail!("--choose picks a concept's units: give it with --concept, not with --units");
    }
    let probe = study.probe_sets(n);
    // What the lesion holds the units at: also what choosing the needed units holds them at.
    let values = study.hold_values(&args.layer, args.mean, &probe)?;
    let choose = args.choose.unwrap_or(ChooseArg::Multimodal);
    let (units, target) = match (units, concept) {
        (Some(u), _) => (u, None),
        (None, Some(concept)) => {
            if args.count == 0 {
                bail!("--count must be at least 1");
            }
            let chosen: Vec<usize> = match choose {
                ChooseArg::Multimodal => study
                    .concept_units(&args.layer, concept, args.count, &probe, Reduce::default())?
                    .iter()
                    .map(|s| s.unit)
                    .collect(),
                ChooseArg::Needed => study
                    .units_needed(&args.layer, concept, args.count, &values, &probe)?
                    .iter()
                    .map(|c| c.unit)
                    .collect(),
            };
            (chosen, Some(concept))
        }
        (None, None) => bail!("name the units to silence with --units or --concept"),
    };
    let lesion = study.lesion_holding(&args.layer, &units, &values)?;
    let report = study.lesion(std::slice::from_ref(&lesion), &study.eval_sets(n))?;
    let unit_list = units
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let command = format!(
        "modalscope lesion --model {} --layer {} --units {unit_list}{} --per-concept {n}",
        args.common.model.display(),
        args.layer,
        if args.mean { " --mean" } else { "" },
    );
    if args.common.json {
        return print_json(json!({
            "model": args.common.model.display().to_string(),
            "command": command,
            "ablation": if args.mean { "mean" } else { "zero" },
            "target_concept": target.map(|c| names[c]),
            "chosen_by": target.and(choose.to_possible_value()).map(|v| v.get_name().to_string()),
            "per_concept": n,
            "modalities": ["drawn", "written"],
            "concepts": names,
            "report": report,
        }));
    }
    println!(
        "{} ablation of {} unit(s) of {}: {unit_list}",
        if args.mean { "mean" } else { "zero" },
        units.len(),
        args.layer
    );
    if let Some(c) = target {
        println!("({})", choose.describe(units.len(), names[c]));
    }
    println!(
        "zero-shot accuracy on {n} held-out images per concept (seeds from {EVAL_FIRST}; \
         units were chosen on seeds from {PROBE_FIRST}):"
    );
    println!(
        "  overall   drawn {:.1}% -> {:.1}%   written {:.1}% -> {:.1}%",
        100.0 * report.before[0],
        100.0 * report.after[0],
        100.0 * report.before[1],
        100.0 * report.after[1]
    );
    println!(
        "{:<10} {:>15} {:>15} {:>8}",
        "concept", "drawn", "written", "drop"
    );
    let show = args.show.unwrap_or(report.concepts.len());
    for c in report.concepts.iter().take(show) {
        println!(
            "{:<10} {:>6.0}% -> {:>3.0}% {:>6.0}% -> {:>3.0}% {:>+7.1}%{}",
            names[c.concept],
            100.0 * c.before[0],
            100.0 * c.after[0],
            100.0 * c.before[1],
            100.0 * c.after[1],
            100.0 * c.drop(),
            if Some(c.concept) == target {
                "  <- target"
            } else {
                ""
            }
        );
    }
    if let Some(t) = target {
        let own = report.concept(t).map_or(0.0, |c| c.drop());
        println!(
            "drop on `{}`: {:+.1}%, mean drop on the other concepts: {:+.1}%",
            names[t],
            100.0 * own,
            100.0 * report.mean_drop_except(t)
        );
    }
    println!("reproduce: {command}");
    Ok(())
}

/// The smallest letter height an attack may ask for: below it letters blur into specks.
const MIN_LETTER_HEIGHT: f32 = 0.05;
/// The largest: half the image side, beyond which a word hides the drawing it attacks.
const MAX_LETTER_HEIGHT: f32 = 0.5;

/// Runs `modalscope attack`.
pub fn attack(args: AttackArgs) -> Result<()> {
    let n = per_concept(&args.common)?;
    let word = args.word.as_deref().map(concept_index).transpose()?;
    if let Some(h) = args.letter_height
        && !(MIN_LETTER_HEIGHT..=MAX_LETTER_HEIGHT).contains(&h)
    {
        bail!(
            "--letter-height must lie in {MIN_LETTER_HEIGHT}..={MAX_LETTER_HEIGHT} (a fraction of the \
             image side), not {h}"
        );
    }
    let study = Study::load(&args.common.model)?;
    let overlay = Overlay {
        height: args.letter_height,
        backing: args.backing.into(),
    };
    let report = study.attack(n, word, overlay, &args.prompts)?;
    let names = study.concepts();
    let prompts = templates_or_shared(&args.prompts);
    if args.common.json {
        return print_json(json!({
            "model": args.common.model.display().to_string(),
            "word": word.map(|w| names[w]),
            "letter_height": args.letter_height,
            "backing": args.backing.to_possible_value().map(|v| v.get_name().to_string()),
            "prompts": prompts,
            "per_concept": n,
            "concepts": names,
            "report": report,
        }));
    }
    println!(
        "typographic attack: {n} held-out drawings per concept with {} written on them{}",
        match word {
            Some(w) => format!("`{}`", names[w]),
            None => "another concept's name".to_string(),
        },
        match args.letter_height {
            Some(h) => format!(" in letters {:.0}% of the side high", 100.0 * h),
            None => String::new(),
        }
    );
    println!(
        "written {}",
        match args.backing {
            BackingArg::Trained => "on a paper label or in ink, as in the training's mixtures",
            BackingArg::Label => "on a paper label",
            BackingArg::Ink => "in ink straight on the drawing",
        }
    );
    println!("classified against the prompts {}", quote(&prompts));
    println!(
        "{:<10} {:>7} {:>9} {:>9}",
        "concept", "clean", "attacked", "flipped"
    );
    for c in &report.concepts {
        println!(
            "{:<10} {:>6.0}% {:>8.0}% {:>8.0}%",
            names[c.concept],
            100.0 * c.clean_accuracy,
            100.0 * c.attacked_accuracy,
            100.0 * c.flip_rate
        );
    }
    println!(
        "overall: clean accuracy {:.1}%, attacked accuracy {:.1}%, predictions flipped to the \
         written word {:.1}%",
        100.0 * report.clean_accuracy,
        100.0 * report.attacked_accuracy,
        100.0 * report.flip_rate
    );
    println!(
        "concepts flipped more often than not: {:.1}% ({} of {})",
        100.0 * report.flipped_concepts,
        report.concepts.iter().filter(|c| c.flip_rate > 0.5).count(),
        report.concepts.len()
    );
    let landed: usize = report.elsewhere.iter().sum();
    let attacked: usize = report.concepts.iter().map(|c| c.attacked).sum();
    if landed > 0 && args.elsewhere > 0 {
        let listed: Vec<String> = report
            .elsewhere_most_often()
            .iter()
            .take(args.elsewhere)
            .map(|&(c, count)| format!("{} {count}", names[c]))
            .collect();
        println!(
            "landed on a third concept: {:.1}% ({landed} of {attacked}), most often {}",
            100.0 * landed as f64 / attacked.max(1) as f64,
            listed.join(", ")
        );
    }
    Ok(())
}

/// Runs `modalscope words`.
pub fn words(args: WordsArgs) -> Result<()> {
    let study = Study::load(&args.model)?;
    study.check_image_layer(&args.layer)?;
    let (responses, units) =
        reading_responses(&study.clip, &args.layer, &study.words, RENDERINGS, BATCH)?;
    let ranked = rank_words(
        &study.words,
        &responses,
        units,
        RENDERINGS,
        args.unit,
        args.top,
    )?;
    if args.json {
        return print_json(json!({
            "model": args.model.display().to_string(),
            "layer": args.layer,
            "unit": args.unit,
            "vocabulary": study.words.len(),
            "renderings": RENDERINGS,
            "words": ranked,
        }));
    }
    println!(
        "{} unit {}: the written words that drive it most ({} words, {} letterings each)",
        args.layer,
        args.unit,
        study.words.len(),
        RENDERINGS
    );
    println!("{:>4}  {:<14} {:>9} {:>7}", "rank", "word", "mean", "z");
    for (rank, w) in ranked.iter().enumerate() {
        println!(
            "{:>4}  {:<14} {:>9.4} {:>+7.2}",
            rank + 1,
            w.word,
            w.mean,
            w.z
        );
    }
    println!(
        "mean: the unit's response (mean over positions) averaged over the word's letterings; \
         z: standard deviations above the mean word."
    );
    Ok(())
}

/// Runs `modalscope directions`.
pub fn directions(args: DirectionsArgs) -> Result<()> {
    let n = per_concept(&args.common)?;
    let study = Study::load(&args.common.model)?;
    study.check_image_layer(&args.layer)?;
    let mut scores = study.directions(
        &args.layer,
        &study.probe_sets(n),
        &study.eval_sets(n),
        args.reduce.into(),
    )?;
    let names = study.concepts();
    if args.common.json {
        return print_json(json!({
            "model": args.common.model.display().to_string(),
            "layer": args.layer,
            "per_concept": n,
            "modalities": ["drawn", "written"],
            "concepts": names,
            "directions": scores,
        }));
    }
    scores.sort_by(|a, b| {
        b.combined()
            .total_cmp(&a.combined())
            .then(a.concept.cmp(&b.concept))
    });
    println!(
        "{}: concept directions fit on {n} drawn + {n} written images per concept, measured on \
         {n} + {n} others",
        args.layer
    );
    println!(
        "{:>4}  {:<10} {:>8} {:>8} {:>8} {:>7}",
        "rank", "concept", "drawn", "written", "combined", "units"
    );
    for (rank, d) in scores.iter().enumerate() {
        println!(
            "{:>4}  {:<10} {:>8.3} {:>8.3} {:>8.3} {:>7.1}",
            rank + 1,
            names[d.concept],
            d.auroc[0],
            d.auroc[1],
            d.combined(),
            d.spread
        );
    }
    println!(
        "drawn/written: AUROC of the layer's read-out of the concept (each unit weighted by how \
         much more it responds to the concept than to the others) on images it was not fit on;"
    );
    println!(
        "units: how many units the read-out spreads over; compare `modalscope neurons`, where \
         one unit must carry the concept alone."
    );
    Ok(())
}

/// Runs `modalscope families`.
pub fn families(args: FamiliesArgs) -> Result<()> {
    let n = per_concept(&args.common)?;
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    let study = Study::load(&args.common.model)?;
    study.check_image_layer(&args.layer)?;
    let f = study.families(
        &args.layer,
        args.k,
        &study.probe_sets(n),
        args.reduce.into(),
        args.seed,
    )?;
    let names = study.concepts();
    if args.common.json {
        return print_json(json!({
            "model": args.common.model.display().to_string(),
            "layer": args.layer,
            "k": args.k,
            "seed": args.seed,
            "per_concept": n,
            "modalities": ["drawn", "written"],
            "concepts": names,
            "families": f.families,
            "flat": f.flat,
        }));
    }
    println!(
        "{}: {} families of neurons by concept profile ({} drawn + {} written images per concept)",
        args.layer,
        f.families.len(),
        n,
        n
    );
    println!(
        "{:>3} {:>5} {:>9} {:>8}  {:<34} members",
        "#", "size", "cohesion", "prefers", "concepts"
    );
    for (i, fam) in f.families.iter().enumerate() {
        let prefers = match fam.modality.as_slice() {
            [d, w] if d - w > 0.5 => "drawn",
            [d, w] if w - d > 0.5 => "written",
            _ => "both",
        };
        let concepts = fam
            .concepts
            .iter()
            .take(4)
            .map(|&c| names[c])
            .collect::<Vec<_>>()
            .join(", ");
        let mut members = fam
            .members
            .iter()
            .take(args.members)
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",");
        if fam.members.len() > args.members {
            members.push_str(",…");
        }
        println!(
            "{:>3} {:>5} {:>9.3} {:>8}  {:<34} {}",
            i + 1,
            fam.members.len(),
            fam.cohesion(),
            prefers,
            concepts,
            members
        );
    }
    if !f.flat.is_empty() {
        println!(
            "{} unit(s) respond the same to every concept and are in no family",
            f.flat.len()
        );
    }
    Ok(())
}
