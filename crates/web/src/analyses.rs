//! The neuron analyses of the concept study, as the worker runs them: the most multimodal
//! units of a layer, lesion experiments, typographic attacks, neuron families and the
//! rendered-text probe (which written words drive a unit).
//!
//! The probe images, prompts and statistics are those of `modalscope-analysis` (the command
//! line's `neurons | lesion | attack | families` run the same code on the same images); here
//! the forward passes go a batch at a time, reading results back asynchronously (WebGPU needs
//! it), yielding between batches so a `Cancel` is honoured, and reporting progress. Unit
//! responses to the probe sets, the class embeddings, mean-ablation values and the intact
//! model's predictions on the evaluation sets are kept for the next analysis of the model.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use image::RgbImage;
use modalscope_analysis::concepts::{self, EVAL_FIRST, PROBE_FIRST, set_image, set_labels};
use modalscope_analysis::reading::{RENDERINGS, rank_words, word_image};
use modalscope_analysis::response::reduce;
use modalscope_analysis::{
    AnalysisError, Probe, Reduce, UnitCost, class_embeddings, concept_margins, concept_profiles,
    evidence, lesion_report, margin_lost, most_changed_units, most_needed_first, neuron_families,
    predict, rank_units, unit_sums, units_for_concept,
};
use modalscope_model::{Lesion, ModelError, Preprocessor, normalize};
use modalscope_synth::{CONCEPTS, Modality, WordParams, render_drawn, write_word};

use crate::engine::{Engine, EngineError, Host, read_back};
use crate::protocol::{
    Ablation, AnalysisResult, AnalysisTask, AttackImage, AttackResult, AttackSpec, ConceptAccuracy,
    EvidenceImage, FamiliesResult, FamiliesSpec, FamilyRow, JobId, LesionResult, LesionSpec,
    ModalityEvidence, MultimodalResult, MultimodalRow, MultimodalSpec, NeededUnits, ReadWord,
    ReadingResult, ReadingSpec, Response, Rgba, UnitCostRow, UnitDelta,
};

/// Images per forward pass (the worker yields between batches).
pub const BATCH: usize = 16;
/// The most words the rendered-text probe writes (each [`RENDERINGS`] times).
pub use modalscope_analysis::reading::MAX_WORDS as READ_WORDS;
/// Strongest probe images shown per modality as a unit's evidence.
pub const EVIDENCE_IMAGES: usize = 3;
/// Side in pixels of an evidence image (the generator redraws the probe image at this size).
pub const EVIDENCE_SIZE: u32 = 48;
/// Units offered for "lesion the top units of this concept".
pub const CONCEPT_UNITS: usize = 5;
/// Units listed as the most changed by a typographic attack.
pub const CHANGED_UNITS: usize = 12;
/// k-means restarts of the neuron families (the command line's).
pub const FAMILY_RESTARTS: usize = 4;
/// The largest image file an attack takes.
pub const MAX_UPLOAD: usize = 32 << 20;

/// A layer's responses to the two probe sets (drawn, written), `[images × units]` each.
pub struct Responses {
    /// Drawn, then written.
    pub sets: [Vec<f32>; 2],
    /// Units per image.
    pub units: usize,
}

/// Values kept by layer and images per concept.
type ByLayer<T> = RefCell<HashMap<(String, usize), Rc<T>>>;

/// What the analyses keep between requests, for one model.
pub struct StudyCache<B: Backend> {
    /// Unit responses (mean over positions) to the probe sets.
    responses: ByLayer<Responses>,
    /// The normalized class embeddings of the concepts.
    classes: RefCell<Option<Tensor<B, 2>>>,
    /// Mean-ablation values (over the probe images).
    means: ByLayer<Vec<f32>>,
    /// Unit responses to the rendered-text probe's words, by layer (`[words × renderings,
    /// units]`).
    readings: ByLayer<Responses>,
    /// Zero-shot predictions of the intact model on the evaluation sets (drawn, written), by
    /// images per concept.
    intact: RefCell<HashMap<usize, Rc<[Vec<usize>; 2]>>>,
}

impl<B: Backend> Default for StudyCache<B> {
    fn default() -> Self {
        Self {
            responses: RefCell::default(),
            classes: RefCell::default(),
            means: RefCell::default(),
            readings: RefCell::default(),
            intact: RefCell::default(),
        }
    }
}

/// Why an analysis or a survey job stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The page no longer wants it.
    Cancelled,
    /// It cannot be done; the message says why.
    Failed(String),
}

