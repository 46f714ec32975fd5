//! The messages between the page and the model worker.
//!
//! Both binaries share these serde types. On the wire every message is one MessagePack buffer
//! (a `Uint8Array` whose memory is transferred, not copied), so image bytes stay bytes.
//! Every request carries a job id; the worker answers with the same id, and the page ignores
//! answers to jobs it no longer waits for.

use serde::{Deserialize, Serialize};

mod survey;
pub use survey::*;

/// Identifies one request and the responses it causes.
pub type JobId = u32;

/// What the page asks of the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Load the model built into the worker (choosing a backend first if none is chosen);
    /// answered by `Ready` (or `Error`), then `ModelInfo`.
    LoadBuiltin {
        /// The job.
        job: JobId,
    },
    /// Download a model (a modalscope bundle or a CLIP safetensors file) from a URL, or take it
    /// from the Cache Storage, and load it; answered by `Download` reports, then `Ready` and
    /// `ModelInfo`, or `Cancelled` / `Error`. The model loaded before is dropped first.
    LoadUrl {
        /// The job.
        job: JobId,
        /// Where the weights are.
        url: String,
    },
    /// Describe the loaded model; answered by `ModelInfo`.
    ModelInfo {
        /// The job.
        job: JobId,
    },
    /// Render a feature visualization; answered by `Progress` reports, then `Done`,
    /// `Cancelled` or `Error`. A new render cancels the one running.
    Render {
        /// The job.
        job: JobId,
        /// What to render.
        spec: RenderSpec,
    },
    /// Render a small, quick feature visualization of a unit for a layer's grid; answered by
    /// `Thumbnail`, `Cancelled` or `Error`. Thumbnails wait while a `Render` runs, and the
    /// worker renders those of one layer several at a time.
    Thumbnail {
        /// The job.
        job: JobId,
        /// Model name.
        model: String,
        /// Layer name.
        layer: String,
        /// Unit index.
        unit: usize,
    },
    /// Run one of the neuron analyses on the concept study (the 30 concepts drawn and
    /// written); answered by `AnalysisProgress` reports, then `Analysis`, `Cancelled` or
    /// `Error`. A new analysis cancels the one running.
    Analyze {
        /// The job.
        job: JobId,
        /// What to analyse.
        task: AnalysisTask,
    },
    /// Image sets, dataset examples, activation atlases and their export ([`SurveyTask`]);
    /// answered by `Survey` updates ending in `Done`, or by `Cancelled` / `Error`.
    Survey {
        /// The job.
        job: JobId,
        /// What to do.
        task: SurveyTask,
    },
    /// Stop a render, an analysis, a thumbnail or a download; answered by `Cancelled` for
    /// that job (a thumbnail that was only queued is dropped without an answer).
    Cancel {
        /// The render's job.
        job: JobId,
    },
}

/// What the optimization maximizes for one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitObjective {
    /// The unit at the centre position of the layer (Lucid's `neuron`).
    #[default]
    Neuron,
    /// The unit averaged over all positions (Lucid's `channel`).
    Channel,
}

/// A feature visualization of one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderSpec {
    /// Model name (the worker refuses a model it does not hold).
    pub model: String,
    /// Layer name, e.g. `vision.blocks.3.mlp`.
    pub layer: String,
    /// Unit (channel) index.
    pub unit: usize,
    /// Neuron (centre) or channel (mean) objective.
    pub objective: UnitObjective,
    /// Seed of the initial image and the random transforms.
    pub seed: u64,
    /// Optimization steps.
    pub steps: usize,
    /// Side of the image in pixels.
    pub size: usize,
    /// Images optimized together: facets of the unit, kept apart by a diversity term when
    /// there are several.
    pub batch: usize,
    /// A `Progress` report (with a preview) every this many steps; 0 means only at the end.
    pub progress_every: usize,
}

/// One of the neuron analyses, on the probe images of the concept study: the 30 concepts of
/// the procedural generator drawn and written (`modalscope_analysis::concepts`, the images the
/// command line's `neurons | lesion | attack | families` use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalysisTask {
    /// Rank a layer's units by multimodality (`modalscope neurons`).
    Multimodal(MultimodalSpec),
    /// Silence units and compare zero-shot accuracy per concept (`modalscope lesion`).
    Lesion(LesionSpec),
    /// Write a word on an image and compare the zero-shot labels and the units.
    Attack(AttackSpec),
    /// Cluster a layer's units by their concept profiles (`modalscope families`).
    Families(FamiliesSpec),
    /// The vocabulary's words written in images: which ones drive a unit (`modalscope words`).
    Reading(ReadingSpec),
}

