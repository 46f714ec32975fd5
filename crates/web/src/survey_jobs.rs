//! Image sets, dataset examples and activation atlases, as the worker runs them
//! (`modalscope-survey` underneath): loading a set (files, zips, a URL list, the generated
//! set), the streaming pass a batch at a time, a unit's examples with where it fired, an
//! atlas built in stages with its icons rendered batch by batch, and export / import as a
//! zip of JSON + PNG files.
//!
//! Forward passes read results back asynchronously (WebGPU needs it) and the job yields
//! between batches and optimization steps, so a `Cancel` is honoured and progress reaches the
//! page. What a job computes stays in a [`SurveyStore`] for the next request (per layer:
//! dataset examples and atlases).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::rc::Rc;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use modalscope_atlas::{Atlas, AtlasParams, Metric, UmapParams, UmapStepper};
use modalscope_model::{Capture, Preprocessor, normalize};
use modalscope_survey::export::{ExamplesDoc, Manifest};
use modalscope_survey::{
    AtlasConfig, AtlasDirections, HostActivation, Icon, IconConfig, ImageSet, Pass, PassConfig,
    Sampling, Skipped, Survey, SurveyError, atlas_from_layout, cell_objective, check_samples,
    example_images, examples_files, export_atlas, icon_measures, import, manifest_file, map_bytes,
    summary_line, zip_entries, zip_files,
};
use modalscope_vis::{RenderConfig, Session, to_rgb8};

use crate::analyses::Stop;
use crate::engine::{Engine, Host, read_back};
use crate::protocol::{
    AtlasCell, AtlasLevel, AtlasSpec, AtlasSummary, AtlasView, CellIcon, ExampleImage,
    ExamplesSummary, ImageSource, ImportSource, ImportSummary, JobId, ModelSource, NamedFile,
    Response, Rgba, SetSummary, SurveyResult, SurveyTask, SurveyUpdate, TopUnit, UnitExamples,
    WordScore,
};

/// Images per forward pass (the job yields between batches).
pub const BATCH: usize = 16;
/// Examples per unit an atlas' pass keeps for its layer.
pub const ATLAS_K: usize = 8;
/// Icons optimized together.
pub const ICON_BATCH: usize = 8;
/// The largest icon side in pixels (smaller models render at their input size).
pub const MAX_ICON_SIZE: usize = 96;
/// Strongest units recorded per atlas cell.
pub const TOP_UNITS: usize = 8;
/// Vocabulary words given per atlas cell.
pub const LABELS: usize = 3;
/// The most examples per unit a pass keeps.
pub const MAX_K: usize = 64;
/// The most images of the generated set.
pub const MAX_GENERATED: usize = 20_000;
/// The most URLs a list may name.
pub const MAX_URLS: usize = 5_000;
/// At most one progress report per this many milliseconds (and one at each stage's end).
const REPORT_EVERY_MS: f64 = 80.0;
/// The layout runs in slices of about this many milliseconds, the event loop gets a turn
/// between them (so a cancel is honoured).
pub const LAYOUT_SLICE_MS: f64 = 30.0;
/// At most this many layout steps between two turns of the event loop.
pub const LAYOUT_SLICE_STEPS: usize = 64;

/// How the worker fetches a URL (an image list, its images, an export's files).
pub trait Fetcher {
    /// The bytes at `url`, or why there are none, in words.
    fn fetch(&self, url: &str) -> impl Future<Output = Result<Vec<u8>, String>>;
}

/// The loaded image set.
struct LoadedSet {
    set: ImageSet,
    summary: SetSummary,
}

/// A layer's dataset examples.
#[derive(Clone)]
enum LayerExamples {
    /// From a pass over the loaded set.
    Live {
        survey: Rc<Survey>,
        set: Rc<LoadedSet>,
    },
    /// From an import.
    Imported(Rc<ImportedExamples>),
}

/// The dataset examples of an import: the document and its images, decoded.
struct ImportedExamples {
    doc: ExamplesDoc,
    images: Vec<Rgba>,
    /// The PNG files as they were, for a new export.
    pngs: Vec<Vec<u8>>,
}

/// An atlas held by the worker.
struct AtlasEntry {
    atlas: Atlas,
    icons: Vec<Icon>,
}

/// What survey jobs keep between requests: the image set, and per layer the dataset examples
/// and the atlas, for one model (another model's examples and atlases are dropped; the set
/// stays).
#[derive(Default)]
pub struct SurveyStore {
    model: Option<ModelSource>,
    set: Option<Rc<LoadedSet>>,
    examples: BTreeMap<String, LayerExamples>,
    atlases: BTreeMap<String, AtlasEntry>,
    last_atlas: Option<String>,
}

impl SurveyStore {
    /// Drops what belongs to another model than `source`.
    fn for_model(&mut self, source: &ModelSource) {
        if self.model.as_ref() != Some(source) {
            self.examples.clear();
            self.atlases.clear();
            self.last_atlas = None;
            self.model = Some(source.clone());
        }
    }
}

impl From<SurveyError> for Stop {
    fn from(e: SurveyError) -> Self {
        match e {
            SurveyError::Cancelled => Self::Cancelled,
            other => Self::Failed(other.to_string()),
        }
    }
}

type Outcome<T> = Result<T, Stop>;

/// A running job: yields, cancellation and (throttled) progress reports.
struct Job<'a, H: Host> {
    host: &'a H,
    job: JobId,
    last_report: f64,
}

impl<H: Host> Job<'_, H> {
    fn emit(&self, update: SurveyUpdate) {
        self.host.emit(Response::Survey {
            job: self.job,
            update,
        });
    }

    /// Reports progress unless one was reported very recently (the end of a stage always is).
    fn report(&mut self, stage: &str, done: usize, total: usize) {
        let now = self.host.now_ms();
        if done >= total || now - self.last_report >= REPORT_EVERY_MS {
            self.last_report = now;
            self.emit(SurveyUpdate::Progress {
                stage: stage.to_string(),
                done,
                total,
            });
        }
    }

    /// Gives the event loop a turn, stops if the job was cancelled, and reports progress.
    async fn tick(&mut self, stage: &str, done: usize, total: usize) -> Outcome<()> {
        self.host.yield_now().await;
        if self.host.is_cancelled(self.job) {
            return Err(Stop::Cancelled);
        }
        self.report(stage, done, total);
        Ok(())
    }
}

/// Runs one survey job to the end, to a cancellation or to an error; every outcome is one
/// final response (`Survey` with `Done`, `Cancelled` or `Error`), after progress updates.
pub async fn run<B: AutodiffBackend, H: Host + Fetcher>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    job: JobId,
    task: SurveyTask,
    host: &H,
) {
    let mut j = Job {
        host,
        job,
        last_report: f64::NEG_INFINITY,
    };
    let outcome = match engine.check_model(task.model()) {
        Err(e) => Err(Stop::Failed(e.to_string())),
        Ok(()) => {
            store.borrow_mut().for_model(&engine.info().source);
            match task {
                SurveyTask::LoadImages { source, .. } => {
                    load_images(engine, store, source, &mut j).await
                }
                SurveyTask::Examples { layer, k, .. } => {
                    examples(engine, store, &layer, k, &mut j).await
                }
                SurveyTask::UnitExamples { layer, unit, .. } => {
                    unit_examples(engine, store, &layer, unit).await
                }
                SurveyTask::BuildAtlas {
                    layer,
                    spec,
                    images,
                    ..
                } => build(engine, store, &layer, &spec, images, &mut j).await,
                SurveyTask::Export { atlas_layer, .. } => {
                    export(engine, store, atlas_layer, &mut j).await
                }
                SurveyTask::Import { source, .. } => {
                    import_export(engine, store, source, &mut j).await
                }
            }
        }
    };
    match outcome {
        Ok(result) => j.emit(SurveyUpdate::Done(result)),
        Err(Stop::Cancelled) => host.emit(Response::Cancelled { job, step: 0 }),
        Err(Stop::Failed(message)) => host.emit(Response::Error {
            job: Some(job),
            message,
        }),
    }
}

// --- image sets ------------------------------------------------------------------------------