impl From<EngineError> for Stop {
    fn from(e: EngineError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<AnalysisError> for Stop {
    fn from(e: AnalysisError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<ModelError> for Stop {
    fn from(e: ModelError) -> Self {
        Self::Failed(e.to_string())
    }
}

/// Progress of one analysis: images through the model, out of a total that may grow.
struct Steps<'a, H: Host> {
    host: &'a H,
    job: JobId,
    done: usize,
    total: usize,
}

impl<H: Host> Steps<'_, H> {
    /// Gives the event loop a turn, stops if the job was cancelled, and reports progress.
    async fn next(&mut self, stage: &str) -> Result<(), Stop> {
        self.host.yield_now().await;
        if self.host.is_cancelled(self.job) {
            return Err(Stop::Cancelled);
        }
        self.host.emit(Response::AnalysisProgress {
            job: self.job,
            stage: stage.to_string(),
            done: self.done,
            total: self.total.max(self.done),
        });
        Ok(())
    }
}

/// Runs one analysis to the end, to a cancellation or to an error; every outcome is one final
/// response (`Analysis`, `Cancelled` or `Error`), after `AnalysisProgress` reports.
pub async fn analyze<B: AutodiffBackend>(
    engine: &Engine<B>,
    job: JobId,
    task: &AnalysisTask,
    host: &impl Host,
) {
    let started = host.now_ms();
    let mut steps = Steps {
        host,
        job,
        done: 0,
        total: 0,
    };
    let outcome = match task {
        AnalysisTask::Multimodal(spec) => multimodal(engine, spec, &mut steps)
            .await
            .map(AnalysisResult::Multimodal),
        AnalysisTask::Lesion(spec) => lesion(engine, spec, &mut steps)
            .await
            .map(AnalysisResult::Lesion),
        AnalysisTask::Attack(spec) => attack(engine, spec, &mut steps)
            .await
            .map(AnalysisResult::Attack),
        AnalysisTask::Families(spec) => families(engine, spec, &mut steps)
            .await
            .map(AnalysisResult::Families),
        AnalysisTask::Reading(spec) => reading(engine, spec, &mut steps)
            .await
            .map(AnalysisResult::Reading),
    };
    host.emit(match outcome {
        Ok(result) => Response::Analysis {
            job,
            result,
            elapsed_ms: host.now_ms() - started,
        },
        Err(Stop::Cancelled) => Response::Cancelled {
            job,
            step: steps.done,
        },
        Err(Stop::Failed(message)) => Response::Error {
            job: Some(job),
            message,
        },
    });
}

/// Fails unless `layer` is an image-tower layer of the model.
fn check_image_layer<B: AutodiffBackend>(engine: &Engine<B>, layer: &str) -> Result<(), Stop> {
    engine.clip().check_layer(layer)?;
    if layer.starts_with("text.") {
        return Err(Stop::Failed(format!(
            "`{layer}` belongs to the text tower; neurons are probed with images, so pick an \
             image-tower layer (vision.*)"
        )));
    }
    Ok(())
}

fn check_per_concept(n: usize) -> Result<(), Stop> {
    if n == 0 {
        return Err(Stop::Failed(
            "at least one image per concept is needed".into(),
        ));
    }
    Ok(())
}

/// The prompts, or why an analysis that needs zero-shot labels cannot run.
fn need_prompts<B: AutodiffBackend>(engine: &Engine<B>, what: &str) -> Result<(), Stop> {
    engine.prompts().map(|_| ()).map_err(|why| {
        Stop::Failed(format!(
            "{what} needs zero-shot labels from the text tower, and {why}"
        ))
    })
}

fn preprocessor<B: AutodiffBackend>(engine: &Engine<B>) -> Preprocessor {
    Preprocessor::for_config(engine.clip().config())
}

/// The normalized class embeddings of the concepts (computed once).
fn classes<B: AutodiffBackend>(engine: &Engine<B>) -> Result<Tensor<B, 2>, Stop> {
    if let Some(c) = engine.study.classes.borrow().as_ref() {
        return Ok(c.clone());
    }
    let prompts = engine
        .prompts()
        .map_err(|why| Stop::Failed(why.to_string()))?;
    let c = class_embeddings(engine.clip(), prompts, &[])?;
    *engine.study.classes.borrow_mut() = Some(c.clone());
    Ok(c)
}

/// The responses of `layer` to the probe sets of `n` images per concept (computed once).
async fn responses<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    layer: &str,
    n: usize,
    steps: &mut Steps<'_, H>,
) -> Result<Rc<Responses>, Stop> {
    let key = (layer.to_string(), n);
    if let Some(r) = engine.study.responses.borrow().get(&key) {
        return Ok(r.clone());
    }
    let pre = preprocessor(engine);
    let device = engine.clip().device();
    let count = n * CONCEPTS.len();
    let mut sets: [Vec<f32>; 2] = Default::default();
    let mut units = 0;
    for (m, set) in Modality::ALL.into_iter().zip(&mut sets) {
        let stage = format!("{} probe images through {layer}", m.name());
        for start in (0..count).step_by(BATCH) {
            steps.next(&stage).await?;
            let end = (start + BATCH).min(count);
            let images: Vec<RgbImage> = (start..end)
                .map(|i| set_image(m, n, PROBE_FIRST, i, pre.size as u32))
                .collect();
            let act = engine
                .clip()
                .image_activation(pre.batch::<B>(&images, &device), layer)?;
            units = act.channels();
            set.extend(read_back(reduce(&act, Reduce::default())).await?);
            steps.done += end - start;
        }
    }
    let r = Rc::new(Responses { sets, units });
    engine.study.responses.borrow_mut().insert(key, r.clone());
    Ok(r)
}

/// Whether the responses are kept already.
fn has_responses<B: AutodiffBackend>(engine: &Engine<B>, layer: &str, n: usize) -> bool {
    engine
        .study
        .responses
        .borrow()
        .contains_key(&(layer.to_string(), n))
}

/// Cosine similarities `[images, classes]` of images (at the model's size) with the class
/// embeddings, with `lesions` applied, a batch at a time.
async fn similarity_rows<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    images: &[RgbImage],
    lesions: &[Lesion],
    classes: &Tensor<B, 2>,
    stage: &str,
    steps: &mut Steps<'_, H>,
) -> Result<Vec<Vec<f32>>, Stop> {
    let pre = preprocessor(engine);
    let device = engine.clip().device();
    let k = classes.dims()[0];
    let mut rows = Vec::with_capacity(images.len());
    for chunk in images.chunks(BATCH) {
        steps.next(stage).await?;
        let embeds = engine
            .clip()
            .encode_image_lesioned(pre.batch::<B>(chunk, &device), lesions)?;
        let sims = read_back(normalize(embeds).matmul(classes.clone().transpose())).await?;
        rows.extend(sims.chunks(k).map(<[f32]>::to_vec));
        steps.done += chunk.len();
    }
    Ok(rows)
}

/// Every probe image of `concept`, drawn then written, at the model's size.
fn concept_probe_images(concept: usize, n: usize, size: u32) -> Vec<RgbImage> {
    Modality::ALL
        .into_iter()
        .flat_map(|m| {
            (concept * n..(concept + 1) * n).map(move |i| set_image(m, n, PROBE_FIRST, i, size))
        })
        .collect()
}