impl AnalysisTask {
    /// The model the task names.
    pub fn model(&self) -> &str {
        match self {
            Self::Multimodal(s) => &s.model,
            Self::Lesion(s) => &s.model,
            Self::Attack(s) => &s.model,
            Self::Families(s) => &s.model,
            Self::Reading(s) => &s.model,
        }
    }
}

/// The most multimodal units of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultimodalSpec {
    /// Model name.
    pub model: String,
    /// Image-tower layer.
    pub layer: String,
    /// Probe images per concept and modality.
    pub per_concept: usize,
    /// Units listed (with evidence and text alignment).
    pub top: usize,
}

/// How lesioned units are silenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ablation {
    /// The units read 0.
    #[default]
    Zero,
    /// Each unit reads its mean over the probe images.
    Mean,
}

impl Ablation {
    /// `zero` or `mean`, as links write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zero => "zero",
            Self::Mean => "mean",
        }
    }
}

/// A lesion experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LesionSpec {
    /// Model name.
    pub model: String,
    /// Image-tower layer whose units are silenced.
    pub layer: String,
    /// The units silenced.
    pub units: Vec<usize>,
    /// Zero or mean ablation.
    pub ablation: Ablation,
    /// Evaluation images per concept and modality (and probe images for the means).
    pub per_concept: usize,
    /// Instead of `units`: silence the units a concept needs, chosen on the probe images.
    #[serde(default)]
    pub needed: Option<NeededUnits>,
}

/// The units a concept needs: each, silenced alone as the lesion silences it, costs the
/// concept's drawings and written names the most zero-shot margin (`modalscope lesion
/// --choose needed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeededUnits {
    /// The concept.
    pub concept: usize,
    /// How many of its units.
    pub count: usize,
}

/// What silencing one unit alone costs a concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitCostRow {
    /// The unit.
    pub unit: usize,
    /// Zero-shot margin (cosine) the concept's probe images lose, drawn then written.
    pub lost: Vec<f64>,
}

/// The image a typographic attack writes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum AttackImage {
    /// A generated drawing of a concept: image `index` of its evaluation set.
    Drawn {
        /// The concept drawn.
        concept: usize,
        /// Which drawing.
        index: usize,
    },
    /// An image file the user picked.
    Upload {
        /// The file's name.
        name: String,
        /// Its bytes (PNG, JPEG, GIF, WebP or BMP).
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
}

/// A typographic attack on one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackSpec {
    /// Model name.
    pub model: String,
    /// The image.
    pub image: AttackImage,
    /// The word written on it (empty: nothing written).
    pub word: String,
    /// Horizontal centre of the word, in percent of the width.
    pub x: u32,
    /// Vertical centre of the word, in percent of the height.
    pub y: u32,
    /// Height of capital letters, in percent of the image height.
    pub size: u32,
    /// Colour of the word.
    pub colour: [u8; 3],
    /// Colour of a paper label under the word (`None`: ink straight on the image).
    pub label: Option<[u8; 3]>,
    /// Image-tower layer whose most changed units are listed.
    pub layer: String,
}

/// Neuron families of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamiliesSpec {
    /// Model name.
    pub model: String,
    /// Image-tower layer.
    pub layer: String,
    /// Number of families.
    pub k: usize,
    /// Seed of the clustering's initialisation.
    pub seed: u64,
    /// Probe images per concept and modality.
    pub per_concept: usize,
}

/// The rendered-text probe of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingSpec {
    /// Model name.
    pub model: String,
    /// Image-tower layer.
    pub layer: String,
    /// The unit.
    pub unit: usize,
    /// Words listed.
    pub top: usize,
}

/// What an analysis found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalysisResult {
    /// The most multimodal units.
    Multimodal(MultimodalResult),
    /// Accuracy per concept before and after a lesion.
    Lesion(LesionResult),
    /// Labels and units before and after writing a word.
    Attack(AttackResult),
    /// Families of units.
    Families(FamiliesResult),
    /// The written words that drive a unit most.
    Reading(ReadingResult),
}