async fn load_images<B: AutodiffBackend, H: Host + Fetcher>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    source: ImageSource,
    j: &mut Job<'_, H>,
) -> Outcome<SurveyResult> {
    // Files that never made it into the set (unreadable zips, failed downloads).
    let mut lost: Vec<Skipped> = Vec::new();
    let (set, label, key) = match source {
        ImageSource::Generated { count, seed } => {
            if !(1..=MAX_GENERATED).contains(&count) {
                return Err(Stop::Failed(format!(
                    "the generated set has 1 to {MAX_GENERATED} images, not {count}"
                )));
            }
            let size = engine.info().image_size as u32;
            (
                ImageSet::generated(count, size, seed)?,
                format!("the generated set (seed {seed})"),
                generated_key(count, seed),
            )
        }
        ImageSource::Files { label, files } => {
            let files = files_entries(files, &mut lost);
            let key = files_key(&files);
            (ImageSet::from_files(files), label, key)
        }
        ImageSource::UrlList { url } => {
            let files = fetch_list(&url, &mut lost, j).await?;
            let key = files_key(&files);
            (ImageSet::from_files(files), url, key)
        }
    };
    let total = set.len();
    let items = total + lost.len();
    let mut skipped = lost;
    let mut images = 0;
    for i in 0..total {
        if i % 32 == 0 {
            j.tick("checking files", i, total).await?;
        }
        match set.probe(i) {
            Ok(()) => images += 1,
            Err(s) => skipped.push(s),
        }
    }
    j.report("checking files", total, total);
    if images == 0 {
        return Err(Stop::Failed(
            SurveyError::NoImages {
                skipped: skipped.len(),
                examples: skipped.iter().take(3).map(|s| s.to_string()).collect(),
            }
            .to_string(),
        ));
    }
    let summary = SetSummary {
        label,
        key,
        items,
        images,
        skipped: skipped.len(),
        skipped_examples: skipped.iter().take(5).map(|s| s.to_string()).collect(),
        summary: summary_line(images, &skipped),
    };
    let mut st = store.borrow_mut();
    st.set = Some(Rc::new(LoadedSet {
        set,
        summary: summary.clone(),
    }));
    // Examples refer to images of the old set by index.
    st.examples
        .retain(|_, e| matches!(e, LayerExamples::Imported(_)));
    Ok(SurveyResult::SetLoaded(summary))
}

/// The key of the generated set of `count` images drawn with `seed` (see [`SetSummary::key`]).
pub fn generated_key(count: usize, seed: u64) -> String {
    format!("generated:{count}:{seed}")
}

/// The key of a set of files (see [`SetSummary::key`]): `files:` and 16 hex digits of a
/// 64-bit FNV-1a hash of their names, lengths and bytes in order, so the same files give the
/// same key and others (almost surely) another.
pub fn files_key(files: &[(String, Vec<u8>)]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (name, bytes) in files {
        eat(&(name.len() as u64).to_le_bytes());
        eat(name.as_bytes());
        eat(&(bytes.len() as u64).to_le_bytes());
        eat(bytes);
    }
    format!("files:{h:016x}")
}

/// Dropped or picked files as a set's files: the entries of zip archives are taken as files of
/// their own (`archive.zip/entry`); an unreadable archive is counted as a skipped file.
fn files_entries(files: Vec<NamedFile>, lost: &mut Vec<Skipped>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(files.len());
    let single = files.len() == 1;
    for f in files {
        let is_zip =
            f.name.to_ascii_lowercase().ends_with(".zip") || f.bytes.starts_with(b"PK\x03\x04");
        if !is_zip {
            out.push((f.name, f.bytes));
            continue;
        }
        match zip_entries(&f.bytes) {
            Ok(entries) => {
                for (name, bytes) in entries {
                    // One archive on its own: its entries keep their own names.
                    let name = if single {
                        name
                    } else {
                        format!("{}/{name}", f.name)
                    };
                    out.push((name, bytes));
                }
            }
            Err(e) => lost.push(Skipped {
                name: f.name,
                reason: e.to_string(),
            }),
        }
    }
    out
}

/// Fetches an image list and its images; failures are counted in `lost`.
async fn fetch_list<H: Host + Fetcher>(
    url: &str,
    lost: &mut Vec<Skipped>,
    j: &mut Job<'_, H>,
) -> Outcome<Vec<(String, Vec<u8>)>> {
    j.tick("fetching the list", 0, 1).await?;
    let bytes = j
        .host
        .fetch(url)
        .await
        .map_err(|e| Stop::Failed(format!("the image list could not be fetched: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Stop::Failed(format!("{url} is not a text file of image URLs")))?;
    let urls = parse_url_list(&text, url).map_err(Stop::Failed)?;
    if urls.len() > MAX_URLS {
        return Err(Stop::Failed(format!(
            "{url} names {} images; at most {MAX_URLS}, please",
            urls.len()
        )));
    }
    let total = urls.len();
    let mut files = Vec::with_capacity(total);
    for (i, u) in urls.into_iter().enumerate() {
        j.tick("downloading images", i, total).await?;
        let name = format!("{i:05} {}", base_name(&u));
        match j.host.fetch(&u).await {
            Ok(bytes) => files.push((name, bytes)),
            Err(e) => lost.push(Skipped {
                name: u,
                reason: format!("could not be fetched ({e})"),
            }),
        }
    }
    j.report("downloading images", total, total);
    Ok(files)
}

/// The image URLs of a list: a JSON array of URLs (or of objects with `url` or `src`), a JSON
/// object with such an array under `images` or `urls`, or text with one URL a line (blank
/// lines and `#` comments skipped). Relative URLs are resolved against `base`.
pub fn parse_url_list(text: &str, base: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    let raw: Vec<String> = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(trimmed)
            .map_err(|e| format!("the image list is not valid JSON: {e}"))?;
        let list = match &value {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(o) => o
                .get("images")
                .or_else(|| o.get("urls"))
                .and_then(|v| v.as_array())
                .ok_or("the JSON image list has no `images` or `urls` array")?,
            _ => unreachable!("starts with [ or {{"),
        };
        list.iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Object(o) => o
                    .get("url")
                    .or_else(|| o.get("src"))
                    .and_then(|u| u.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| format!("an entry of the image list has no `url`: {v}")),
                other => Err(format!("an entry of the image list is not a URL: {other}")),
            })
            .collect::<Result<_, _>>()?
    } else {
        trimmed
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    if raw.is_empty() {
        return Err("the image list names no images".into());
    }
    Ok(raw.iter().map(|u| join_url(base, u)).collect())
}

/// `reference` resolved against `base` (absolute URLs, `//host`, `/path`, relative paths with
/// `.` and `..`).
pub fn join_url(base: &str, reference: &str) -> String {
    let r = reference.trim();
    if r.contains("://") || r.starts_with("data:") || r.starts_with("blob:") {
        return r.to_string();
    }
    let base = base.split(['?', '#']).next().unwrap_or(base);
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    if let Some(stripped) = r.strip_prefix("//") {
        return format!("{scheme}://{stripped}");
    }
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let joined = if r.starts_with('/') {
        r.to_string()
    } else {
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{r}")
    };
    let (joined_path, query) = match joined.find(['?', '#']) {
        Some(i) => (&joined[..i], &joined[i..]),
        None => (joined.as_str(), ""),
    };
    let mut parts: Vec<&str> = Vec::new();
    let segments: Vec<&str> = joined_path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s if s.is_empty() && i != segments.len() - 1 => {}
            s => parts.push(s),
        }
    }
    let prefix = if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    };
    format!("{prefix}/{}{query}", parts.join("/"))
}

/// The last path segment of a URL.
fn base_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path)
}

// --- the pass --------------------------------------------------------------------------------

/// One layer's activations for crops of the model's input size, read back.
async fn forward<B: AutodiffBackend>(
    engine: &Engine<B>,
    pre: &Preprocessor,
    images: &[image::RgbImage],
    layers: &[String],
) -> Outcome<Vec<HostActivation>> {
    let clip = engine.clip();
    let x = pre.batch::<B>(images, &clip.device());
    let mut cap = Capture::only(layers.to_vec());
    let _ = clip.encode_image_with(x, &mut cap);
    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        let act = cap
            .get(layer)
            .ok_or_else(|| Stop::Failed(format!("the model did not record `{layer}`")))?;
        let grid = act.grid().unwrap_or([1, 1]);
        let pos = act.positions();
        let dims = pos.dims();
        let values = read_back(pos).await?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Stop::Failed(format!(
                "the backend computed non-finite activations of `{layer}`"
            )));
        }
        out.push(HostActivation { grid, dims, values });
    }
    Ok(out)
}

/// Runs a pass over the set a batch at a time, reporting images done.
async fn run_pass<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    set: &ImageSet,
    config: PassConfig,
    j: &mut Job<'_, H>,
) -> Outcome<Survey> {
    if set.is_empty() {
        return Err(Stop::Failed("the image set is empty".into()));
    }
    let pre = Preprocessor::for_config(engine.clip().config());
    let mut pass = Pass::new(engine.clip(), set.clone(), config)?;
    let layers = pass.capture_layers();
    let total = set.len();
    while !pass.is_done() {
        j.tick("images", pass.progress().done, total).await?;
        let batch = pass.next_batch();
        if batch.is_empty() {
            continue;
        }
        let acts = forward(engine, &pre, &batch.images, &layers).await?;
        pass.record_batch(&batch.ids, &acts)?;
    }
    j.report("images", total, total);
    Ok(pass.finish()?)
}

fn loaded_set(store: &RefCell<SurveyStore>) -> Outcome<Rc<LoadedSet>> {
    store.borrow().set.clone().ok_or_else(|| {
        Stop::Failed(
            "no image set is loaded: drop images on the image-set page, or use the generated \
             set, first"
                .into(),
        )
    })
}

async fn examples<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    layer: &str,
    k: usize,
    j: &mut Job<'_, H>,
) -> Outcome<SurveyResult> {
    if !(1..=MAX_K).contains(&k) {
        return Err(Stop::Failed(format!(
            "1 to {MAX_K} examples per unit, not {k}"
        )));
    }
    let set = loaded_set(store)?;
    let started = j.host.now_ms();
    let survey = run_pass(
        engine,
        &set.set,
        PassConfig {
            layers: vec![layer.to_string()],
            k,
            batch: BATCH,
            sampling: None,
        },
        j,
    )
    .await?;
    let elapsed_ms = j.host.now_ms() - started;
    let summary = examples_summary(layer, &survey, k, elapsed_ms);
    store.borrow_mut().examples.insert(
        layer.to_string(),
        LayerExamples::Live {
            survey: Rc::new(survey),
            set,
        },
    );
    Ok(SurveyResult::Examples(summary))
}