/// The most multimodal units of a layer with their evidence and text alignment: what
/// `modalscope neurons` lists.
async fn multimodal<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    spec: &MultimodalSpec,
    steps: &mut Steps<'_, H>,
) -> Result<MultimodalResult, Stop> {
    engine.check_model(&spec.model)?;
    check_image_layer(engine, &spec.layer)?;
    check_per_concept(spec.per_concept)?;
    let n = spec.per_concept;
    let text = engine.prompts().is_ok();
    let probe_work = if has_responses(engine, &spec.layer, n) {
        0
    } else {
        2 * n * CONCEPTS.len()
    };
    // Text alignment: images of each concept once, then once more per unit (an upper bound
    // until the ranking says how many concepts there are).
    steps.total = probe_work + if text { 2 * spec.top * 2 * n } else { 0 };
    let r = responses(engine, &spec.layer, n, steps).await?;
    let labels = set_labels(n);
    let probes: Vec<Probe<'_>> = r
        .sets
        .iter()
        .map(|s| Probe {
            responses: s,
            labels: &labels,
            units: r.units,
        })
        .collect();
    let ranked: Vec<_> = rank_units(&probes, CONCEPTS.len())
        .into_iter()
        .take(spec.top)
        .collect();
    let mut rows: Vec<MultimodalRow> = ranked
        .iter()
        .map(|s| MultimodalRow {
            unit: s.unit,
            concept: s.concept,
            combined: s.combined(),
            modalities: Modality::ALL
                .into_iter()
                .zip(&probes)
                .map(|(m, p)| {
                    let e = evidence(p, s.unit, s.concept, EVIDENCE_IMAGES);
                    ModalityEvidence {
                        auroc: e.auroc,
                        mean_concept: e.mean_concept,
                        mean_others: e.mean_others,
                        top_precision: e.top_precision,
                        top: e
                            .top_images
                            .iter()
                            .map(|&i| EvidenceImage {
                                concept: labels[i],
                                response: p.responses[i * p.units + s.unit],
                                image: rgba(set_image(m, n, PROBE_FIRST, i, EVIDENCE_SIZE)),
                            })
                            .collect(),
                    }
                })
                .collect(),
            text_alignment: None,
            concept_units: units_for_concept(&probes, s.concept)
                .into_iter()
                .take(CONCEPT_UNITS)
                .map(|u| u.unit)
                .collect(),
        })
        .collect();
    let text_note = match engine.prompts() {
        Err(why) => Some(why.to_string()),
        Ok(_) => {
            let mut distinct: Vec<usize> = rows.iter().map(|r| r.concept).collect();
            distinct.sort_unstable();
            distinct.dedup();
            steps.total = steps.done + (distinct.len() + rows.len()) * 2 * n;
            let classes = classes(engine)?;
            let size = preprocessor(engine).size as u32;
            let mut before: HashMap<usize, Rc<Vec<f64>>> = HashMap::new();
            for row in &mut rows {
                let c = row.concept;
                let images = concept_probe_images(c, n, size);
                let intact = match before.get(&c) {
                    Some(m) => m.clone(),
                    None => {
                        let stage = format!("text alignment: images of `{}`", CONCEPTS[c]);
                        let sims =
                            similarity_rows(engine, &images, &[], &classes, &stage, steps).await?;
                        let m = Rc::new(concept_margins(&sims, c));
                        before.insert(c, m.clone());
                        m
                    }
                };
                let stage = format!("text alignment: unit {} silenced", row.unit);
                let lesion = Lesion::zero(&spec.layer, [row.unit]);
                let sims =
                    similarity_rows(engine, &images, &[lesion], &classes, &stage, steps).await?;
                row.text_alignment = Some(margin_lost(&intact, &concept_margins(&sims, c)));
            }
            None
        }
    };
    Ok(MultimodalResult {
        layer: spec.layer.clone(),
        units: r.units,
        per_concept: n,
        rows,
        text_note,
    })
}

/// The mean of every unit of `layer` over the probe images (drawn then written; computed
/// once): the values mean ablation holds units at.
async fn unit_means<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    layer: &str,
    n: usize,
    steps: &mut Steps<'_, H>,
) -> Result<Rc<Vec<f32>>, Stop> {
    let key = (layer.to_string(), n);
    if let Some(m) = engine.study.means.borrow().get(&key) {
        return Ok(m.clone());
    }
    let pre = preprocessor(engine);
    let device = engine.clip().device();
    let count = n * CONCEPTS.len();
    let mut sum: Option<Tensor<B, 1>> = None;
    let mut values = 0usize;
    for m in Modality::ALL {
        for start in (0..count).step_by(BATCH) {
            steps
                .next(&format!(
                    "mean of each unit over the {} probe images",
                    m.name()
                ))
                .await?;
            let end = (start + BATCH).min(count);
            let images: Vec<RgbImage> = (start..end)
                .map(|i| set_image(m, n, PROBE_FIRST, i, pre.size as u32))
                .collect();
            let (part, k) = unit_sums(engine.clip(), pre.batch::<B>(&images, &device), layer)?;
            values += k;
            sum = Some(match sum {
                Some(acc) => acc + part,
                None => part,
            });
            steps.done += end - start;
        }
    }
    let sum = sum.ok_or_else(|| Stop::Failed("no probe images".into()))?;
    let means = Rc::new(read_back(sum.div_scalar(values as f32)).await?);
    engine.study.means.borrow_mut().insert(key, means.clone());
    Ok(means)
}

/// Zero-shot accuracy per concept before and after silencing units: what `modalscope lesion`
/// measures, on the evaluation images (mean-ablation values from the probe images).
async fn lesion<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    spec: &LesionSpec,
    steps: &mut Steps<'_, H>,
) -> Result<LesionResult, Stop> {
    engine.check_model(&spec.model)?;
    check_image_layer(engine, &spec.layer)?;
    check_per_concept(spec.per_concept)?;
    need_prompts(engine, "a lesion experiment")?;
    if spec.needed.is_none() {
        engine
            .clip()
            .check_lesion(&Lesion::zero(&spec.layer, spec.units.iter().copied()))?;
    }
    let n = spec.per_concept;
    let count = n * CONCEPTS.len();
    let mean = spec.ablation == Ablation::Mean;
    let means_known = engine
        .study
        .means
        .borrow()
        .contains_key(&(spec.layer.clone(), n));
    let layer_units = engine.clip().layer_units(&spec.layer)?;
    // Choosing the units a concept needs: its probe images intact, then once per unit.
    let choosing = spec.needed.map_or(0, |_| 2 * n * (layer_units + 1));
    steps.total = 2 * 2 * count + if mean && !means_known { 2 * count } else { 0 } + choosing;
    let values: Vec<f32> = if mean {
        unit_means(engine, &spec.layer, n, steps).await?.to_vec()
    } else {
        vec![0.0; layer_units]
    };
    let classes = classes(engine)?;
    let size = preprocessor(engine).size as u32;
    let (units, costs) = match spec.needed {
        None => (spec.units.clone(), Vec::new()),
        Some(needed) => {
            let costs = needed_units(engine, spec, needed, &values, &classes, steps).await?;
            (costs.iter().map(|c| c.unit).collect(), costs)
        }
    };
    let lesion = Lesion::mean(
        &spec.layer,
        units.iter().copied(),
        units.iter().map(|&u| values[u]),
    );
    let labels = set_labels(n);
    let known = engine.study.intact.borrow().get(&n).cloned();
    if known.is_some() {
        steps.total -= 2 * count;
    }
    let mut before: [Vec<usize>; 2] = Default::default();
    let mut after: [Vec<usize>; 2] = Default::default();
    for (s, m) in Modality::ALL.into_iter().enumerate() {
        for start in (0..count).step_by(BATCH) {
            let end = (start + BATCH).min(count);
            let images: Vec<RgbImage> = (start..end)
                .map(|i| set_image(m, n, EVAL_FIRST, i, size))
                .collect();
            if known.is_none() {
                let stage = format!("{} evaluation images, intact", m.name());
                before[s].extend(predict(
                    &similarity_rows(engine, &images, &[], &classes, &stage, steps).await?,
                ));
            }
            let stage = format!("{} evaluation images, lesioned", m.name());
            after[s].extend(predict(
                &similarity_rows(
                    engine,
                    &images,
                    std::slice::from_ref(&lesion),
                    &classes,
                    &stage,
                    steps,
                )
                .await?,
            ));
        }
    }
    let before = match known {
        Some(b) => b,
        None => {
            let b = Rc::new(before);
            engine.study.intact.borrow_mut().insert(n, b.clone());
            b
        }
    };
    let report = lesion_report(
        vec![lesion],
        &[&labels, &labels],
        before.as_ref(),
        &after,
        CONCEPTS.len(),
    );
    Ok(LesionResult {
        layer: spec.layer.clone(),
        units,
        costs,
        ablation: spec.ablation,
        per_concept: n,
        before: report.before,
        after: report.after,
        concepts: report
            .concepts
            .into_iter()
            .map(|c| ConceptAccuracy {
                concept: c.concept,
                before: c.before,
                after: c.after,
            })
            .collect(),
    })
}