/// The written words that drive a unit most, strongest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingResult {
    /// The layer.
    pub layer: String,
    /// The unit.
    pub unit: usize,
    /// Words the probe wrote (each in several renderings).
    pub vocabulary: usize,
    /// Renderings per word.
    pub renderings: usize,
    /// The words, strongest first.
    pub words: Vec<ReadWord>,
}

/// One word of the rendered-text probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadWord {
    /// The word.
    pub word: String,
    /// The unit's mean response over the word's renderings.
    pub mean: f32,
    /// Standard deviations above the vocabulary's mean.
    pub z: f32,
    /// The rendering that drove the unit most, small.
    pub image: Rgba,
}

/// The most multimodal units of a layer, the best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultimodalResult {
    /// The layer.
    pub layer: String,
    /// Units in the layer (all were ranked).
    pub units: usize,
    /// Probe images per concept and modality.
    pub per_concept: usize,
    /// The best units.
    pub rows: Vec<MultimodalRow>,
    /// Why there is no text alignment, when there is none.
    pub text_note: Option<String>,
}

/// One unit, its best concept and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultimodalRow {
    /// The unit.
    pub unit: usize,
    /// Its best concept (by combined score).
    pub concept: usize,
    /// The weakest modality's AUROC.
    pub combined: f64,
    /// Drawn, then written.
    pub modalities: Vec<ModalityEvidence>,
    /// Zero-shot margin (cosine) towards the concept's name that images of it lose when the
    /// unit is zero-ablated; `None` without a tokenizer.
    pub text_alignment: Option<f64>,
    /// The units most multimodal for `concept`, best first (this one among them or not).
    pub concept_units: Vec<usize>,
}

/// What one modality's probe images say about a unit and its concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalityEvidence {
    /// AUROC of the unit for the concept against the other concepts.
    pub auroc: f64,
    /// Mean response to images of the concept.
    pub mean_concept: f32,
    /// Mean response to images of the other concepts.
    pub mean_others: f32,
    /// Share of the strongest images that show the concept.
    pub top_precision: f64,
    /// The images that drive the unit most, strongest first.
    pub top: Vec<EvidenceImage>,
}

/// A probe image, small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceImage {
    /// The concept it shows.
    pub concept: usize,
    /// The unit's response to it.
    pub response: f32,
    /// The pixels.
    pub image: Rgba,
}

/// Zero-shot accuracy per concept before and after a lesion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LesionResult {
    /// The layer.
    pub layer: String,
    /// The units silenced.
    pub units: Vec<usize>,
    /// How.
    pub ablation: Ablation,
    /// Evaluation images per concept and modality.
    pub per_concept: usize,
    /// Overall accuracy, drawn then written, before the lesion.
    pub before: Vec<f64>,
    /// The same after.
    pub after: Vec<f64>,
    /// Every concept, the largest drop first.
    pub concepts: Vec<ConceptAccuracy>,
    /// For units a concept needs (`LesionSpec::needed`): what each costs it, in `units` order.
    #[serde(default)]
    pub costs: Vec<UnitCostRow>,
}

/// One concept's zero-shot accuracy before and after a lesion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptAccuracy {
    /// The concept.
    pub concept: usize,
    /// Accuracy on its drawn, then written images before the lesion.
    pub before: Vec<f64>,
    /// The same after.
    pub after: Vec<f64>,
}

impl ConceptAccuracy {
    /// Accuracy lost, mean over the modalities (negative when the lesion helps).
    pub fn drop(&self) -> f64 {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        mean(&self.before) - mean(&self.after)
    }
}

/// A typographic attack on one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    /// The image without the word (the model's input size).
    pub before: Rgba,
    /// The image with the word.
    pub after: Rgba,
    /// Zero-shot probability of every concept for `before` (sums to 1).
    pub probs_before: Vec<f32>,
    /// The same for `after`.
    pub probs_after: Vec<f32>,
    /// The layer of `changed`.
    pub layer: String,
    /// The units whose response changes most, largest change first.
    pub changed: Vec<UnitDelta>,
}

/// A unit's response before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitDelta {
    /// The unit.
    pub unit: usize,
    /// Response (mean over positions) before.
    pub before: f32,
    /// The same after.
    pub after: f32,
}