fn examples_summary(layer: &str, survey: &Survey, k: usize, elapsed_ms: f64) -> ExamplesSummary {
    ExamplesSummary {
        layer: layer.to_string(),
        k,
        units: survey.layer(layer).map_or(0, |l| l.top.neurons()),
        images: survey.images,
        summary: survey.summary(),
        elapsed_ms,
        imported: false,
    }
}

async fn unit_examples<B: AutodiffBackend>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    layer: &str,
    unit: usize,
) -> Outcome<SurveyResult> {
    let entry =
        store.borrow().examples.get(layer).cloned().ok_or_else(|| {
            Stop::Failed(format!("there are no dataset examples of `{layer}` yet"))
        })?;
    match entry {
        LayerExamples::Live { survey, set, .. } => {
            let l = survey
                .layer(layer)
                .ok_or_else(|| Stop::Failed(format!("the pass did not record `{layer}`")))?;
            let units = l.top.neurons();
            if unit >= units {
                return Err(Stop::Failed(format!(
                    "`{layer}` has {units} units; there is no unit {unit}"
                )));
            }
            let entries = l.examples(unit);
            let pre = Preprocessor::for_config(engine.clip().config());
            let crops = entries
                .iter()
                .map(|e| {
                    set.set
                        .load(e.image as usize)
                        .map(|img| pre.resize_and_crop(&img))
                        .map_err(|s| Stop::Failed(format!("an example image is gone: {s}")))
                })
                .collect::<Outcome<Vec<_>>>()?;
            let acts = if crops.is_empty() {
                Vec::new()
            } else {
                forward(engine, &pre, &crops, &[layer.to_string()]).await?
            };
            let size = engine.info().image_size;
            let examples = entries
                .iter()
                .zip(crops)
                .enumerate()
                .map(|(i, (e, crop))| {
                    let a = &acts[0];
                    let [_, p, c] = a.dims;
                    ExampleImage {
                        name: survey.names[e.image as usize].clone(),
                        score: e.score,
                        position: e.position,
                        image: Rgba::from_rgb_images(&[crop.into_raw()], size),
                        map: map_bytes(&a.values[i * p * c..(i + 1) * p * c], c, unit, e.score),
                    }
                })
                .collect();
            Ok(SurveyResult::UnitExamples(UnitExamples {
                layer: layer.to_string(),
                unit,
                grid: l.grid,
                examples,
                source: set.summary.label.clone(),
            }))
        }
        LayerExamples::Imported(imp) => {
            let l = imp
                .doc
                .layers
                .iter()
                .find(|l| l.layer == layer)
                .ok_or_else(|| Stop::Failed(format!("the import has no examples of `{layer}`")))?;
            let list = l.units.get(unit).ok_or_else(|| {
                Stop::Failed(format!(
                    "the imported `{layer}` has {} units; there is no unit {unit}",
                    l.units.len()
                ))
            })?;
            let examples = list
                .iter()
                .map(|e| ExampleImage {
                    name: imp.doc.images[e.image as usize].name.clone(),
                    score: e.score,
                    position: e.position,
                    image: imp.images[e.image as usize].clone(),
                    map: e.map.clone(),
                })
                .collect();
            Ok(SurveyResult::UnitExamples(UnitExamples {
                layer: layer.to_string(),
                unit,
                grid: l.grid,
                examples,
                source: format!("an import ({} images seen)", imp.doc.images_seen),
            }))
        }
    }
}

// --- atlases ---------------------------------------------------------------------------------

/// The atlas settings of a spec: the article's UMAP (cosine, 20 neighbours, min_dist 0.01)
/// seeded, the spec's grids, icons of the model's input size up to [`MAX_ICON_SIZE`].
fn atlas_config(spec: &AtlasSpec, image_size: usize) -> AtlasConfig {
    AtlasConfig {
        umap: UmapParams {
            metric: Metric::Cosine,
            n_neighbors: 20,
            min_dist: 0.01,
            seed: spec.seed,
            ..UmapParams::default()
        },
        grid: AtlasParams {
            levels: spec.levels.clone(),
            min_count: spec.min_count,
            ..AtlasParams::default()
        },
        top_neurons: TOP_UNITS,
        icons: IconConfig {
            size: image_size.min(MAX_ICON_SIZE),
            steps: spec.steps,
            batch: ICON_BATCH,
            seed: spec.seed,
            ..IconConfig::default()
        },
    }
}