/// The `needed.count` units of the lesion's layer that `needed.concept` needs most: each
/// silenced alone (held at `values`) costs the concept's probe images, drawn and written, the
/// most zero-shot margin (what `modalscope lesion --choose needed` picks).
async fn needed_units<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    spec: &LesionSpec,
    needed: NeededUnits,
    values: &[f32],
    classes: &Tensor<B, 2>,
    steps: &mut Steps<'_, H>,
) -> Result<Vec<UnitCostRow>, Stop> {
    let (c, n) = (needed.concept, spec.per_concept);
    if c >= CONCEPTS.len() {
        return Err(Stop::Failed(format!(
            "there are {} concepts; there is no concept {c}",
            CONCEPTS.len()
        )));
    }
    if needed.count == 0 || needed.count > values.len() {
        return Err(Stop::Failed(format!(
            "`{}` has {} units; {} of them cannot be chosen",
            spec.layer,
            values.len(),
            needed.count
        )));
    }
    let size = preprocessor(engine).size as u32;
    let mut lost = vec![Vec::with_capacity(2); values.len()];
    for m in Modality::ALL {
        let images: Vec<RgbImage> = (c * n..(c + 1) * n)
            .map(|i| set_image(m, n, PROBE_FIRST, i, size))
            .collect();
        let stage = format!("what `{}` needs: {} images intact", CONCEPTS[c], m.name());
        let intact = concept_margins(
            &similarity_rows(engine, &images, &[], classes, &stage, steps).await?,
            c,
        );
        for (u, row) in lost.iter_mut().enumerate() {
            let stage = format!("what `{}` needs: unit {u} silenced", CONCEPTS[c]);
            let lesion = Lesion::mean(&spec.layer, [u], [values[u]]);
            let sims = similarity_rows(engine, &images, &[lesion], classes, &stage, steps).await?;
            row.push(margin_lost(&intact, &concept_margins(&sims, c)));
        }
    }
    let costs = lost
        .into_iter()
        .enumerate()
        .map(|(unit, lost)| UnitCost {
            unit,
            concept: c,
            lost,
        })
        .collect();
    Ok(most_needed_first(costs)
        .into_iter()
        .take(needed.count)
        .map(|c| UnitCostRow {
            unit: c.unit,
            lost: c.lost,
        })
        .collect())
}

/// The image an attack writes on, at the model's size.
fn attack_base(image: &AttackImage, pre: &Preprocessor) -> Result<RgbImage, Stop> {
    match image {
        AttackImage::Drawn { concept, index } => {
            if *concept >= CONCEPTS.len() {
                return Err(Stop::Failed(format!(
                    "there are {} concepts; there is no concept {concept}",
                    CONCEPTS.len()
                )));
            }
            Ok(render_drawn(
                *concept,
                pre.size as u32,
                concepts::seed(*concept, EVAL_FIRST, *index),
            ))
        }
        AttackImage::Upload { name, bytes } => {
            if bytes.len() > MAX_UPLOAD {
                return Err(Stop::Failed(format!(
                    "`{name}` is {:.1} MB; the page takes images up to {} MB",
                    bytes.len() as f64 / 1e6,
                    MAX_UPLOAD >> 20
                )));
            }
            let img = Preprocessor::decode(bytes).map_err(|e| {
                let why = match e {
                    ModelError::Image(why) => why,
                    other => other.to_string(),
                };
                Stop::Failed(format!(
                    "`{name}` is not an image the page can read (PNG, JPEG, GIF, WebP or BMP): \
                     {why}"
                ))
            })?;
            Ok(pre.resize_and_crop(&img))
        }
    }
}

/// A word written on an image: zero-shot probabilities of the concepts and the most changed
/// units of a layer, before and after.
async fn attack<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    spec: &AttackSpec,
    steps: &mut Steps<'_, H>,
) -> Result<AttackResult, Stop> {
    engine.check_model(&spec.model)?;
    check_image_layer(engine, &spec.layer)?;
    need_prompts(engine, "the typographic attack")?;
    steps.total = 4;
    steps.next("writing the word").await?;
    let pre = preprocessor(engine);
    let before = attack_base(&spec.image, &pre)?;
    let mut after = before.clone();
    let params = WordParams {
        label: spec.label,
        ..WordParams::new(
            spec.x as f32 / 100.0,
            spec.y as f32 / 100.0,
            spec.size as f32 / 100.0,
            spec.colour,
        )
    };
    write_word(&mut after, &spec.word, params);
    let device = engine.clip().device();
    let batch = pre.batch::<B>(&[before.clone(), after.clone()], &device);
    steps.next("zero-shot labels").await?;
    let classes = classes(engine)?;
    let clip = engine.clip();
    let logits = clip.logits(clip.encode_image(batch.clone()), classes);
    let probs = read_back(softmax(logits, 1)).await?;
    steps.done += 2;
    steps.next(&format!("units of {}", spec.layer)).await?;
    let act = clip.image_activation(batch, &spec.layer)?;
    let units = act.channels();
    let r = read_back(reduce(&act, Reduce::default())).await?;
    steps.done += 2;
    let changed = most_changed_units(&r[..units], &r[units..], units, CHANGED_UNITS)
        .into_iter()
        .map(|u| UnitDelta {
            unit: u.unit,
            before: u.before,
            after: u.after,
        })
        .collect();
    let k = CONCEPTS.len();
    Ok(AttackResult {
        before: rgba(before),
        after: rgba(after),
        probs_before: probs[..k].to_vec(),
        probs_after: probs[k..2 * k].to_vec(),
        layer: spec.layer.clone(),
        changed,
    })
}