/// A layer's units in families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamiliesResult {
    /// The layer.
    pub layer: String,
    /// Families asked for.
    pub k: usize,
    /// Seed of the clustering.
    pub seed: u64,
    /// Probe images per concept and modality.
    pub per_concept: usize,
    /// The families, largest first.
    pub families: Vec<FamilyRow>,
    /// Units that respond the same to every concept (in no family).
    pub flat: Vec<usize>,
}

/// One family of units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRow {
    /// Members, the most typical first.
    pub members: Vec<usize>,
    /// Mean cosine similarity of the members to the family's centre.
    pub cohesion: f32,
    /// The concepts that drive the family most, strongest first.
    pub concepts: Vec<usize>,
    /// Preference per modality (drawn, written): +1 one modality only, 0 none.
    pub modality: Vec<f32>,
}

/// What the worker tells the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The worker's code runs and listens; requests sent before this may be lost.
    Alive,
    /// The model is loaded on a backend.
    Ready {
        /// The `LoadBuiltin` job.
        job: JobId,
        /// Which backend runs and why.
        backend: BackendInfo,
    },
    /// The loaded model.
    ModelInfo {
        /// The `ModelInfo` or `LoadBuiltin` job.
        job: JobId,
        /// The description.
        info: ModelInfo,
    },
    /// A render advanced.
    Progress {
        /// The render's job.
        job: JobId,
        /// Steps done.
        step: usize,
        /// Steps in all.
        steps: usize,
        /// Objective per image at the last step done.
        value: f32,
        /// The current images.
        preview: Rgba,
    },
    /// A render finished.
    Done {
        /// The render's job.
        job: JobId,
        /// Steps done.
        steps: usize,
        /// Objective per image at the last step.
        value: f32,
        /// The images.
        image: Rgba,
        /// Wall time of the render in milliseconds.
        elapsed_ms: f64,
    },
    /// The words whose text embeddings lie closest to a finished render's image embedding
    /// (the text-tower probe), sent after `Done`.
    Words {
        /// The render's job.
        job: JobId,
        /// The best words, best first (empty when the model has no vocabulary).
        words: Vec<WordScore>,
        /// How many words were compared; 0 when the model came without a tokenizer.
        vocabulary: usize,
    },
    /// A thumbnail is ready.
    Thumbnail {
        /// The thumbnail's job.
        job: JobId,
        /// The image.
        image: Rgba,
    },
    /// An analysis advanced.
    AnalysisProgress {
        /// The analysis' job.
        job: JobId,
        /// What it does now, in words.
        stage: String,
        /// Work done (images through the model).
        done: usize,
        /// Work in all (may grow as the analysis learns what it needs).
        total: usize,
    },
    /// An analysis finished.
    Analysis {
        /// The analysis' job.
        job: JobId,
        /// What it found.
        result: AnalysisResult,
        /// Wall time in milliseconds.
        elapsed_ms: f64,
    },
    /// A survey job advanced or finished.
    Survey {
        /// The job.
        job: JobId,
        /// What happened.
        update: SurveyUpdate,
    },
    /// Bytes of a model download arrived.
    Download {
        /// The `LoadUrl` job.
        job: JobId,
        /// Bytes received so far.
        received: u64,
        /// Bytes in all, when the server said.
        total: Option<u64>,
        /// Whether the bytes come from the Cache Storage instead of the network.
        cached: bool,
    },
    /// A render stopped because it was cancelled (explicitly or by a newer render).
    Cancelled {
        /// The render's job.
        job: JobId,
        /// Steps done when it stopped.
        step: usize,
    },
    /// Something went wrong; `message` is meant for people.
    Error {
        /// The job that failed, when the failure belongs to one.
        job: Option<JobId>,
        /// What went wrong, in words.
        message: String,
    },
}

impl Response {
    /// The job a response answers, if any.
    pub fn job(&self) -> Option<JobId> {
        match self {
            Self::Alive => None,
            Self::Ready { job, .. }
            | Self::ModelInfo { job, .. }
            | Self::Words { job, .. }
            | Self::Thumbnail { job, .. }
            | Self::Download { job, .. }
            | Self::Survey { job, .. }
            | Self::AnalysisProgress { job, .. }
            | Self::Analysis { job, .. }
            | Self::Progress { job, .. }
            | Self::Done { job, .. }
            | Self::Cancelled { job, .. } => Some(*job),
            Self::Error { job, .. } => *job,
        }
    }
}