async fn build<B: AutodiffBackend, H: Host + Fetcher>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    layer: &str,
    spec: &AtlasSpec,
    images: Option<ImageSource>,
    j: &mut Job<'_, H>,
) -> Outcome<SurveyResult> {
    if spec.levels.is_empty() || spec.steps == 0 || spec.samples < 2 {
        return Err(Stop::Failed(
            "an atlas needs a grid, at least one icon step and two samples".into(),
        ));
    }
    if let Some(source) = images {
        let wanted = match &source {
            ImageSource::Generated { count, seed } => Some(generated_key(*count, *seed)),
            _ => None,
        };
        let loaded = store.borrow().set.as_ref().map(|s| s.summary.key.clone());
        // (Loading always answers with the set's summary.)
        if (wanted.is_none() || wanted != loaded)
            && let SurveyResult::SetLoaded(summary) = load_images(engine, store, source, j).await?
        {
            j.emit(SurveyUpdate::SetLoaded(summary));
        }
    }
    let set = loaded_set(store)?;
    let config = atlas_config(spec, engine.info().image_size);
    let mut stages = Vec::new();
    let t0 = j.host.now_ms();
    let survey = run_pass(
        engine,
        &set.set,
        PassConfig {
            layers: vec![layer.to_string()],
            k: ATLAS_K,
            batch: BATCH,
            sampling: Some(Sampling {
                layer: layer.to_string(),
                capacity: spec.samples,
                seed: spec.seed,
            }),
        },
        j,
    )
    .await?;
    let t1 = j.host.now_ms();
    stages.push(("pass".to_string(), t1 - t0));
    let survey = Rc::new(survey);
    let samples = survey
        .samples
        .clone()
        .ok_or_else(|| Stop::Failed("the pass sampled no activation vectors".into()))?;
    let mut found = None;
    {
        // The pass found the layer's examples too: keep them unless some are there.
        let mut st = store.borrow_mut();
        if !st.examples.contains_key(layer) {
            found = Some(examples_summary(layer, &survey, ATLAS_K, t1 - t0));
            st.examples.insert(
                layer.to_string(),
                LayerExamples::Live {
                    survey: survey.clone(),
                    set: set.clone(),
                },
            );
        }
    }
    let mut atlas = layout(&samples, &config, j).await?;
    let t2 = j.host.now_ms();
    stages.push(("layout".to_string(), t2 - t1));
    j.tick("labels", 0, 1).await?;
    let (labels, label_note) = cell_labels(engine, layer, &atlas, j.host).await?;
    for (li, level) in atlas.levels.iter_mut().enumerate() {
        for c in &mut level.cells {
            if let Some(words) = labels.get(&(li as u32, c.col, c.row)) {
                c.label = Some(
                    words
                        .iter()
                        .map(|w| w.word.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
        }
    }
    let t3 = j.host.now_ms();
    stages.push(("labels".to_string(), t3 - t2));
    let view = atlas_view(layer, &atlas, &labels, label_note, false);
    j.emit(SurveyUpdate::AtlasLayout(view));
    {
        let mut st = store.borrow_mut();
        st.atlases.insert(
            layer.to_string(),
            AtlasEntry {
                atlas: atlas.clone(),
                icons: Vec::new(),
            },
        );
        st.last_atlas = Some(layer.to_string());
    }
    let icons = render_icons(engine, store, layer, &atlas, &config.icons, j).await?;
    stages.push(("icons".to_string(), j.host.now_ms() - t3));
    Ok(SurveyResult::Atlas(AtlasSummary {
        layer: layer.to_string(),
        cells: atlas.levels.iter().map(|l| l.cells.len()).sum(),
        icons,
        images: survey.images,
        samples: samples.len(),
        stages,
        examples: found,
    }))
}

/// The UMAP layout of the samples in slices ([`UmapStepper`]), the event loop getting a turn
/// between slices so progress reaches the page and a cancel stops it; then the grids.
async fn layout<H: Host>(
    samples: &modalscope_survey::Samples,
    config: &AtlasConfig,
    j: &mut Job<'_, H>,
) -> Outcome<Atlas> {
    check_samples(samples)?;
    let mut stepper = UmapStepper::new(&samples.vectors, samples.dim, &config.umap)
        .map_err(|e| Stop::Failed(SurveyError::Atlas(e.to_string()).to_string()))?;
    loop {
        let (stage, done, total) = stepper.progress();
        j.tick(&format!("layout: {stage}"), done, total).await?;
        if stepper.is_done() {
            break;
        }
        let start = j.host.now_ms();
        for _ in 0..LAYOUT_SLICE_STEPS {
            stepper.step();
            if stepper.is_done() || j.host.now_ms() - start >= LAYOUT_SLICE_MS {
                break;
            }
        }
    }
    let layout = stepper.into_layout().unwrap_or_default();
    Ok(atlas_from_layout(samples, config, &layout)?)
}

/// Renders the icons of every cell, coarse levels first, a batch at a time, yielding between
/// steps; each batch goes to the store and to the page as it finishes. Returns the icons
/// rendered.
async fn render_icons<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    layer: &str,
    atlas: &Atlas,
    config: &IconConfig,
    j: &mut Job<'_, H>,
) -> Outcome<usize> {
    let cells: Vec<_> = atlas.levels.iter().flat_map(|l| l.cells.iter()).collect();
    let directions = AtlasDirections::new(atlas);
    let total = cells.len() * config.steps;
    let mut done = 0;
    for chunk in cells.chunks(config.batch) {
        let objective = cell_objective(layer, chunk.iter().map(|c| &c.mean[..]), config);
        let render = RenderConfig {
            size: config.size,
            batch: chunk.len(),
            steps: config.steps,
            seed: config.seed,
            ..RenderConfig::default()
        };
        let mut session = Session::new(engine.clip(), objective.clone(), render)
            .map_err(|e| Stop::Failed(e.to_string()))?;
        while !session.is_done() {
            j.tick(
                "icons",
                done * config.steps + session.steps_done() * chunk.len(),
                total,
            )
            .await?;
            let _ = session.step(engine.clip());
        }
        let images = session.images();
        // What the icon reached on its own cell's direction, and how it compares with the
        // level's other cells (on the float image, as rendered).
        let (scores, cosines) = icon_measures(
            engine.clip(),
            layer,
            &objective,
            Tensor::from_inner(images.clone()),
            &directions,
        )?;
        let scores = read_back(scores).await?;
        let cosines = read_back(cosines).await?;
        let pixels = read_back(images).await?;
        let rgb = to_rgb8(&pixels, chunk.len(), config.size);
        let m = directions.len();
        let icons: Vec<Icon> = chunk
            .iter()
            .zip(rgb)
            .zip(scores)
            .enumerate()
            .map(|(i, ((c, rgb), score))| Icon {
                level: c.level,
                col: c.col,
                row: c.row,
                size: config.size,
                rgb,
                score: Some(score),
                specificity: directions.specificity(
                    c.level,
                    c.col,
                    c.row,
                    &cosines[i * m..(i + 1) * m],
                ),
            })
            .collect();
        done += chunk.len();
        j.emit(SurveyUpdate::Icons {
            layer: layer.to_string(),
            icons: icons.iter().map(cell_icon).collect(),
        });
        if let Some(e) = store.borrow_mut().atlases.get_mut(layer) {
            e.icons.extend(icons);
        }
        j.report("icons", done * config.steps, total);
    }
    Ok(done)
}

fn cell_icon(icon: &Icon) -> CellIcon {
    CellIcon {
        level: icon.level,
        col: icon.col,
        row: icon.row,
        image: Rgba::from_rgb_images(std::slice::from_ref(&icon.rgb), icon.size),
        score: icon.score,
        specificity: icon.specificity,
    }
}

/// Cell labels: the vocabulary words whose text embeddings are closest to each cell's
/// direction, for layers in (or one linear map from) the joint space; otherwise why not.
async fn cell_labels<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    layer: &str,
    atlas: &Atlas,
    host: &H,
) -> Outcome<(HashMap<(u32, u32, u32), Vec<WordScore>>, Option<String>)> {
    let mut labels = HashMap::new();
    let clip = engine.clip();
    let joint = layer == "vision.embeds";
    let projected = layer == "vision.post_ln" && clip.vit.is_some();
    if !joint && !projected {
        return Ok((
            labels,
            Some(format!(
                "`{layer}` is a hidden layer: its directions are not in the joint image–text \
                 space, so cells have no text labels (atlases of vision.post_ln or \
                 vision.embeds have them)"
            )),
        ));
    }
    let Some(words) = engine.word_embeddings(host).await? else {
        return Ok((
            labels,
            Some("these weights came without a tokenizer, so cells have no text labels".into()),
        ));
    };
    let cells: Vec<_> = atlas.levels.iter().flat_map(|l| l.cells.iter()).collect();
    if cells.is_empty() {
        return Ok((labels, None));
    }
    let dim = atlas.dim;
    let means: Vec<f32> = cells.iter().flat_map(|c| c.mean.iter().copied()).collect();
    let dirs =
        Tensor::<B, 2>::from_data(TensorData::new(means, [cells.len(), dim]), &clip.device());
    let dirs = match (&clip.vit, projected) {
        (Some(vit), true) => vit.projection.forward(dirs),
        _ => dirs,
    };
    let scores = read_back(normalize(dirs.inner()).matmul(words.transpose())).await?;
    let v = scores.len() / cells.len();
    for (i, c) in cells.iter().enumerate() {
        let row = &scores[i * v..(i + 1) * v];
        let mut ranked: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        labels.insert(
            (c.level, c.col, c.row),
            ranked
                .into_iter()
                .take(LABELS)
                .map(|(w, score)| WordScore {
                    word: engine.vocabulary[w].0.clone(),
                    score,
                })
                .collect(),
        );
    }
    Ok((labels, None))
}

/// An atlas as the page draws it.
fn atlas_view(
    layer: &str,
    atlas: &Atlas,
    labels: &HashMap<(u32, u32, u32), Vec<WordScore>>,
    label_note: Option<String>,
    imported: bool,
) -> AtlasView {
    AtlasView {
        layer: layer.to_string(),
        dim: atlas.dim,
        samples: atlas.layout.len(),
        levels: atlas
            .levels
            .iter()
            .enumerate()
            .map(|(li, l)| AtlasLevel {
                size: l.size,
                cells: l
                    .cells
                    .iter()
                    .map(|c| AtlasCell {
                        col: c.col,
                        row: c.row,
                        count: c.count,
                        top: c
                            .top_neurons
                            .clone()
                            .unwrap_or_else(|| c.top_neurons(TOP_UNITS))
                            .into_iter()
                            .map(|n| TopUnit {
                                unit: n.neuron,
                                weight: n.weight,
                            })
                            .collect(),
                        labels: labels
                            .get(&(li as u32, c.col, c.row))
                            .cloned()
                            .or_else(|| {
                                // An import keeps the words, not their scores.
                                c.label.as_ref().map(|l| {
                                    l.split(", ")
                                        .map(|w| WordScore {
                                            word: w.to_string(),
                                            score: f32::NAN,
                                        })
                                        .collect()
                                })
                            })
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
        label_note,
        imported,
    }
}

// --- export and import -----------------------------------------------------------------------

async fn export<B: AutodiffBackend, H: Host>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    atlas_layer: Option<String>,
    j: &mut Job<'_, H>,
) -> Outcome<SurveyResult> {
    let mut files = Vec::new();
    // Dataset examples: those of passes over the loaded set, else those of an import.
    let (live, imported) = {
        let st = store.borrow();
        let mut live = Vec::new();
        let mut imported = None;
        for (layer, e) in &st.examples {
            match e {
                LayerExamples::Live { survey, set, .. } => {
                    live.push((layer.clone(), survey.clone(), set.clone()))
                }
                LayerExamples::Imported(imp) => imported = Some(imp.clone()),
            }
        }
        (live, imported)
    };
    let has_examples = !live.is_empty() || imported.is_some();
    if let Some((_, first, set)) = live.first() {
        let merged = Survey {
            names: first.names.clone(),
            images: first.images,
            skipped: first.skipped.clone(),
            layers: live
                .iter()
                .filter_map(|(layer, s, _)| s.layer(layer).cloned())
                .collect(),
            samples: None,
        };
        let pre = Preprocessor::for_config(engine.clip().config());
        let crops = example_images(&pre, &set.set, &merged)?;
        let layers: Vec<String> = merged.layers.iter().map(|l| l.layer.clone()).collect();
        let mut acts: Vec<Vec<Vec<f32>>> = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(BATCH) {
            j.tick("exporting examples", acts.len(), crops.len())
                .await?;
            let images: Vec<image::RgbImage> = chunk.iter().map(|(_, c)| c.clone()).collect();
            let out = forward(engine, &pre, &images, &layers).await?;
            for i in 0..chunk.len() {
                acts.push(
                    out.iter()
                        .map(|a| {
                            let [_, p, c] = a.dims;
                            a.values[i * p * c..(i + 1) * p * c].to_vec()
                        })
                        .collect(),
                );
            }
        }
        files.extend(examples_files(&merged, &crops, &acts)?);
    } else if let Some(imp) = &imported {
        files.push(modalscope_survey::ExportFile {
            path: "examples.json".into(),
            bytes: serde_json::to_vec(&imp.doc).map_err(|e| Stop::Failed(e.to_string()))?,
        });
        for (r, png) in imp.doc.images.iter().zip(&imp.pngs) {
            files.push(modalscope_survey::ExportFile {
                path: r.file.clone(),
                bytes: png.clone(),
            });
        }
    }
    j.tick("packing", 0, 1).await?;
    let atlas_layer = {
        let st = store.borrow();
        let layer = atlas_layer.or_else(|| st.last_atlas.clone());
        match layer
            .as_ref()
            .and_then(|l| st.atlases.get(l).map(|a| (l, a)))
        {
            Some((l, entry)) => {
                files.extend(export_atlas(&entry.atlas, &entry.icons)?);
                Some(l.clone())
            }
            None => None,
        }
    };
    if !has_examples && atlas_layer.is_none() {
        return Err(Stop::Failed(
            "there is nothing to export yet: find dataset examples or build an atlas first".into(),
        ));
    }
    let model = engine.info().name.clone();
    files.push(manifest_file(&model, has_examples, atlas_layer.as_deref())?);
    let bytes = zip_files(&files)?;
    Ok(SurveyResult::Exported {
        file_name: format!("{model}-survey.zip"),
        files: files.len(),
        bytes,
    })
}

async fn import_export<B: AutodiffBackend, H: Host + Fetcher>(
    engine: &Engine<B>,
    store: &RefCell<SurveyStore>,
    source: ImportSource,
    j: &mut Job<'_, H>,
) -> Outcome<SurveyResult> {
    let (files, failures) = match source {
        ImportSource::Zip { name, bytes } => {
            j.tick("reading the archive", 0, 1).await?;
            let entries = zip_entries(&bytes).map_err(|e| Stop::Failed(format!("{name}: {e}")))?;
            // A zipped folder: the paths are relative to the folder with the manifest.
            let prefix = entries
                .iter()
                .filter_map(|(p, _)| p.strip_suffix("manifest.json"))
                .filter(|p| p.is_empty() || p.ends_with('/'))
                .min_by_key(|p| p.len())
                .unwrap_or("")
                .to_string();
            let files: HashMap<String, Vec<u8>> = entries
                .into_iter()
                .filter_map(|(p, b)| p.strip_prefix(&prefix).map(|p| (p.to_string(), b)))
                .collect();
            (files, HashMap::new())
        }
        ImportSource::Url { url } => fetch_export(&url, j).await?,
    };
    let read = |p: &str| files.get(p).cloned();
    let imported = import(read).map_err(|e| {
        let mut message = e.to_string();
        // Say why a file is missing when fetching it failed.
        if let Some((path, why)) = failures
            .iter()
            .find(|(p, _)| message.contains(&format!("`{p}`")))
        {
            message += &format!(" (fetching {path}: {why})");
        }
        Stop::Failed(message)
    })?;
    j.tick("decoding images", 0, 1).await?;
    let model = engine.info().name.clone();
    let mut summary = ImportSummary {
        model: imported.manifest.model.clone(),
        examples_layers: Vec::new(),
        atlas_layer: None,
        images: 0,
        icons: 0,
        note: (imported.manifest.model != model).then(|| {
            format!(
                "made with the model `{}`; this page runs `{model}`, whose units may mean other \
                 things",
                imported.manifest.model
            )
        }),
    };
    if let Some(doc) = imported.examples {
        let mut images = Vec::with_capacity(doc.images.len());
        let mut pngs = Vec::with_capacity(doc.images.len());
        for r in &doc.images {
            let bytes = files.get(&r.file).cloned().unwrap_or_default();
            let img = modalscope_survey::decode(&bytes)
                .map_err(|e| Stop::Failed(format!("`{}` in the export: {e}", r.file)))?;
            if img.width() != img.height() {
                return Err(Stop::Failed(format!(
                    "`{}` in the export is not square",
                    r.file
                )));
            }
            let side = img.width() as usize;
            images.push(Rgba::from_rgb_images(&[img.into_raw()], side));
            pngs.push(bytes);
        }
        summary.images = images.len();
        summary.examples_layers = doc.layers.iter().map(|l| l.layer.clone()).collect();
        let imp = Rc::new(ImportedExamples { doc, images, pngs });
        let mut st = store.borrow_mut();
        for layer in &summary.examples_layers {
            st.examples
                .insert(layer.clone(), LayerExamples::Imported(imp.clone()));
        }
    }
    if let Some(atlas) = imported.atlas {
        let layer = imported
            .manifest
            .atlas_layer
            .clone()
            .unwrap_or_else(|| "atlas".into());
        let mut icons = Vec::new();
        for c in atlas.levels.iter().flat_map(|l| &l.cells) {
            let Some(file) = &c.icon else { continue };
            let bytes = files.get(file).cloned().unwrap_or_default();
            let img = modalscope_survey::decode(&bytes)
                .map_err(|e| Stop::Failed(format!("`{file}` in the export: {e}")))?;
            if img.width() != img.height() {
                return Err(Stop::Failed(format!(
                    "`{file}` in the export is not square"
                )));
            }
            icons.push(Icon {
                level: c.level,
                col: c.col,
                row: c.row,
                size: img.width() as usize,
                rgb: img.into_raw(),
                score: c.icon_score,
                specificity: c.icon_specificity,
            });
        }
        let view = atlas_view(
            &layer,
            &atlas,
            &HashMap::new(),
            atlas
                .levels
                .iter()
                .flat_map(|l| &l.cells)
                .all(|c| c.label.is_none())
                .then(|| "the export has no text labels".to_string()),
            true,
        );
        j.emit(SurveyUpdate::AtlasLayout(view));
        for chunk in icons.chunks(32) {
            j.emit(SurveyUpdate::Icons {
                layer: layer.clone(),
                icons: chunk.iter().map(cell_icon).collect(),
            });
        }
        summary.icons = icons.len();
        summary.atlas_layer = Some(layer.clone());
        let mut st = store.borrow_mut();
        st.atlases
            .insert(layer.clone(), AtlasEntry { atlas, icons });
        st.last_atlas = Some(layer);
    }
    Ok(SurveyResult::Imported(summary))
}

/// The files of an export served at `manifest_url`: the manifest, the documents it names and
/// the images and icons they name. Files that could not be fetched are left out (the import
/// then says which is missing) with why.
async fn fetch_export<H: Host + Fetcher>(
    manifest_url: &str,
    j: &mut Job<'_, H>,
) -> Outcome<(HashMap<String, Vec<u8>>, HashMap<String, String>)> {
    let mut files = HashMap::new();
    let mut failures = HashMap::new();
    let host = j.host;
    let manifest_url = if manifest_url.ends_with('/') {
        format!("{manifest_url}manifest.json")
    } else {
        manifest_url.to_string()
    };
    let manifest_url = manifest_url.as_str();
    let get = async |path: &str,
                     files: &mut HashMap<String, Vec<u8>>,
                     failures: &mut HashMap<String, String>| {
        match host.fetch(&join_url(manifest_url, path)).await {
            Ok(b) => {
                files.insert(path.to_string(), b.clone());
                Some(b)
            }
            Err(e) => {
                failures.insert(path.to_string(), e);
                None
            }
        }
    };
    let manifest_path = base_name(manifest_url).to_string();
    let Some(bytes) = get(&manifest_path, &mut files, &mut failures).await else {
        let why = failures.values().next().cloned().unwrap_or_default();
        return Err(Stop::Failed(format!(
            "the export's manifest could not be fetched from {manifest_url}: {why}"
        )));
    };
    // The import reads `manifest.json`, whatever the file's name on the server.
    files.insert("manifest.json".into(), bytes.clone());
    let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else {
        // Let the import say what is wrong with it.
        return Ok((files, failures));
    };
    let mut wanted = Vec::new();
    if let Some(p) = &manifest.examples
        && let Some(b) = get(p, &mut files, &mut failures).await
        && let Ok(doc) = serde_json::from_slice::<ExamplesDoc>(&b)
    {
        wanted.extend(doc.images.iter().map(|i| i.file.clone()));
    }
    if let Some(p) = &manifest.atlas
        && let Some(b) = get(p, &mut files, &mut failures).await
        && let Ok(atlas) = serde_json::from_slice::<Atlas>(&b)
    {
        wanted.extend(
            atlas
                .levels
                .iter()
                .flat_map(|l| &l.cells)
                .filter_map(|c| c.icon.clone()),
        );
    }
    let total = wanted.len();
    for (i, p) in wanted.iter().enumerate() {
        j.host.yield_now().await;
        if j.host.is_cancelled(j.job) {
            return Err(Stop::Cancelled);
        }
        j.report("downloading the export", i, total);
        get(p, &mut files, &mut failures).await;
    }
    Ok((files, failures))
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;
    use crate::engine::testing::{BUILTIN, TestHost, block_on};
    use crate::protocol::ModelSource;

    type B = Autodiff<Flex>;

    /// A test host that also serves URLs from a map, and may have a clock that advances
    /// `tick_ms` each time it is read, and cancel the job when a progress report of a stage
    /// reaches a point.
    #[derive(Default)]
    struct Web {
        host: TestHost,
        files: HashMap<String, Vec<u8>>,
        tick_ms: f64,
        clock: std::cell::Cell<f64>,
        /// Cancels when a progress report of this stage has at least this much done.
        cancel_on: Option<(String, usize)>,
        /// When the cancel was asked for: yields so far and the wall clock.
        cancelled_at: std::cell::Cell<Option<(usize, std::time::Instant)>>,
    }

    impl Host for Web {
        async fn yield_now(&self) {
            self.host.yield_now().await
        }
        fn is_cancelled(&self, job: JobId) -> bool {
            self.host.is_cancelled(job) || self.cancelled_at.get().is_some()
        }
        fn now_ms(&self) -> f64 {
            self.clock.set(self.clock.get() + self.tick_ms);
            self.host.now_ms() + self.clock.get()
        }
        fn emit(&self, response: Response) {
            if let (
                Some((want, at)),
                Response::Survey {
                    update: SurveyUpdate::Progress { stage, done, .. },
                    ..
                },
            ) = (&self.cancel_on, &response)
                && stage == want
                && done >= at
                && self.cancelled_at.get().is_none()
            {
                self.cancelled_at
                    .set(Some((self.host.yields.get(), std::time::Instant::now())));
            }
            self.host.emit(response)
        }
    }

    impl Fetcher for Web {
        async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
            self.files
                .get(url)
                .cloned()
                .ok_or_else(|| "the server answered 404".to_string())
        }
    }

    fn engine() -> Engine<B> {
        Engine::load(BUILTIN, ModelSource::Builtin, &Default::default()).unwrap()
    }

    fn png(seed: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([x as u8 * 6, y as u8 * 8, seed.wrapping_mul(37)])
        });
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn zip(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let files: Vec<modalscope_survey::ExportFile> = files
            .iter()
            .map(|(p, b)| modalscope_survey::ExportFile {
                path: p.to_string(),
                bytes: b.clone(),
            })
            .collect();
        zip_files(&files).unwrap()
    }

    /// Runs a task; returns the final response and every update before it.
    fn go(
        e: &Engine<B>,
        store: &RefCell<SurveyStore>,
        web: &Web,
        task: SurveyTask,
    ) -> (Response, Vec<SurveyUpdate>) {
        web.host.sent.borrow_mut().clear();
        block_on(run(e, store, 1, task, web));
        let mut sent = web.host.sent.borrow_mut();
        let last = sent.pop().expect("a final response");
        let updates = sent
            .drain(..)
            .map(|r| match r {
                Response::Survey { update, .. } => update,
                other => panic!("{other:?}"),
            })
            .collect();
        (last, updates)
    }

    fn done(r: Response) -> SurveyResult {
        match r {
            Response::Survey {
                update: SurveyUpdate::Done(result),
                ..
            } => result,
            other => panic!("{other:?}"),
        }
    }

    fn error(r: Response) -> String {
        match r {
            Response::Error { message, .. } => message,
            other => panic!("{other:?}"),
        }
    }

    fn last_mlp(e: &Engine<B>) -> String {
        crate::views::default_layer(e.info()).unwrap()
    }

    #[test]
    fn urls_are_read_from_lists_and_resolved() {
        let base = "http://h:8/site/lists/set.txt?x=1";
        assert_eq!(
            parse_url_list(
                "# cats\na.png\n\n ../b.jpg \n/c.png\nhttps://o/d.png\n",
                base
            )
            .unwrap(),
            [
                "http://h:8/site/lists/a.png",
                "http://h:8/site/b.jpg",
                "http://h:8/c.png",
                "https://o/d.png"
            ]
        );
        assert_eq!(
            parse_url_list(
                r#"["./x.png", {"url": "y.png"}, {"src": "//cdn/z.png"}]"#,
                base
            )
            .unwrap(),
            [
                "http://h:8/site/lists/x.png",
                "http://h:8/site/lists/y.png",
                "http://cdn/z.png"
            ]
        );
        assert_eq!(
            parse_url_list(r#"{"images": ["q.png"]}"#, "http://h/l.json").unwrap(),
            ["http://h/q.png"]
        );
        assert!(
            parse_url_list("[1, 2]", base)
                .unwrap_err()
                .contains("not a URL")
        );
        assert!(
            parse_url_list("{\"x\": []}", base)
                .unwrap_err()
                .contains("`images`")
        );
        assert!(
            parse_url_list("[", base)
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            parse_url_list("# nothing\n", base)
                .unwrap_err()
                .contains("no images")
        );
        assert_eq!(
            join_url("http://h/a/b/", "c/../d.png?v=2"),
            "http://h/a/b/d.png?v=2"
        );
        assert_eq!(base_name("http://h/a/b.png?x"), "b.png");
    }

    #[test]
    fn sets_count_what_is_skipped_and_refuse_to_be_empty() {
        let e = engine();
        let store = RefCell::new(SurveyStore::default());
        let web = Web::default();
        let model = e.info().name.clone();
        let archive = zip(&[
            ("imgs/a.png", png(1)),
            ("imgs/notes.txt", b"not an image".to_vec()),
            ("imgs/b.png", png(2)),
        ]);
        let (r, updates) = go(
            &e,
            &store,
            &web,
            SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::Files {
                    label: "set.zip".into(),
                    files: vec![NamedFile {
                        name: "set.zip".into(),
                        bytes: archive,
                    }],
                },
            },
        );
        let SurveyResult::SetLoaded(s) = done(r) else {
            panic!()
        };
        assert_eq!((s.items, s.images, s.skipped), (3, 2, 1));
        assert_eq!(
            s.summary,
            "2 images; 1 file skipped (imgs/notes.txt: not an image)"
        );
        // The set's key names its files: the same files, the same key; others, another.
        assert_eq!(
            s.key,
            files_key(&[
                ("imgs/a.png".into(), png(1)),
                ("imgs/notes.txt".into(), b"not an image".to_vec()),
                ("imgs/b.png".into(), png(2)),
            ])
        );
        assert_ne!(
            s.key,
            files_key(&[("imgs/a.png".into(), png(1)), ("imgs/b.png".into(), png(2))])
        );
        let zip_key = s.key.clone();
        assert!(
            updates
                .iter()
                .any(|u| matches!(u, SurveyUpdate::Progress { .. }))
        );
        // Files that are all junk, a broken zip among them: a clear message, the set stays.
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::Files {
                    label: "2 files".into(),
                    files: vec![
                        NamedFile {
                            name: "a.txt".into(),
                            bytes: b"hi".to_vec(),
                        },
                        NamedFile {
                            name: "b.zip".into(),
                            bytes: b"PK\x03\x04 broken".to_vec(),
                        },
                    ],
                },
            },
        );
        let m = error(r);
        assert!(
            m.starts_with("the image set has no images (2 files were skipped:")
                && m.contains("b.zip"),
            "{m}"
        );
        assert!(store.borrow().set.as_ref().unwrap().summary.images == 2);
        // A URL list: one image fails to download and is counted.
        let mut web = Web::default();
        web.files.insert(
            "http://h/list.txt".into(),
            b"1.png\n2.png\nmissing.png\n".to_vec(),
        );
        web.files.insert("http://h/1.png".into(), png(3));
        web.files.insert("http://h/2.png".into(), png(4));
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::UrlList {
                    url: "http://h/list.txt".into(),
                },
            },
        );
        let SurveyResult::SetLoaded(s) = done(r) else {
            panic!()
        };
        assert_eq!((s.images, s.skipped), (2, 1), "{s:?}");
        assert!(s.key.starts_with("files:") && s.key != zip_key, "{}", s.key);
        assert!(
            s.summary
                .contains("http://h/missing.png: could not be fetched (the server answered 404)"),
            "{}",
            s.summary
        );
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::LoadImages {
                model,
                source: ImageSource::UrlList {
                    url: "http://h/nothing.txt".into(),
                },
            },
        );
        assert!(error(r).contains("could not be fetched"));
    }

    #[test]
    fn examples_atlas_export_and_import() {
        let e = engine();
        let store = RefCell::new(SurveyStore::default());
        let web = Web::default();
        let model = e.info().name.clone();
        let layer = last_mlp(&e);
        let info = e.info().layer(&layer).unwrap().clone();
        // Nothing loaded yet.
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::Examples {
                model: model.clone(),
                layer: layer.clone(),
                k: 3,
            },
        );
        assert!(error(r).contains("no image set is loaded"));
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::Generated { count: 40, seed: 1 },
            },
        );
        assert!(matches!(done(r), SurveyResult::SetLoaded(s) if s.images == 40));
        let (r, updates) = go(
            &e,
            &store,
            &web,
            SurveyTask::Examples {
                model: model.clone(),
                layer: layer.clone(),
                k: 3,
            },
        );
        let SurveyResult::Examples(s) = done(r) else {
            panic!()
        };
        assert_eq!((s.images, s.units, s.k), (40, info.units, 3));
        assert!(updates.contains(&SurveyUpdate::Progress {
            stage: "images".into(),
            done: 40,
            total: 40
        }));
        let unit = 5;
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::UnitExamples {
                model: model.clone(),
                layer: layer.clone(),
                unit,
            },
        );
        let SurveyResult::UnitExamples(u) = done(r) else {
            panic!()
        };
        assert_eq!((u.examples.len(), u.grid), (3, info.grid));
        let size = e.info().image_size;
        for (i, ex) in u.examples.iter().enumerate() {
            assert_eq!((ex.image.width, ex.image.height), (size, size));
            assert_eq!(ex.map.len(), info.grid[0] * info.grid[1]);
            // The map peaks where the score was found, at 255.
            if ex.score > 0.0 {
                assert_eq!(ex.map[ex.position as usize], 255, "example {i}");
            }
            if i > 0 {
                assert!(u.examples[i - 1].score >= ex.score);
            }
        }

        // A small atlas: progress through every stage, the layout, then icons.
        let spec = AtlasSpec {
            samples: 300,
            seed: 2,
            levels: vec![2, 4],
            min_count: 2,
            steps: 2,
        };
        let (r, updates) = go(
            &e,
            &store,
            &web,
            SurveyTask::BuildAtlas {
                model: model.clone(),
                layer: layer.clone(),
                spec: spec.clone(),
                images: None,
            },
        );
        let SurveyResult::Atlas(a) = done(r) else {
            panic!()
        };
        assert_eq!((a.samples, a.images), (300, 40));
        assert_eq!(a.icons, a.cells);
        let stages: Vec<&str> = a.stages.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(stages, ["pass", "layout", "labels", "icons"]);
        let layout = updates
            .iter()
            .find_map(|u| match u {
                SurveyUpdate::AtlasLayout(v) => Some(v.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(layout.cells(), a.cells);
        assert!(
            layout
                .label_note
                .as_deref()
                .unwrap()
                .contains("hidden layer")
        );
        assert!(
            layout.levels[0]
                .cells
                .iter()
                .all(|c| c.top.len() == TOP_UNITS)
        );
        let icons: usize = updates
            .iter()
            .map(|u| match u {
                SurveyUpdate::Icons { icons, .. } => icons.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(icons, a.cells);
        for stage in ["images", "layout: optimize", "icons"] {
            assert!(
                updates
                    .iter()
                    .any(|u| matches!(u, SurveyUpdate::Progress { stage: s, .. } if s == stage)),
                "no {stage} progress"
            );
        }

        // Export, then import into a fresh worker.
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::Export {
                model: model.clone(),
                atlas_layer: None,
            },
        );
        let SurveyResult::Exported { bytes, files, .. } = done(r) else {
            panic!()
        };
        assert!(files > a.cells + 3);
        let fresh = RefCell::new(SurveyStore::default());
        let (r, updates) = go(
            &e,
            &fresh,
            &web,
            SurveyTask::Import {
                model: model.clone(),
                source: ImportSource::Zip {
                    name: "x.zip".into(),
                    bytes: bytes.clone(),
                },
            },
        );
        let SurveyResult::Imported(s) = done(r) else {
            panic!()
        };
        assert_eq!(s.atlas_layer.as_deref(), Some(layer.as_str()));
        assert_eq!(
            (s.icons, s.examples_layers.clone()),
            (a.cells, vec![layer.clone()])
        );
        assert_eq!(s.note, None);
        let imported = updates
            .iter()
            .find_map(|u| match u {
                SurveyUpdate::AtlasLayout(v) => Some(v.clone()),
                _ => None,
            })
            .unwrap();
        assert!(imported.imported);
        assert_eq!(imported.levels[1].cells.len(), layout.levels[1].cells.len());
        assert_eq!(
            imported.levels[1].cells[0].top,
            layout.levels[1].cells[0].top
        );
        // The unit's examples come back from the import as they were.
        let (r, _) = go(
            &e,
            &fresh,
            &web,
            SurveyTask::UnitExamples {
                model: model.clone(),
                layer: layer.clone(),
                unit,
            },
        );
        let SurveyResult::UnitExamples(back) = done(r) else {
            panic!()
        };
        assert_eq!(back.examples.len(), 3);
        for (x, y) in back.examples.iter().zip(&u.examples) {
            assert_eq!(
                (&x.name, x.score, &x.map, &x.image),
                (&y.name, y.score, &y.map, &y.image)
            );
        }
        // Imported data export again.
        let (r, _) = go(
            &e,
            &fresh,
            &web,
            SurveyTask::Export {
                model: model.clone(),
                atlas_layer: None,
            },
        );
        assert!(matches!(done(r), SurveyResult::Exported { .. }));

        // Bad imports say what is wrong.
        let bad = |source| {
            error(
                go(
                    &e,
                    &RefCell::new(SurveyStore::default()),
                    &web,
                    SurveyTask::Import {
                        model: model.clone(),
                        source,
                    },
                )
                .0,
            )
        };
        let m = bad(ImportSource::Zip {
            name: "notes.zip".into(),
            bytes: b"hello".to_vec(),
        });
        assert!(m.contains("notes.zip") && m.contains("zip"), "{m}");
        let m = bad(ImportSource::Zip {
            name: "x.zip".into(),
            bytes: zip(&[("readme.txt", b"x".to_vec())]),
        });
        assert!(m.contains("no `manifest.json`"), "{m}");
        let entries: Vec<(String, Vec<u8>)> = zip_entries(&bytes)
            .unwrap()
            .into_iter()
            .filter(|(p, _)| p != "atlas.json")
            .collect();
        let refs: Vec<(&str, Vec<u8>)> = entries
            .iter()
            .map(|(p, b)| (p.as_str(), b.clone()))
            .collect();
        let m = bad(ImportSource::Zip {
            name: "x.zip".into(),
            bytes: zip(&refs),
        });
        assert!(m.contains("no `atlas.json`"), "{m}");
        let m = bad(ImportSource::Zip {
            name: "x.zip".into(),
            bytes: zip(&[(
                "manifest.json",
                br#"{"format":"other/1","model":"m"}"#.to_vec(),
            )]),
        });
        assert!(m.contains("format `other/1`"), "{m}");

        // An export served as files: imported from its manifest's URL; a missing file says
        // why it is missing.
        let mut web = Web::default();
        for (p, b) in zip_entries(&bytes).unwrap() {
            web.files.insert(format!("http://h/export/{p}"), b);
        }
        let (r, _) = go(
            &e,
            &RefCell::new(SurveyStore::default()),
            &web,
            SurveyTask::Import {
                model: model.clone(),
                source: ImportSource::Url {
                    url: "http://h/export/manifest.json".into(),
                },
            },
        );
        assert!(matches!(done(r), SurveyResult::Imported(s) if s.icons == a.cells));
        web.files.remove("http://h/export/images/0.png");
        let (r, _) = go(
            &e,
            &RefCell::new(SurveyStore::default()),
            &web,
            SurveyTask::Import {
                model: model.clone(),
                source: ImportSource::Url {
                    url: "http://h/export/manifest.json".into(),
                },
            },
        );
        let m = error(r);
        assert!(m.contains("no `images/0.png`") && m.contains("404"), "{m}");
    }

    #[test]
    fn joint_space_atlases_have_words() {
        let e = engine();
        let store = RefCell::new(SurveyStore::default());
        let web = Web::default();
        let model = e.info().name.clone();
        done(
            go(
                &e,
                &store,
                &web,
                SurveyTask::LoadImages {
                    model: model.clone(),
                    source: ImageSource::Generated { count: 60, seed: 3 },
                },
            )
            .0,
        );
        for layer in ["vision.embeds", "vision.post_ln"] {
            let (r, updates) = go(
                &e,
                &store,
                &web,
                SurveyTask::BuildAtlas {
                    model: model.clone(),
                    layer: layer.into(),
                    spec: AtlasSpec {
                        samples: 60,
                        seed: 1,
                        levels: vec![2],
                        min_count: 1,
                        steps: 1,
                    },
                    images: None,
                },
            );
            assert!(matches!(done(r), SurveyResult::Atlas(_)), "{layer}");
            let view = updates
                .iter()
                .find_map(|u| match u {
                    SurveyUpdate::AtlasLayout(v) => Some(v.clone()),
                    _ => None,
                })
                .unwrap();
            assert_eq!(view.label_note, None, "{layer}");
            for c in &view.levels[0].cells {
                assert_eq!(c.labels.len(), LABELS, "{layer}");
                assert!(c.labels[0].score >= c.labels[1].score);
                assert!(c.labels[0].score.is_finite() && c.labels[0].score.abs() <= 1.0);
            }
        }
    }

    #[test]
    fn a_pass_can_be_cancelled_and_the_model_is_checked() {
        let e = engine();
        let store = RefCell::new(SurveyStore::default());
        let model = e.info().name.clone();
        let mut web = Web::default();
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::Generated {
                    count: 200,
                    seed: 1,
                },
            },
        );
        done(r);
        web.host.cancel_after_yields = Some(web.host.yields.get() + 3);
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::Examples {
                model: model.clone(),
                layer: last_mlp(&e),
                k: 4,
            },
        );
        assert_eq!(r, Response::Cancelled { job: 1, step: 0 });
        assert!(store.borrow().examples.is_empty());
        let (r, _) = go(
            &e,
            &store,
            &Web::default(),
            SurveyTask::Examples {
                model: "clip-other".into(),
                layer: last_mlp(&e),
                k: 4,
            },
        );
        assert!(error(r).contains("no model `clip-other`"));
        let (r, _) = go(
            &e,
            &store,
            &Web::default(),
            SurveyTask::Examples {
                model,
                layer: "text.blocks.0.mlp".into(),
                k: 4,
            },
        );
        assert!(error(r).contains("not in the image tower"));
    }

    fn load_generated(e: &Engine<B>, store: &RefCell<SurveyStore>, count: usize, seed: u64) {
        let (r, _) = go(
            e,
            store,
            &Web::default(),
            SurveyTask::LoadImages {
                model: e.info().name.clone(),
                source: ImageSource::Generated { count, seed },
            },
        );
        assert!(matches!(done(r), SurveyResult::SetLoaded(s)
            if s.images == count && s.key == generated_key(count, seed)));
    }

    fn build_task(e: &Engine<B>, layer: &str, spec: &AtlasSpec) -> SurveyTask {
        build_from(e, layer, spec, None)
    }

    fn build_from(
        e: &Engine<B>,
        layer: &str,
        spec: &AtlasSpec,
        images: Option<ImageSource>,
    ) -> SurveyTask {
        SurveyTask::BuildAtlas {
            model: e.info().name.clone(),
            layer: layer.to_string(),
            spec: spec.clone(),
            images,
        }
    }

    fn icons_of(updates: &[SurveyUpdate]) -> Vec<CellIcon> {
        updates
            .iter()
            .flat_map(|u| match u {
                SurveyUpdate::Icons { icons, .. } => icons.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The same spec over the same set gives the same atlas, bit for bit: built twice by the
    /// worker (its layout stepped between turns of the event loop) and once natively with
    /// `modalscope-survey` in one piece. Each icon's score is the value its objective reached
    /// (recomputed from its 8-bit pixels it is nearly the same), goes into the export's
    /// `atlas.json` as computed and comes back with an import.
    #[test]
    fn atlases_are_reproducible_and_icon_scores_travel_with_them() {
        let e = engine();
        let layer = last_mlp(&e);
        let size = e.info().image_size;
        let spec = AtlasSpec {
            samples: 300,
            seed: 2,
            levels: vec![2, 4],
            min_count: 2,
            steps: 16,
        };
        let web = Web::default();
        let store = RefCell::new(SurveyStore::default());
        load_generated(&e, &store, 40, 1);
        let (r, updates) = go(&e, &store, &web, build_task(&e, &layer, &spec));
        let SurveyResult::Atlas(a) = done(r) else {
            panic!()
        };
        let atlas = store.borrow().atlases[&layer].atlas.clone();

        // Again in a fresh worker as a link builds it, the generated set loaded by the atlas
        // job itself: the same atlas.
        let again = RefCell::new(SurveyStore::default());
        let generated = Some(ImageSource::Generated { count: 40, seed: 1 });
        let (r, updates2) = go(
            &e,
            &again,
            &web,
            build_from(&e, &layer, &spec, generated.clone()),
        );
        done(r);
        assert!(
            updates2
                .iter()
                .any(|u| matches!(u, SurveyUpdate::SetLoaded(s)
            if s.key == generated_key(40, 1) && s.images == 40))
        );
        assert_eq!(again.borrow().atlases[&layer].atlas, atlas);
        assert_eq!(icons_of(&updates2), icons_of(&updates));
        // With that set loaded, it is not loaded again.
        let fewer_steps = AtlasSpec {
            steps: 1,
            ..spec.clone()
        };
        let (r, updates3) = go(
            &e,
            &again,
            &web,
            build_from(&e, &layer, &fewer_steps, generated),
        );
        done(r);
        assert!(
            !updates3
                .iter()
                .any(|u| matches!(u, SurveyUpdate::SetLoaded(_)))
        );
        // And natively, the layout in one piece.
        let set = ImageSet::generated(40, size as u32, 1).unwrap();
        let native = modalscope_survey::survey(
            e.clip(),
            set,
            PassConfig {
                layers: vec![layer.clone()],
                k: ATLAS_K,
                batch: BATCH,
                sampling: Some(Sampling {
                    layer: layer.clone(),
                    capacity: spec.samples,
                    seed: spec.seed,
                }),
            },
            |_| true,
        )
        .unwrap();
        let config = atlas_config(&spec, size);
        let built =
            modalscope_survey::build_atlas(native.samples.as_ref().unwrap(), &config, |_, _, _| {
                true
            })
            .unwrap();
        let bits = |a: &Atlas| {
            a.layout
                .iter()
                .flatten()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&built), bits(&atlas));
        assert_eq!(built.levels, atlas.levels);

        // Icon scores: measured for every icon, the objective's value on the icon.
        let icons = icons_of(&updates);
        assert_eq!(icons.len(), a.cells);
        for icon in &icons {
            let level = &atlas.levels[icon.level as usize];
            let cell = level.cell(icon.col, icon.row).unwrap();
            let score = icon.score.expect("a score");
            assert!(score.is_finite());
            let specificity = icon.specificity;
            assert_eq!(specificity.is_some(), level.cells.len() > 1);
            assert!(specificity.is_none_or(|p| (0.0..=1.0).contains(&p)));
            let objective = cell_objective(&layer, std::iter::once(&cell.mean[..]), &config.icons);
            let side = icon.image.width;
            let planes: Vec<f32> = (0..3)
                .flat_map(|ch| {
                    let bytes = &icon.image.bytes;
                    (0..side * side).map(move |q| f32::from(bytes[q * 4 + ch]) / 255.0)
                })
                .collect();
            let pixels =
                modalscope_survey::atlas::images_tensor::<B>(&planes, 1, side, &e.clip().device());
            let again = objective.scores(e.clip(), pixels).into_scalar();
            // (Measured: within 2 % for scores above 0.001, 1e-5 below.)
            assert!(
                (again - score).abs() <= 0.05 * score.abs() + 2e-5,
                "cell {:?}: score {score}, on its 8-bit pixels {again}",
                (icon.level, icon.col, icon.row)
            );
        }
        let specific: Vec<f32> = icons.iter().filter_map(|i| i.specificity).collect();
        eprintln!(
            "icon scores {:?}; mean specificity {:.3}",
            icons.iter().map(|i| i.score.unwrap()).collect::<Vec<_>>(),
            specific.iter().sum::<f32>() / specific.len() as f32
        );

        // The export's atlas.json holds each icon's score and specificity as computed.
        let model = e.info().name.clone();
        let (r, _) = go(
            &e,
            &store,
            &web,
            SurveyTask::Export {
                model: model.clone(),
                atlas_layer: Some(layer.clone()),
            },
        );
        let SurveyResult::Exported { bytes, .. } = done(r) else {
            panic!()
        };
        let files: HashMap<String, Vec<u8>> = zip_entries(&bytes).unwrap().into_iter().collect();
        let exported =
            Atlas::from_json(std::str::from_utf8(&files["atlas.json"]).unwrap()).unwrap();
        for icon in &icons {
            let c = exported.levels[icon.level as usize]
                .cell(icon.col, icon.row)
                .unwrap();
            assert_eq!(c.icon_score, icon.score);
            assert_eq!(c.icon_specificity, icon.specificity);
        }
        let text = String::from_utf8(files["atlas.json"].clone()).unwrap();
        assert!(text.contains("\"icon_score\"") && text.contains("\"icon_specificity\""));
        // An import keeps them.
        let (r, imported) = go(
            &e,
            &RefCell::new(SurveyStore::default()),
            &web,
            SurveyTask::Import {
                model,
                source: ImportSource::Zip {
                    name: "x.zip".into(),
                    bytes,
                },
            },
        );
        done(r);
        let back = icons_of(&imported);
        assert_eq!(back.len(), icons.len());
        for icon in &back {
            let mine = icons
                .iter()
                .find(|i| (i.level, i.col, i.row) == (icon.level, icon.col, icon.row))
                .unwrap();
            assert_eq!(
                (icon.score, icon.specificity),
                (mine.score, mine.specificity)
            );
        }
    }

    /// A cancel during the layout stops it at the next turn of the event loop, whether in the
    /// neighbour search or the SGD.
    #[test]
    fn a_layout_is_cancelled_within_a_slice() {
        let e = engine();
        let layer = last_mlp(&e);
        let store = RefCell::new(SurveyStore::default());
        load_generated(&e, &store, 40, 1);
        for (stage, at, samples) in [("layout: knn", 1, 2000), ("layout: optimize", 100, 300)] {
            let web = Web {
                tick_ms: 1.0,
                cancel_on: Some((stage.to_string(), at)),
                ..Web::default()
            };
            let spec = AtlasSpec {
                samples,
                seed: 1,
                levels: vec![2],
                min_count: 1,
                steps: 1,
            };
            let (r, updates) = go(&e, &store, &web, build_task(&e, &layer, &spec));
            assert_eq!(r, Response::Cancelled { job: 1, step: 0 }, "{stage}");
            let (yields, when) = web.cancelled_at.get().expect("the cancel was asked for");
            let ms = when.elapsed().as_secs_f64() * 1000.0;
            eprintln!("{stage}: stopped {ms:.1} ms after the cancel");
            // One more turn of the event loop, where the cancel is seen; no report after it.
            assert_eq!(web.host.yields.get(), yields + 1, "{stage}");
            let trigger = updates
                .iter()
                .position(|u| {
                    matches!(u, SurveyUpdate::Progress { stage: s, done, .. }
                        if s == stage && *done >= at)
                })
                .unwrap();
            assert_eq!(
                trigger,
                updates.len() - 1,
                "{stage}: {:?}",
                &updates[trigger..]
            );
            assert!(
                !updates
                    .iter()
                    .any(|u| matches!(u, SurveyUpdate::AtlasLayout(_)))
            );
            assert!(store.borrow().atlases.is_empty());
        }
    }
}