/// The units of a layer in families by their concept profiles: what `modalscope families`
/// finds.
async fn families<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    spec: &FamiliesSpec,
    steps: &mut Steps<'_, H>,
) -> Result<FamiliesResult, Stop> {
    engine.check_model(&spec.model)?;
    check_image_layer(engine, &spec.layer)?;
    check_per_concept(spec.per_concept)?;
    let n = spec.per_concept;
    if !has_responses(engine, &spec.layer, n) {
        steps.total = 2 * n * CONCEPTS.len();
    }
    let r = responses(engine, &spec.layer, n, steps).await?;
    steps.next("clustering").await?;
    let labels = set_labels(n);
    let probes: Vec<Probe<'_>> = r
        .sets
        .iter()
        .map(|s| Probe {
            responses: s,
            labels: &labels,
            units: r.units,
        })
        .collect();
    let profiles = concept_profiles(&probes, CONCEPTS.len());
    let f = neuron_families(
        &profiles,
        CONCEPTS.len(),
        spec.k,
        spec.seed,
        FAMILY_RESTARTS,
    )?;
    Ok(FamiliesResult {
        layer: spec.layer.clone(),
        k: spec.k,
        seed: spec.seed,
        per_concept: n,
        families: f
            .families
            .iter()
            .map(|fam| FamilyRow {
                members: fam.members.clone(),
                cohesion: fam.cohesion(),
                concepts: fam.concepts.clone(),
                modality: fam.modality.clone(),
            })
            .collect(),
        flat: f.flat,
    })
}

/// The words the rendered-text probe writes: the model's probe vocabulary (the built-in
/// model's caption words, else its most frequent whole-word tokens), at most [`READ_WORDS`].
fn reading_words<B: AutodiffBackend>(engine: &Engine<B>) -> Result<Vec<String>, Stop> {
    let words: Vec<String> = engine
        .vocabulary
        .iter()
        .take(READ_WORDS)
        .map(|(w, _)| w.clone())
        .collect();
    if words.is_empty() {
        return Err(Stop::Failed(
            "these weights came without a tokenizer, so there is no vocabulary to write".into(),
        ));
    }
    Ok(words)
}

/// The written words that drive a unit most: every vocabulary word lettered
/// [`RENDERINGS`] times through the layer (kept for the layer's other units).
async fn reading<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    spec: &ReadingSpec,
    steps: &mut Steps<'_, H>,
) -> Result<ReadingResult, Stop> {
    engine.check_model(&spec.model)?;
    check_image_layer(engine, &spec.layer)?;
    let words = reading_words(engine)?;
    let key = (spec.layer.clone(), 0);
    let kept = engine.study.readings.borrow().get(&key).cloned();
    let r = match kept {
        Some(r) => r,
        None => {
            let pre = preprocessor(engine);
            let device = engine.clip().device();
            let count = words.len() * RENDERINGS;
            steps.total += count;
            let stage = format!("written words through {}", spec.layer);
            let mut values = Vec::with_capacity(count);
            let mut units = 0;
            for start in (0..count).step_by(BATCH) {
                steps.next(&stage).await?;
                let end = (start + BATCH).min(count);
                let images: Vec<RgbImage> = (start..end)
                    .map(|i| word_image(&words, RENDERINGS, i, pre.size as u32))
                    .collect();
                let act = engine
                    .clip()
                    .image_activation(pre.batch::<B>(&images, &device), &spec.layer)?;
                units = act.channels();
                values.extend(read_back(reduce(&act, Reduce::Mean)).await?);
                steps.done += end - start;
            }
            let r = Rc::new(Responses {
                sets: [values, Vec::new()],
                units,
            });
            engine.study.readings.borrow_mut().insert(key, r.clone());
            r
        }
    };
    if spec.unit >= r.units {
        return Err(Stop::Failed(format!(
            "`{}` has {} units (0 to {}); there is no unit {}",
            spec.layer,
            r.units,
            r.units.saturating_sub(1),
            spec.unit
        )));
    }
    let ranked = rank_words(&words, &r.sets[0], r.units, RENDERINGS, spec.unit, spec.top)?;
    let at = |w: usize, k: usize| r.sets[0][(w * RENDERINGS + k) * r.units + spec.unit];
    Ok(ReadingResult {
        layer: spec.layer.clone(),
        unit: spec.unit,
        vocabulary: words.len(),
        renderings: RENDERINGS,
        words: ranked
            .into_iter()
            .map(|reading| {
                let w = words
                    .iter()
                    .position(|x| *x == reading.word)
                    .expect("ranked words come from the list");
                let best = (0..RENDERINGS)
                    .max_by(|&a, &b| at(w, a).total_cmp(&at(w, b)))
                    .unwrap_or(0);
                let image = word_image(&words, RENDERINGS, w * RENDERINGS + best, EVIDENCE_SIZE);
                ReadWord {
                    word: reading.word,
                    mean: reading.mean,
                    z: reading.z,
                    image: rgba(image),
                }
            })
            .collect(),
    })
}