/// Which kind of backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// burn's wgpu backend on the browser's WebGPU.
    WebGpu,
    /// burn's Flex CPU backend compiled to WebAssembly.
    Cpu,
}

/// The backend the worker chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// WebGPU or CPU.
    pub kind: BackendKind,
    /// A name for people, e.g. `WebGPU (google swiftshader)`.
    pub name: String,
    /// Why the CPU runs instead of WebGPU (no `navigator.gpu`, no adapter, an init error).
    pub fallback_reason: Option<String>,
    /// How the backend passed its start-up check (e.g. agreement with the CPU on a test image).
    pub check: Option<String>,
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// The model built into the page.
    Builtin,
    /// Weights downloaded from this URL.
    Url(String),
}

impl ModelSource {
    /// The URL a link carries (`src=`), `None` for the built-in model.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Builtin => None,
            Self::Url(u) => Some(u),
        }
    }
}

/// A word and how close its text embedding is to an image's embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordScore {
    /// The word.
    pub word: String,
    /// Cosine similarity of the two embeddings.
    pub score: f32,
}

/// A loaded model, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Where it came from.
    pub source: ModelSource,
    /// The model's name, the first part of every link.
    pub name: String,
    /// Size of the weights file in bytes.
    pub bytes: u64,
    /// Words the text-tower probe compares (0 without a tokenizer).
    pub vocabulary: usize,
    /// One line about the architecture.
    pub architecture: String,
    /// The image tower's input side in pixels.
    pub image_size: usize,
    /// The image tower's layers, input first.
    pub layers: Vec<LayerInfo>,
}

impl ModelInfo {
    /// The image-tower layer of this name.
    pub fn layer(&self, name: &str) -> Option<&LayerInfo> {
        self.layers.iter().find(|l| l.name == name)
    }
}

/// One image-tower layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// The stable layer name, e.g. `vision.blocks.3.mlp`.
    pub name: String,
    /// Units (channels) per position.
    pub units: usize,
    /// Spatial grid `[rows, cols]`; `[1, 1]` for pooled vectors.
    pub grid: [usize; 2],
}

/// Images as RGBA bytes, laid side by side in one row (`width` = images × side).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rgba {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 4` bytes, row-major.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Rgba {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Rgba({}x{}, {} bytes)",
            self.width,
            self.height,
            self.bytes.len()
        )
    }
}

impl Rgba {
    /// Lays out interleaved RGB images of side `size` (as `modalscope_vis::to_rgb8` gives them)
    /// side by side as one RGBA image.
    pub fn from_rgb_images(images: &[Vec<u8>], size: usize) -> Self {
        let n = images.len().max(1);
        let width = size * n;
        let mut bytes = vec![255u8; width * size * 4];
        for (i, img) in images.iter().enumerate() {
            for y in 0..size {
                for x in 0..size {
                    let src = (y * size + x) * 3;
                    let dst = (y * width + i * size + x) * 4;
                    if let Some(px) = img.get(src..src + 3) {
                        bytes[dst..dst + 3].copy_from_slice(px);
                    }
                }
            }
        }
        Self {
            width,
            height: size,
            bytes,
        }
    }
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message between the page and the worker is garbled: {0}")]
pub struct DecodeError(pub String);

/// Encodes a message for `postMessage`.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(message).expect("protocol messages always serialize")
}

/// Decodes a message from `postMessage`.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DecodeError> {
    rmp_serde::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RenderSpec {
        RenderSpec {
            model: "modalscope-synth".into(),
            layer: "vision.blocks.3.mlp".into(),
            unit: 7,
            objective: UnitObjective::Neuron,
            seed: 1,
            steps: 32,
            size: 64,
            batch: 1,
            progress_every: 4,
        }
    }

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::LoadBuiltin { job: 1 },
            Request::ModelInfo { job: 2 },
            Request::LoadUrl {
                job: 4,
                url: "https://example.org/m.msb".into(),
            },
            Request::Thumbnail {
                job: 5,
                model: "m".into(),
                layer: "vision.blocks.0.mlp".into(),
                unit: 3,
            },
            Request::Render {
                job: 3,
                spec: spec(),
            },
            Request::Cancel { job: 3 },
        ] {
            assert_eq!(decode::<Request>(&encode(&req)).unwrap(), req);
        }
    }

    fn tasks() -> Vec<AnalysisTask> {
        vec![
            AnalysisTask::Multimodal(MultimodalSpec {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                per_concept: 10,
                top: 20,
            }),
            AnalysisTask::Lesion(LesionSpec {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                units: vec![1, 2, 3],
                ablation: Ablation::Mean,
                per_concept: 4,
                needed: None,
            }),
            AnalysisTask::Lesion(LesionSpec {
                model: "m".into(),
                layer: "vision.post_ln".into(),
                units: vec![],
                ablation: Ablation::Mean,
                per_concept: 8,
                needed: Some(NeededUnits {
                    concept: 26,
                    count: 10,
                }),
            }),
            AnalysisTask::Attack(AttackSpec {
                model: "m".into(),
                image: AttackImage::Drawn {
                    concept: 24,
                    index: 3,
                },
                word: "house".into(),
                x: 50,
                y: 40,
                size: 22,
                colour: [200, 0, 0],
                label: Some([244, 240, 228]),
                layer: "vision.blocks.3.mlp".into(),
            }),
            AnalysisTask::Attack(AttackSpec {
                model: "m".into(),
                image: AttackImage::Upload {
                    name: "cat.png".into(),
                    bytes: vec![0x89, b'P', b'N', b'G', 0, 255],
                },
                word: String::new(),
                x: 0,
                y: 100,
                size: 5,
                colour: [0, 0, 0],
                label: None,
                layer: "vision.embeds".into(),
            }),
            AnalysisTask::Families(FamiliesSpec {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                k: 8,
                seed: 1,
                per_concept: 10,
            }),
        ]
    }

    #[test]
    fn analysis_requests_round_trip() {
        for (job, task) in tasks().into_iter().enumerate() {
            assert_eq!(task.model(), "m");
            let req = Request::Analyze {
                job: job as JobId,
                task,
            };
            assert_eq!(decode::<Request>(&encode(&req)).unwrap(), req);
        }
        // Uploaded bytes stay bytes on the wire.
        let big = Request::Analyze {
            job: 1,
            task: AnalysisTask::Attack(AttackSpec {
                model: "m".into(),
                image: AttackImage::Upload {
                    name: "x.jpg".into(),
                    bytes: vec![7; 100_000],
                },
                word: "w".into(),
                x: 1,
                y: 2,
                size: 10,
                colour: [1, 2, 3],
                label: None,
                layer: "l".into(),
            }),
        };
        assert!(encode(&big).len() < 100_000 + 256);
    }

    #[test]
    fn analysis_responses_round_trip() {
        let image = Rgba {
            width: 1,
            height: 1,
            bytes: vec![1, 2, 3, 255],
        };
        let results = vec![
            AnalysisResult::Multimodal(MultimodalResult {
                layer: "vision.blocks.3.mlp".into(),
                units: 384,
                per_concept: 10,
                rows: vec![MultimodalRow {
                    unit: 332,
                    concept: 29,
                    combined: 0.825,
                    modalities: vec![
                        ModalityEvidence {
                            auroc: 0.971,
                            mean_concept: 1.5,
                            mean_others: 0.1,
                            top_precision: 1.0,
                            top: vec![EvidenceImage {
                                concept: 29,
                                response: 2.5,
                                image: image.clone(),
                            }],
                        };
                        2
                    ],
                    text_alignment: Some(0.0123),
                    concept_units: vec![332, 7],
                }],
                text_note: None,
            }),
            AnalysisResult::Lesion(LesionResult {
                layer: "l".into(),
                units: vec![1],
                ablation: Ablation::Zero,
                per_concept: 10,
                before: vec![0.4, 0.2],
                after: vec![0.3, 0.2],
                concepts: vec![ConceptAccuracy {
                    concept: 3,
                    before: vec![1.0, 0.5],
                    after: vec![0.0, 0.5],
                }],
                costs: vec![UnitCostRow {
                    unit: 1,
                    lost: vec![0.02, 0.01],
                }],
            }),
            AnalysisResult::Attack(AttackResult {
                before: image.clone(),
                after: image,
                probs_before: vec![0.25; 4],
                probs_after: vec![0.5, 0.5, 0.0, 0.0],
                layer: "l".into(),
                changed: vec![UnitDelta {
                    unit: 5,
                    before: 0.1,
                    after: 0.9,
                }],
            }),
            AnalysisResult::Families(FamiliesResult {
                layer: "l".into(),
                k: 2,
                seed: 0,
                per_concept: 10,
                families: vec![FamilyRow {
                    members: vec![3, 1],
                    cohesion: 0.7,
                    concepts: vec![4, 5],
                    modality: vec![0.8, -0.8],
                }],
                flat: vec![9],
            }),
        ];
        for (i, result) in results.into_iter().enumerate() {
            let job = i as JobId;
            for resp in [
                Response::AnalysisProgress {
                    job,
                    stage: "drawn probe images".into(),
                    done: 16,
                    total: 600,
                },
                Response::Analysis {
                    job,
                    result: result.clone(),
                    elapsed_ms: 1234.5,
                },
            ] {
                assert_eq!(resp.job(), Some(job));
                assert_eq!(decode::<Response>(&encode(&resp)).unwrap(), resp);
            }
        }
        let c = ConceptAccuracy {
            concept: 0,
            before: vec![1.0, 0.5],
            after: vec![0.5, 0.0],
        };
        assert_eq!(c.drop(), 0.5);
        assert_eq!(Ablation::Mean.name(), "mean");
    }

    #[test]
    fn responses_round_trip() {
        let image = Rgba {
            width: 2,
            height: 1,
            bytes: vec![1, 2, 3, 255, 4, 5, 6, 255],
        };
        for resp in [
            Response::Alive,
            Response::Ready {
                job: 1,
                backend: BackendInfo {
                    kind: BackendKind::Cpu,
                    name: "CPU".into(),
                    fallback_reason: Some("no adapter".into()),
                    check: None,
                },
            },
            Response::ModelInfo {
                job: 1,
                info: ModelInfo {
                    source: ModelSource::Url("https://example.org/m.msb".into()),
                    name: "m".into(),
                    bytes: 1234,
                    vocabulary: 700,
                    architecture: "ViT".into(),
                    image_size: 64,
                    layers: vec![LayerInfo {
                        name: "vision.blocks.0.mlp".into(),
                        units: 512,
                        grid: [8, 8],
                    }],
                },
            },
            Response::Progress {
                job: 3,
                step: 4,
                steps: 32,
                value: 1.5,
                preview: image.clone(),
            },
            Response::Done {
                job: 3,
                steps: 32,
                value: 2.5,
                image: image.clone(),
                elapsed_ms: 12.0,
            },
            Response::Thumbnail { job: 6, image },
            Response::Cancelled { job: 3, step: 5 },
            Response::Words {
                job: 3,
                words: vec![WordScore {
                    word: "red".into(),
                    score: 0.25,
                }],
                vocabulary: 700,
            },
            Response::Download {
                job: 4,
                received: 10,
                total: Some(20),
                cached: false,
            },
            Response::Error {
                job: None,
                message: "boom".into(),
            },
        ] {
            assert_eq!(decode::<Response>(&encode(&resp)).unwrap(), resp);
        }
    }

    #[test]
    fn image_bytes_are_not_blown_up() {
        let side = 64;
        let resp = Response::Progress {
            job: 1,
            step: 1,
            steps: 2,
            value: 0.0,
            preview: Rgba {
                width: side,
                height: side,
                bytes: vec![200; side * side * 4],
            },
        };
        let wire = encode(&resp).len();
        assert!(wire < side * side * 4 + 128, "{wire} bytes on the wire");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = decode::<Request>(&[0xc1, 0x00, 0x13]).unwrap_err();
        assert!(err.to_string().contains("garbled"), "{err}");
    }

    #[test]
    fn rgb_images_are_laid_side_by_side() {
        let a = vec![10u8; 2 * 2 * 3];
        let b = vec![20u8; 2 * 2 * 3];
        let img = Rgba::from_rgb_images(&[a, b], 2);
        assert_eq!((img.width, img.height), (4, 2));
        assert_eq!(&img.bytes[0..4], &[10, 10, 10, 255]);
        assert_eq!(&img.bytes[8..12], &[20, 20, 20, 255]);
    }
}