/// An RGB image as the page paints it.
fn rgba(img: RgbImage) -> Rgba {
    let size = img.width() as usize;
    debug_assert_eq!(img.width(), img.height());
    Rgba::from_rgb_images(&[img.into_raw()], size)
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use modalscope_analysis::concepts::labelled_images;
    use modalscope_analysis::{LabelledImages, lesion_experiment, multimodal_neurons};

    use super::*;
    use crate::engine::testing::{BUILTIN, TestHost, block_on};
    use crate::protocol::ModelSource;

    type B = Autodiff<Flex>;

    fn engine() -> Engine<B> {
        Engine::load(BUILTIN, ModelSource::Builtin, &Default::default())
            .expect("the built-in bundle loads")
    }

    /// The layer the command line's examples use: the image tower's last layer of neurons.
    fn mlp(e: &Engine<B>) -> String {
        crate::views::default_layer(e.info()).expect("an image tower with neurons")
    }

    /// Runs a task; returns the result (or the message of the error) and what was sent.
    fn run(e: &Engine<B>, task: AnalysisTask) -> (Result<AnalysisResult, String>, Vec<Response>) {
        run_with(e, task, TestHost::default())
    }

    fn run_with(
        e: &Engine<B>,
        task: AnalysisTask,
        host: TestHost,
    ) -> (Result<AnalysisResult, String>, Vec<Response>) {
        block_on(analyze(e, 7, &task, &host));
        let sent = host.sent.into_inner();
        let outcome = match sent.last() {
            Some(Response::Analysis { job: 7, result, .. }) => Ok(result.clone()),
            Some(Response::Error {
                job: Some(7),
                message,
            }) => Err(message.clone()),
            other => panic!("the analysis ended with {other:?}"),
        };
        (outcome, sent)
    }

    /// The probe sets as the command line builds them.
    fn probe_sets(e: &Engine<B>, n: usize) -> Vec<LabelledImages<B>> {
        let pre = Preprocessor::for_config(e.clip().config());
        Modality::ALL
            .into_iter()
            .map(|m| labelled_images(m, n, PROBE_FIRST, &pre, &e.clip().device()))
            .collect()
    }

    /// The probe sets and the means of `layer`'s units over them, as `modalscope lesion --mean`
    /// takes them.
    fn probe_means(e: &Engine<B>, layer: &str, n: usize) -> (Vec<LabelledImages<B>>, Vec<f32>) {
        let probe = probe_sets(e, n);
        let images = Tensor::cat(probe.iter().map(|s| s.images.clone()).collect(), 0);
        let means = modalscope_analysis::unit_means(e.clip(), &images, layer, 64).unwrap();
        (probe, means)
    }

    /// The evaluation sets as the command line builds them.
    fn eval_sets(e: &Engine<B>, n: usize) -> Vec<LabelledImages<B>> {
        let pre = Preprocessor::for_config(e.clip().config());
        Modality::ALL
            .into_iter()
            .map(|m| labelled_images(m, n, EVAL_FIRST, &pre, &e.clip().device()))
            .collect()
    }

    #[test]
    fn reading_is_the_command_lines_and_kept_per_layer() {
        let e = engine();
        let layer = mlp(&e);
        let spec = |unit| {
            AnalysisTask::Reading(ReadingSpec {
                model: e.info().name.clone(),
                layer: layer.clone(),
                unit,
                top: 5,
            })
        };
        let (result, sent) = run(&e, spec(7));
        let Ok(AnalysisResult::Reading(r)) = result else {
            panic!("{result:?}")
        };
        // The built-in model's probe writes its caption words, never word fragments.
        let words = modalscope_analysis::caption_words();
        assert_eq!(r.vocabulary, words.len());
        assert_eq!((r.unit, r.renderings, r.words.len()), (7, RENDERINGS, 5));
        let batches = (words.len() * RENDERINGS).div_ceil(BATCH);
        let progress = sent
            .iter()
            .filter(|s| matches!(s, Response::AnalysisProgress { .. }))
            .count();
        assert_eq!(progress, batches);

        // What `modalscope words` computes (the whole set through the layer at once).
        let (responses, units) =
            modalscope_analysis::reading_responses(e.clip(), &layer, &words, RENDERINGS, 64)
                .unwrap();
        let want = rank_words(&words, &responses, units, RENDERINGS, 7, 5).unwrap();
        for (g, w) in r.words.iter().zip(&want) {
            assert_eq!(g.word, w.word);
            assert!((g.mean - w.mean).abs() < 1e-4, "{} vs {}", g.mean, w.mean);
            assert!(g.z > 0.0 && g.image.width == EVIDENCE_SIZE as usize);
        }
        assert!(r.words.windows(2).all(|p| p[0].mean >= p[1].mean));

        // Another unit of the layer reads the kept responses: no pass, no progress.
        let (again, sent) = run(&e, spec(8));
        assert!(matches!(again, Ok(AnalysisResult::Reading(_))), "{again:?}");
        assert!(
            !sent
                .iter()
                .any(|s| matches!(s, Response::AnalysisProgress { .. }))
        );
        let (bad, _) = run(&e, spec(units));
        assert!(bad.unwrap_err().contains("there is no unit"));
    }

    #[test]
    fn multimodal_ranking_is_the_command_lines() {
        let e = engine();
        let layer = mlp(&e);
        let (n, top) = (2, 4);
        let task = AnalysisTask::Multimodal(MultimodalSpec {
            model: e.info().name.clone(),
            layer: layer.clone(),
            per_concept: n,
            top,
        });
        let (result, sent) = run(&e, task.clone());
        let Ok(AnalysisResult::Multimodal(r)) = result else {
            panic!("{result:?}")
        };
        // Progress came batch by batch, never past its total.
        let progress: Vec<(usize, usize)> = sent
            .iter()
            .filter_map(|s| match s {
                Response::AnalysisProgress { done, total, .. } => Some((*done, *total)),
                _ => None,
            })
            .collect();
        assert!(
            progress.len() > 2 * n * CONCEPTS.len() / BATCH,
            "{progress:?}"
        );
        assert!(progress.iter().all(|(d, t)| d <= t));
        assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0));

        // What `modalscope neurons` computes on the same images.
        let sets = probe_sets(&e, n);
        let classes = class_embeddings(e.clip(), e.prompts().unwrap(), &[]).unwrap();
        let want = multimodal_neurons(
            e.clip(),
            &layer,
            &sets,
            classes,
            Reduce::default(),
            top,
            EVIDENCE_IMAGES,
            64,
        )
        .unwrap();
        assert_eq!(
            (r.rows.len(), r.per_concept, r.text_note.clone()),
            (top, n, None)
        );
        for (got, want) in r.rows.iter().zip(&want) {
            assert_eq!((got.unit, got.concept), (want.unit, want.concept));
            assert!((got.combined - want.combined).abs() < 1e-9);
            for (g, w) in got.modalities.iter().zip(&want.modalities) {
                assert!((g.auroc - w.auroc).abs() < 1e-9);
                assert_eq!(g.top_precision, w.top_precision);
                let concepts: Vec<usize> = w.top_images.iter().map(|&i| i / n).collect();
                assert_eq!(
                    g.top.iter().map(|i| i.concept).collect::<Vec<_>>(),
                    concepts
                );
                assert!(
                    g.top
                        .iter()
                        .all(|i| i.image.width == EVIDENCE_SIZE as usize)
                );
            }
            let (g, w) = (got.text_alignment.unwrap(), want.text_alignment.unwrap());
            assert!((g - w).abs() < 1e-4, "text alignment {g} vs {w}");
            assert!(!got.concept_units.is_empty() && got.concept_units.len() <= CONCEPT_UNITS);
        }
        // The responses are kept: a second run does not probe again.
        let (again, sent) = run(&e, task);
        assert_eq!(again, Ok(AnalysisResult::Multimodal(r)));
        assert!(!sent.iter().any(|s| matches!(
            s,
            Response::AnalysisProgress { stage, .. } if stage.contains("probe images")
        )));
    }

    #[test]
    fn lesions_are_the_command_lines() {
        let e = engine();
        let layer = mlp(&e);
        let n = 1;
        let units = vec![3, 17, 40];
        let task = AnalysisTask::Lesion(LesionSpec {
            model: e.info().name.clone(),
            layer: layer.clone(),
            units: units.clone(),
            ablation: Ablation::Mean,
            per_concept: n,
            needed: None,
        });
        let (result, _) = run(&e, task);
        let Ok(AnalysisResult::Lesion(r)) = result else {
            panic!("{result:?}")
        };
        // `modalscope lesion --mean`: means over the probe images, accuracy on the evaluation
        // images.
        let (_, means) = probe_means(&e, &layer, n);
        let lesion = Lesion::mean(
            &layer,
            units.iter().copied(),
            units.iter().map(|&u| means[u]),
        );
        let eval = eval_sets(&e, n);
        let want = lesion_experiment(e.clip(), &eval, e.prompts().unwrap(), &[lesion], 64).unwrap();
        assert_eq!(
            (r.before.clone(), r.after.clone()),
            (want.before, want.after)
        );
        assert_eq!(r.concepts.len(), CONCEPTS.len());
        for (g, w) in r.concepts.iter().zip(&want.concepts) {
            assert_eq!(
                (g.concept, &g.before, &g.after),
                (w.concept, &w.before, &w.after)
            );
        }
        assert!(r.concepts.windows(2).all(|w| w[0].drop() >= w[1].drop()));
        // The next lesion reuses the intact model's predictions.
        let (result, sent) = run(
            &e,
            AnalysisTask::Lesion(LesionSpec {
                model: e.info().name.clone(),
                layer: layer.clone(),
                units: vec![5],
                ablation: Ablation::Zero,
                per_concept: n,
                needed: None,
            }),
        );
        let Ok(AnalysisResult::Lesion(r)) = result else {
            panic!("{result:?}")
        };
        let zero = Lesion::zero(&layer, [5]);
        let want = lesion_experiment(e.clip(), &eval, e.prompts().unwrap(), &[zero], 64).unwrap();
        assert_eq!((r.before, r.after), (want.before, want.after));
        assert!(!sent.iter().any(|s| matches!(
            s,
            Response::AnalysisProgress { stage, .. } if stage.contains("intact")
        )));
    }

    #[test]
    fn units_a_concept_needs_are_the_command_lines() {
        let e = engine();
        let layer = e.clip().pooled_layer();
        let (n, concept, count) = (1, 26, 4);
        let task = AnalysisTask::Lesion(LesionSpec {
            model: e.info().name.clone(),
            layer: layer.clone(),
            units: vec![],
            ablation: Ablation::Mean,
            per_concept: n,
            needed: Some(NeededUnits { concept, count }),
        });
        let (result, sent) = run(&e, task);
        let Ok(AnalysisResult::Lesion(r)) = result else {
            panic!("{result:?}")
        };
        // `modalscope lesion --concept eye --choose needed --mean`: the units chosen on the
        // probe images by what each costs the concept, then silenced.
        let (probe, means) = probe_means(&e, &layer, n);
        let classes = class_embeddings(e.clip(), e.prompts().unwrap(), &[]).unwrap();
        let want = modalscope_analysis::units_needed(
            e.clip(),
            &layer,
            &means,
            &probe,
            classes,
            concept,
            64,
        )
        .unwrap();
        let want: Vec<_> = want.into_iter().take(count).collect();
        assert_eq!(
            r.units,
            want.iter().map(|c| c.unit).collect::<Vec<_>>(),
            "{:?}",
            r.costs
        );
        for (g, w) in r.costs.iter().zip(&want) {
            assert_eq!(g.unit, w.unit);
            for (a, b) in g.lost.iter().zip(&w.lost) {
                assert!((a - b).abs() < 1e-5, "unit {}: {a} vs {b}", g.unit);
            }
        }
        assert!(sent.iter().any(|s| matches!(
            s,
            Response::AnalysisProgress { stage, .. } if stage.contains("what `eye` needs")
        )));
        let lesion = Lesion::mean(
            &layer,
            r.units.iter().copied(),
            r.units.iter().map(|&u| means[u]),
        );
        let eval = eval_sets(&e, n);
        let want = lesion_experiment(e.clip(), &eval, e.prompts().unwrap(), &[lesion], 64).unwrap();
        assert_eq!((r.before, r.after), (want.before, want.after));
        // More units than the layer has are refused with a reason.
        let (bad, _) = run(
            &e,
            AnalysisTask::Lesion(LesionSpec {
                model: e.info().name.clone(),
                layer: layer.clone(),
                units: vec![],
                ablation: Ablation::Zero,
                per_concept: n,
                needed: Some(NeededUnits {
                    concept,
                    count: 10_000,
                }),
            }),
        );
        assert!(bad.unwrap_err().contains("cannot be chosen"));
    }

    #[test]
    fn attacks_give_probabilities_and_changed_units() {
        let e = engine();
        let layer = mlp(&e);
        let labelled = |image: AttackImage, word: &str, label: Option<[u8; 3]>| {
            AnalysisTask::Attack(AttackSpec {
                model: e.info().name.clone(),
                image,
                word: word.into(),
                x: 50,
                y: 50,
                size: 25,
                colour: [0, 0, 0],
                label,
                layer: layer.clone(),
            })
        };
        let spec = |image: AttackImage, word: &str| labelled(image, word, None);
        let drawn = AttackImage::Drawn {
            concept: 24,
            index: 0,
        };
        let (result, _) = run(&e, spec(drawn.clone(), "house"));
        let Ok(AnalysisResult::Attack(r)) = result else {
            panic!("{result:?}")
        };
        for p in [&r.probs_before, &r.probs_after] {
            assert_eq!(p.len(), CONCEPTS.len());
            let sum: f32 = p.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        }
        assert_ne!(r.probs_before, r.probs_after);
        assert_ne!(r.before, r.after, "the word is written");
        let size = e.info().image_size;
        assert_eq!((r.after.width, r.after.height), (size, size));
        assert_eq!(r.changed.len(), CHANGED_UNITS);
        let d = |u: &UnitDelta| (u.after - u.before).abs();
        assert!(r.changed.windows(2).all(|w| d(&w[0]) >= d(&w[1])));
        // On a paper label: the same drawing, the word on a patch of the paper's colour.
        let paper = modalscope_synth::PALE_PAPER;
        let (result, _) = run(&e, labelled(drawn.clone(), "house", Some(paper)));
        let Ok(AnalysisResult::Attack(on_label)) = result else {
            panic!("{result:?}")
        };
        let papery = |image: &Rgba| {
            image
                .bytes
                .chunks(4)
                .filter(|p| (0..3).all(|i| p[i].abs_diff(paper[i]) < 12))
                .count()
        };
        assert_eq!(on_label.before, r.before);
        assert!(
            papery(&on_label.after) > papery(&r.after) + 20,
            "{} paper pixels against {}",
            papery(&on_label.after),
            papery(&r.after)
        );
        // No word: nothing changes.
        let (result, _) = run(&e, spec(drawn, ""));
        let Ok(AnalysisResult::Attack(same)) = result else {
            panic!()
        };
        assert_eq!(
            (same.before.clone(), same.probs_before.clone()),
            (same.after, same.probs_after)
        );
        // A picked image file: decoded and fitted to the model; a file that is no image is
        // named in the message.
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(render_drawn(3, 100, 1))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let upload = |name: &str, bytes: Vec<u8>| AttackImage::Upload {
            name: name.into(),
            bytes,
        };
        let (result, _) = run(&e, spec(upload("star.png", png), "cup"));
        assert!(
            matches!(result, Ok(AnalysisResult::Attack(_))),
            "{result:?}"
        );
        let (result, _) = run(&e, spec(upload("notes.txt", b"hello".to_vec()), "cup"));
        let m = result.unwrap_err();
        assert!(m.contains("`notes.txt` is not an image"), "{m}");
    }

    #[test]
    fn families_are_the_command_lines() {
        let e = engine();
        let layer = mlp(&e);
        let n = 2;
        let task = AnalysisTask::Families(FamiliesSpec {
            model: e.info().name.clone(),
            layer: layer.clone(),
            k: 5,
            seed: 3,
            per_concept: n,
        });
        let (result, _) = run(&e, task);
        let Ok(AnalysisResult::Families(r)) = result else {
            panic!("{result:?}")
        };
        let sets = probe_sets(&e, n);
        let responses =
            modalscope_analysis::layer_responses(e.clip(), &layer, &sets, Reduce::default(), 64)
                .unwrap();
        let labels = set_labels(n);
        let probes: Vec<Probe<'_>> = responses
            .iter()
            .map(|(r, units)| Probe {
                responses: r,
                labels: &labels,
                units: *units,
            })
            .collect();
        let want = neuron_families(
            &concept_profiles(&probes, CONCEPTS.len()),
            CONCEPTS.len(),
            5,
            3,
            FAMILY_RESTARTS,
        )
        .unwrap();
        assert_eq!(r.families.len(), want.families.len());
        for (g, w) in r.families.iter().zip(&want.families) {
            assert_eq!((&g.members, &g.concepts), (&w.members, &w.concepts));
        }
        assert_eq!(r.flat, want.flat);
        let units = e.info().layer(&layer).unwrap().units;
        let members: usize = r.families.iter().map(|f| f.members.len()).sum();
        assert_eq!(members + r.flat.len(), units);
    }

    #[test]
    fn cancellation_and_bad_requests_end_with_one_answer() {
        let e = engine();
        let layer = mlp(&e);
        let name = e.info().name.clone();
        let multimodal = |layer: &str| {
            AnalysisTask::Multimodal(MultimodalSpec {
                model: name.clone(),
                layer: layer.into(),
                per_concept: 3,
                top: 5,
            })
        };
        let host = TestHost {
            cancel_after_yields: Some(2),
            ..TestHost::default()
        };
        block_on(analyze(&e, 4, &multimodal(&layer), &host));
        let sent = host.sent.into_inner();
        assert_eq!(
            sent.last(),
            Some(&Response::Cancelled {
                job: 4,
                step: 2 * BATCH
            })
        );
        let message = |task| run(&e, task).0.unwrap_err();
        let m = message(multimodal("vision.blocks.99.mlp"));
        assert!(m.contains("unknown layer `vision.blocks.99.mlp`"), "{m}");
        let m = message(multimodal("text.blocks.0.mlp"));
        assert!(m.contains("text tower"), "{m}");
        let m = message(AnalysisTask::Families(FamiliesSpec {
            model: "clip-vit-b32".into(),
            layer: layer.clone(),
            k: 2,
            seed: 0,
            per_concept: 1,
        }));
        assert!(m.contains("no model `clip-vit-b32`"), "{m}");
        let m = message(AnalysisTask::Lesion(LesionSpec {
            model: name.clone(),
            layer: layer.clone(),
            units: vec![99_999],
            ablation: Ablation::Zero,
            per_concept: 1,
            needed: None,
        }));
        assert!(m.contains("99999"), "{m}");
        let m = message(AnalysisTask::Families(FamiliesSpec {
            model: name.clone(),
            layer: layer.clone(),
            k: 0,
            seed: 0,
            per_concept: 1,
        }));
        assert!(m.contains("at least 1"), "{m}");
    }

    #[test]
    fn models_without_a_tokenizer_rank_units_but_say_why_there_are_no_labels() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
        let read = |p: &str| std::fs::read(format!("{fixtures}/{p}")).unwrap();
        let config = String::from_utf8(read("openai_rn/open_clip_config.json")).unwrap();
        let extras = crate::engine::Extras {
            config_json: Some(format!("{{\"model_cfg\": {config}}}")),
            tokenizer: None,
            name: Some("rn".into()),
        };
        let e = Engine::<B>::load_with(
            &read("openai_rn/model.safetensors"),
            &extras,
            ModelSource::Builtin,
            &Default::default(),
        )
        .unwrap();
        let layer = crate::views::default_layer(e.info()).unwrap();
        let (result, _) = run(
            &e,
            AnalysisTask::Multimodal(MultimodalSpec {
                model: "rn".into(),
                layer: layer.clone(),
                per_concept: 1,
                top: 3,
            }),
        );
        let Ok(AnalysisResult::Multimodal(r)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(r.rows.len(), 3);
        assert!(r.rows.iter().all(|row| row.text_alignment.is_none()));
        assert!(r.text_note.unwrap().contains("without a tokenizer"));
        let (result, _) = run(
            &e,
            AnalysisTask::Lesion(LesionSpec {
                model: "rn".into(),
                layer,
                units: vec![0],
                ablation: Ablation::Zero,
                per_concept: 1,
                needed: None,
            }),
        );
        let m = result.unwrap_err();
        assert!(
            m.contains("needs zero-shot labels") && m.contains("tokenizer"),
            "{m}"
        );
    }
}
