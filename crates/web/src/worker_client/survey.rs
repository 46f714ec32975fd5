//! The page's side of survey jobs: the image set, the long job running (its progress, cancel),
//! which layers have dataset examples, the atlases with their icons as they arrive, a unit's
//! examples for the neuron page, exports and imports. Plain state changes, tested natively.

use std::collections::{BTreeMap, HashMap};

use leptos::prelude::*;

use super::WorkerClient;
use crate::protocol::{
    AtlasSpec, AtlasSummary, AtlasView, ExamplesSummary, ImageSource, ImportSummary, JobId,
    ModelSource, Request, Response, Rgba, SetSummary, SurveyResult, SurveyTask, SurveyUpdate,
    UnitExamples,
};

/// What a long survey job does, as the views tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyKind {
    /// Loading an image set.
    LoadImages,
    /// Dataset examples of a layer.
    Examples(String),
    /// An atlas of a layer.
    Atlas(String),
    /// Packing an export.
    Export,
    /// Reading an export.
    Import,
}

impl SurveyKind {
    /// The kind of a task (`None` for the quick unit examples).
    pub fn of(task: &SurveyTask) -> Option<Self> {
        Some(match task {
            SurveyTask::LoadImages { .. } => Self::LoadImages,
            SurveyTask::Examples { layer, .. } => Self::Examples(layer.clone()),
            SurveyTask::BuildAtlas { layer, .. } => Self::Atlas(layer.clone()),
            SurveyTask::Export { .. } => Self::Export,
            SurveyTask::Import { .. } => Self::Import,
            SurveyTask::UnitExamples { .. } => return None,
        })
    }

    /// What it does, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::LoadImages => "loading the image set".into(),
            Self::Examples(l) => format!("finding dataset examples of {l}"),
            Self::Atlas(l) => format!("building the atlas of {l}"),
            Self::Export => "packing the export".into(),
            Self::Import => "reading the export".into(),
        }
    }
}

/// Where a long survey job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SurveyJobState {
    /// Sent, no report yet.
    Starting,
    /// Reports are coming in.
    Running {
        /// What it does now.
        stage: String,
        /// Work done in the stage.
        done: usize,
        /// Work in the stage.
        total: usize,
    },
    /// Finished.
    Done,
    /// Stopped on request.
    Cancelled,
    /// Failed; the message says why.
    Failed(String),
}

impl SurveyJobState {
    /// The value of a view's `data-state` attribute.
    pub fn attr(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running { .. } => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Failed(_) => "error",
        }
    }

    /// Whether the worker may still send reports for it.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Starting | Self::Running { .. })
    }
}

/// The long survey job shown (the latest one started).
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyJob {
    /// The worker's job.
    pub job: JobId,
    /// What it does.
    pub kind: SurveyKind,
    /// Where it stands.
    pub state: SurveyJobState,
}

impl SurveyJob {
    /// One line for a status bar.
    pub fn status(&self) -> String {
        match &self.state {
            SurveyJobState::Starting => format!("{}…", self.kind.describe()),
            SurveyJobState::Running { stage, done, total } => {
                format!("{}: {stage} {done} / {total}", self.kind.describe())
            }
            SurveyJobState::Done => format!("done {}", self.kind.describe()),
            SurveyJobState::Cancelled => format!("cancelled {}", self.kind.describe()),
            SurveyJobState::Failed(m) => format!("{} failed: {m}", self.kind.describe()),
        }
    }
}

/// An atlas on the page: its cells and the icons that have arrived.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AtlasData {
    /// Grids and cells (`None` until the layout is done).
    pub view: Option<AtlasView>,
    /// Icons by (level, col, row).
    pub icons: HashMap<(u32, u32, u32), Rgba>,
    /// The icons' scores by (level, col, row).
    pub scores: HashMap<(u32, u32, u32), IconScore>,
    /// How it was built (`None` when imported).
    pub spec: Option<AtlasSpec>,
    /// The key of the image set it was built from (`None` when imported).
    pub set: Option<String>,
    /// The job that made it (each build or import is another).
    pub job: JobId,
    /// Timings once built.
    pub summary: Option<AtlasSummary>,
}

/// How far an icon got: the value of its objective (its cell's direction) and the share of
/// the level's other cells it matches less than its own.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IconScore {
    /// The objective's value on the icon.
    pub score: Option<f32>,
    /// Its specificity, in [0, 1].
    pub specificity: Option<f32>,
}

/// One unit's examples as the neuron page shows them.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitSlot {
    /// Not asked for.
    Idle,
    /// Asked for, under this job.
    Loading(JobId),
    /// Here.
    Ready(UnitExamples),
    /// Failed; the message says why.
    Failed(String),
}

/// A unit's examples asked for: (layer, unit) and where they go.
type UnitRequest = ((String, usize), RwSignal<UnitSlot>);

/// The page's survey state; cheap to copy, part of [`WorkerClient`].
#[derive(Clone, Copy)]
pub struct SurveyState {
    /// The loaded image set.
    pub set: RwSignal<Option<SetSummary>>,
    /// The long job shown.
    pub job: RwSignal<Option<SurveyJob>>,
    /// Layers with dataset examples.
    pub examples: RwSignal<BTreeMap<String, ExamplesSummary>>,
    /// Atlases by layer.
    pub atlases: RwSignal<HashMap<String, AtlasData>>,
    /// The last import.
    pub imported: RwSignal<Option<ImportSummary>>,
    /// The last export: file name, bytes, files.
    pub exported: RwSignal<Option<(String, usize, usize)>>,
    /// The model the examples and atlases belong to.
    model: StoredValue<Option<ModelSource>>,
    /// Unit-example requests by job.
    units: StoredValue<HashMap<JobId, UnitRequest>>,
    /// Unit examples received, by (layer, unit).
    unit_cache: StoredValue<HashMap<(String, usize), UnitExamples>>,
    /// The spec of the atlas job running and the key of the set it started on, by job.
    specs: StoredValue<HashMap<JobId, (AtlasSpec, Option<String>)>>,
}

impl SurveyState {
    /// Nothing loaded.
    pub fn new() -> Self {
        Self {
            set: RwSignal::new(None),
            job: RwSignal::new(None),
            examples: RwSignal::new(BTreeMap::new()),
            atlases: RwSignal::new(HashMap::new()),
            imported: RwSignal::new(None),
            exported: RwSignal::new(None),
            model: StoredValue::new(None),
            units: StoredValue::new(HashMap::new()),
            unit_cache: StoredValue::new(HashMap::new()),
            specs: StoredValue::new(HashMap::new()),
        }
    }

    /// Whether a long job is running.
    pub fn busy(&self) -> bool {
        self.job
            .with(|j| j.as_ref().is_some_and(|j| j.state.is_active()))
    }

    /// The settings of atlas job `job`, while it runs.
    pub fn atlas_spec(&self, job: JobId) -> Option<AtlasSpec> {
        self.specs
            .with_value(|s| s.get(&job).map(|(spec, _)| spec.clone()))
    }

    /// The job shown when it is of `kind`.
    pub fn job_of(&self, kind: &SurveyKind) -> Option<SurveyJob> {
        self.job
            .with(|j| j.as_ref().filter(|j| &j.kind == kind).cloned())
    }

    fn forget_unit_examples(&self, layer: Option<&str>) {
        self.unit_cache.update_value(|c| match layer {
            Some(l) => c.retain(|k, _| k.0 != l),
            None => c.clear(),
        });
    }

    /// Another model is loaded: its examples and atlases are not this one's (the set stays, as
    /// in the worker).
    fn model_changed(&self, source: &ModelSource) {
        if self.model.with_value(|m| m.as_ref() == Some(source)) {
            return;
        }
        let first = self.model.with_value(Option::is_none);
        self.model.set_value(Some(source.clone()));
        if !first {
            self.examples.set(BTreeMap::new());
            self.atlases.set(HashMap::new());
            self.imported.set(None);
            self.forget_unit_examples(None);
        }
    }

    fn set_loaded(&self, s: SetSummary) {
        self.set.set(Some(s));
        // The worker drops the examples of the old set (not imported ones).
        self.examples.update(|e| e.retain(|_, s| s.imported));
        self.forget_unit_examples(None);
    }

    fn finish(&self, job: JobId, result: SurveyResult) {
        match result {
            SurveyResult::SetLoaded(s) => self.set_loaded(s),
            SurveyResult::Examples(s) => {
                self.forget_unit_examples(Some(&s.layer));
                self.examples.update(|e| _ = e.insert(s.layer.clone(), s));
            }
            SurveyResult::Atlas(summary) => {
                let (spec, set) = self
                    .specs
                    .try_update_value(|s| s.remove(&job))
                    .flatten()
                    .unzip();
                if let Some(examples) = summary.examples.clone()
                    && !self
                        .examples
                        .with_untracked(|e| e.contains_key(&summary.layer))
                {
                    self.examples
                        .update(|e| _ = e.insert(summary.layer.clone(), examples));
                }
                self.atlases.update(|a| {
                    let data = a.entry(summary.layer.clone()).or_default();
                    data.spec = spec;
                    data.set = set.flatten();
                    data.summary = Some(summary);
                });
            }
            SurveyResult::Exported {
                file_name,
                bytes,
                files,
            } => {
                #[cfg(target_arch = "wasm32")]
                if let Err(e) =
                    crate::browser::download_bytes(&file_name, &bytes, "application/zip")
                {
                    leptos::logging::error!("modalscope: the export could not be saved: {e}");
                }
                self.exported.set(Some((file_name, bytes.len(), files)));
            }
            SurveyResult::Imported(s) => {
                self.examples.update(|e| {
                    for layer in &s.examples_layers {
                        e.insert(
                            layer.clone(),
                            ExamplesSummary {
                                layer: layer.clone(),
                                k: 0,
                                units: 0,
                                images: s.images,
                                summary: format!("imported ({} example images)", s.images),
                                elapsed_ms: 0.0,
                                imported: true,
                            },
                        );
                    }
                });
                for layer in &s.examples_layers {
                    self.forget_unit_examples(Some(layer));
                }
                self.imported.set(Some(s));
            }
            SurveyResult::UnitExamples(_) => {}
        }
    }

    /// Takes in a response; returns whether it was a survey job's (then nothing else wants
    /// it).
    pub fn receive(&self, response: &Response) -> bool {
        if let Response::ModelInfo { info, .. } = response {
            self.model_changed(&info.source);
            return false;
        }
        let Some(job) = response.job() else {
            return false;
        };
        // A unit's examples.
        if let Some((key, slot)) = self.units.with_value(|u| u.get(&job).cloned()) {
            let end = match response {
                Response::Survey {
                    update: SurveyUpdate::Done(SurveyResult::UnitExamples(u)),
                    ..
                } => {
                    self.unit_cache
                        .update_value(|c| _ = c.insert(key, u.clone()));
                    slot.try_set(UnitSlot::Ready(u.clone()));
                    true
                }
                Response::Cancelled { .. } => {
                    slot.try_set(UnitSlot::Idle);
                    true
                }
                Response::Error { message, .. } => {
                    slot.try_set(UnitSlot::Failed(message.clone()));
                    true
                }
                Response::Survey { .. } => false,
                _ => return false,
            };
            if end {
                self.units.update_value(|u| _ = u.remove(&job));
            }
            return true;
        }
        let current = self
            .job
            .with_untracked(|j| j.as_ref().map(|j| (j.job, j.state.is_active())));
        let Some((current, active)) = current.filter(|c| c.0 == job) else {
            // Late reports of a replaced job.
            return matches!(response, Response::Survey { .. });
        };
        if !active {
            return true;
        }
        let set_state = |state: SurveyJobState| {
            self.job.update(|j| {
                if let Some(j) = j.as_mut().filter(|j| j.job == current) {
                    j.state = state;
                }
            })
        };
        match response {
            Response::Survey { update, .. } => match update.clone() {
                SurveyUpdate::Progress { stage, done, total } => {
                    set_state(SurveyJobState::Running { stage, done, total })
                }
                SurveyUpdate::SetLoaded(summary) => self.set_loaded(summary),
                SurveyUpdate::AtlasLayout(view) => {
                    let (spec, set) = self.specs.with_value(|s| s.get(&job).cloned()).unzip();
                    self.atlases.update(|a| {
                        a.insert(
                            view.layer.clone(),
                            AtlasData {
                                view: Some(view),
                                icons: HashMap::new(),
                                scores: HashMap::new(),
                                spec,
                                set: set.flatten(),
                                job,
                                summary: None,
                            },
                        );
                    });
                }
                SurveyUpdate::Icons { layer, icons } => self.atlases.update(|a| {
                    if let Some(data) = a.get_mut(&layer) {
                        for icon in icons {
                            let key = (icon.level, icon.col, icon.row);
                            data.scores.insert(
                                key,
                                IconScore {
                                    score: icon.score,
                                    specificity: icon.specificity,
                                },
                            );
                            data.icons.insert(key, icon.image);
                        }
                    }
                }),
                SurveyUpdate::Done(result) => {
                    self.finish(job, result);
                    set_state(SurveyJobState::Done);
                }
            },
            Response::Cancelled { .. } => set_state(SurveyJobState::Cancelled),
            Response::Error { message, .. } => set_state(SurveyJobState::Failed(message.clone())),
            _ => return false,
        }
        true
    }

    /// The worker died: the job shown fails with it.
    pub fn fail(&self, message: &str) {
        self.job.update(|j| {
            if let Some(j) = j.as_mut().filter(|j| j.state.is_active()) {
                j.state = SurveyJobState::Failed(message.to_string());
            }
        });
        for (_, slot) in self
            .units
            .with_value(|u| u.values().cloned().collect::<Vec<_>>())
        {
            slot.try_set(UnitSlot::Failed(message.to_string()));
        }
    }
}

impl Default for SurveyState {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerClient {
    /// Starts a long survey job (the one running is cancelled, the worker does the same);
    /// returns its job. `UnitExamples` goes through [`Self::unit_examples`].
    pub fn start_survey(&self, task: SurveyTask) -> JobId {
        let job = self.job();
        let s = self.survey;
        if let Some(kind) = SurveyKind::of(&task) {
            // One long job at a time: the settings of the one replaced are not needed.
            s.specs.update_value(HashMap::clear);
            if let SurveyTask::BuildAtlas { spec, images, .. } = &task {
                let set = match images {
                    Some(ImageSource::Generated { count, seed }) => {
                        Some(crate::survey_jobs::generated_key(*count, *seed))
                    }
                    _ => s.set.with_untracked(|s| s.as_ref().map(|s| s.key.clone())),
                };
                s.specs
                    .update_value(|m| _ = m.insert(job, (spec.clone(), set)));
            }
            if let Some(running) = s
                .job
                .with_untracked(|j| j.as_ref().filter(|j| j.state.is_active()).map(|j| j.job))
            {
                self.send(Request::Cancel { job: running });
            }
            s.job.set(Some(SurveyJob {
                job,
                kind,
                state: SurveyJobState::Starting,
            }));
        }
        self.send(Request::Survey { job, task });
        job
    }

    /// Stops the long survey job running.
    pub fn cancel_survey(&self) {
        if let Some(job) = self
            .survey
            .job
            .with_untracked(|j| j.as_ref().filter(|j| j.state.is_active()).map(|j| j.job))
        {
            self.send(Request::Cancel { job });
        }
    }

    /// Asks for a unit's dataset examples, shown through `slot` (at once when received
    /// before).
    pub fn unit_examples(&self, model: &str, layer: &str, unit: usize, slot: RwSignal<UnitSlot>) {
        let key = (layer.to_string(), unit);
        if let Some(u) = self.survey.unit_cache.with_value(|c| c.get(&key).cloned()) {
            slot.set(UnitSlot::Ready(u));
            return;
        }
        let job = self.job();
        self.survey
            .units
            .update_value(|u| _ = u.insert(job, (key, slot)));
        slot.set(UnitSlot::Loading(job));
        self.send(Request::Survey {
            job,
            task: SurveyTask::UnitExamples {
                model: model.to_string(),
                layer: layer.to_string(),
                unit,
            },
        });
    }

    /// Drops a unit's examples that are no longer wanted (page left).
    pub fn cancel_unit_examples(&self, job: JobId) {
        if self
            .survey
            .units
            .try_update_value(|u| u.remove(&job))
            .flatten()
            .is_some()
        {
            self.send(Request::Cancel { job });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        AtlasCell, AtlasLevel, CellIcon, ExampleImage, ImageSource, ModelInfo, TopUnit,
    };

    fn rgba(v: u8) -> Rgba {
        Rgba {
            width: 1,
            height: 1,
            bytes: vec![v, v, v, 255],
        }
    }

    fn view(layer: &str) -> AtlasView {
        AtlasView {
            layer: layer.into(),
            dim: 4,
            samples: 10,
            levels: vec![AtlasLevel {
                size: 2,
                cells: vec![AtlasCell {
                    col: 1,
                    row: 0,
                    count: 6,
                    top: vec![TopUnit {
                        unit: 3,
                        weight: 0.5,
                    }],
                    labels: vec![],
                }],
            }],
            label_note: Some("hidden".into()),
            imported: false,
        }
    }

    fn survey(job: JobId, update: SurveyUpdate) -> Response {
        Response::Survey { job, update }
    }

    fn sent_last(c: &WorkerClient) -> Request {
        c.sent.get_value().last().cloned().unwrap()
    }

    #[test]
    fn a_set_examples_and_an_atlas_go_through_their_states() {
        let owner = Owner::new();
        owner.with(|| {
            let c = WorkerClient::detached();
            let s = c.survey;
            let job = c.start_survey(SurveyTask::LoadImages {
                model: "m".into(),
                source: ImageSource::Generated { count: 5, seed: 1 },
            });
            assert!(s.busy());
            c.receive(survey(
                job,
                SurveyUpdate::Progress {
                    stage: "checking files".into(),
                    done: 2,
                    total: 5,
                },
            ));
            assert_eq!(
                s.job.get_untracked().unwrap().status(),
                "loading the image set: checking files 2 / 5"
            );
            let summary = SetSummary {
                label: "generated".into(),
                key: "generated:5:1".into(),
                items: 5,
                images: 5,
                skipped: 0,
                skipped_examples: vec![],
                summary: "5 images".into(),
            };
            c.receive(survey(
                job,
                SurveyUpdate::Done(SurveyResult::SetLoaded(summary.clone())),
            ));
            assert_eq!(s.set.get_untracked(), Some(summary));
            assert!(!s.busy());

            // An atlas: the layout, icons as they come, the summary with its examples.
            let spec = AtlasSpec {
                samples: 100,
                seed: 0,
                levels: vec![2],
                min_count: 1,
                steps: 4,
            };
            let job = c.start_survey(SurveyTask::BuildAtlas {
                model: "m".into(),
                layer: "l".into(),
                spec: spec.clone(),
                images: None,
            });
            c.receive(survey(job, SurveyUpdate::AtlasLayout(view("l"))));
            c.receive(survey(
                job,
                SurveyUpdate::Icons {
                    layer: "l".into(),
                    icons: vec![CellIcon {
                        level: 0,
                        col: 1,
                        row: 0,
                        image: rgba(9),
                        score: Some(1.5),
                        specificity: Some(0.75),
                    }],
                },
            ));
            let data = s.atlases.get_untracked()["l"].clone();
            assert_eq!(data.view, Some(view("l")));
            assert_eq!(data.icons[&(0, 1, 0)], rgba(9));
            assert_eq!(
                data.scores[&(0, 1, 0)],
                IconScore {
                    score: Some(1.5),
                    specificity: Some(0.75)
                }
            );
            assert_eq!(data.spec, Some(spec.clone()));
            // The set it was built from, for the link.
            assert_eq!(data.set.as_deref(), Some("generated:5:1"));
            let examples = ExamplesSummary {
                layer: "l".into(),
                k: 8,
                units: 4,
                images: 5,
                summary: "5 images".into(),
                elapsed_ms: 3.0,
                imported: false,
            };
            c.receive(survey(
                job,
                SurveyUpdate::Done(SurveyResult::Atlas(AtlasSummary {
                    layer: "l".into(),
                    cells: 1,
                    icons: 1,
                    images: 5,
                    samples: 100,
                    stages: vec![("pass".into(), 1.0)],
                    examples: Some(examples.clone()),
                })),
            ));
            assert!(s.atlases.get_untracked()["l"].summary.is_some());
            assert_eq!(s.examples.get_untracked()["l"], examples);

            // A unit's examples: asked once, then from the cache.
            let slot = RwSignal::new(UnitSlot::Idle);
            c.unit_examples("m", "l", 2, slot);
            let UnitSlot::Loading(ujob) = slot.get_untracked() else {
                panic!()
            };
            let unit = UnitExamples {
                layer: "l".into(),
                unit: 2,
                grid: [1, 1],
                examples: vec![ExampleImage {
                    name: "a".into(),
                    score: 1.0,
                    position: 0,
                    image: rgba(1),
                    map: vec![255],
                }],
                source: "generated".into(),
            };
            // Its reports do not touch the long job.
            let long = c.start_survey(SurveyTask::Examples {
                model: "m".into(),
                layer: "l".into(),
                k: 4,
            });
            assert!(c.survey.receive(&survey(
                ujob,
                SurveyUpdate::Done(SurveyResult::UnitExamples(unit.clone()))
            )));
            assert_eq!(slot.get_untracked(), UnitSlot::Ready(unit.clone()));
            assert_eq!(s.job.get_untracked().unwrap().job, long);
            let sent = c.sent.get_value().len();
            let again = RwSignal::new(UnitSlot::Idle);
            c.unit_examples("m", "l", 2, again);
            assert_eq!(again.get_untracked(), UnitSlot::Ready(unit));
            assert_eq!(c.sent.get_value().len(), sent);
            // New examples of the layer: the unit is asked again.
            c.receive(survey(
                long,
                SurveyUpdate::Done(SurveyResult::Examples(examples.clone())),
            ));
            c.unit_examples("m", "l", 2, again);
            assert!(matches!(again.get_untracked(), UnitSlot::Loading(_)));

            // The settings of the atlas job running are known while it runs.
            let atlas = c.start_survey(SurveyTask::BuildAtlas {
                model: "m".into(),
                layer: "l".into(),
                spec: spec.clone(),
                images: None,
            });
            assert_eq!(s.atlas_spec(atlas), Some(spec.clone()));
            // Cancel: sent for the running job; a newer job cancels the older one.
            let a = c.start_survey(SurveyTask::Export {
                model: "m".into(),
                atlas_layer: None,
            });
            c.cancel_survey();
            assert_eq!(sent_last(&c), Request::Cancel { job: a });
            let b = c.start_survey(SurveyTask::Export {
                model: "m".into(),
                atlas_layer: None,
            });
            assert_eq!(s.atlas_spec(atlas), None);
            assert!(c.sent.get_value().contains(&Request::Cancel { job: a }));
            // The old job's late answer changes nothing.
            c.receive(Response::Cancelled { job: a, step: 0 });
            assert_eq!(s.job.get_untracked().unwrap().job, b);
            c.receive(Response::Error {
                job: Some(b),
                message: "nothing to export".into(),
            });
            assert_eq!(
                s.job.get_untracked().unwrap().state,
                SurveyJobState::Failed("nothing to export".into())
            );

            // Another model: its examples and atlases are gone; the set stays.
            let info = |source| ModelInfo {
                source,
                name: "m".into(),
                bytes: 0,
                vocabulary: 0,
                architecture: String::new(),
                image_size: 64,
                layers: vec![],
            };
            c.receive(Response::ModelInfo {
                job: 99,
                info: info(ModelSource::Builtin),
            });
            assert!(!s.examples.get_untracked().is_empty());
            c.receive(Response::ModelInfo {
                job: 100,
                info: info(ModelSource::Url("http://x/m.msb".into())),
            });
            assert!(s.examples.get_untracked().is_empty());
            assert!(s.atlases.get_untracked().is_empty());
            assert!(s.set.get_untracked().is_some());
        });
    }

    #[test]
    fn imports_show_their_examples_and_a_dead_worker_ends_the_job() {
        let owner = Owner::new();
        owner.with(|| {
            let c = WorkerClient::detached();
            let s = c.survey;
            let job = c.start_survey(SurveyTask::Import {
                model: "m".into(),
                source: crate::protocol::ImportSource::Url {
                    url: "http://h/manifest.json".into(),
                },
            });
            c.receive(survey(
                job,
                SurveyUpdate::AtlasLayout(view("vision.embeds")),
            ));
            let summary = ImportSummary {
                model: "m".into(),
                examples_layers: vec!["l".into()],
                atlas_layer: Some("vision.embeds".into()),
                images: 7,
                icons: 0,
                note: None,
            };
            c.receive(survey(
                job,
                SurveyUpdate::Done(SurveyResult::Imported(summary.clone())),
            ));
            assert_eq!(s.imported.get_untracked(), Some(summary));
            assert!(s.examples.get_untracked()["l"].imported);
            assert!(s.atlases.get_untracked()["vision.embeds"].spec.is_none());
            let slot = RwSignal::new(UnitSlot::Idle);
            c.unit_examples("m", "l", 0, slot);
            c.start_survey(SurveyTask::Examples {
                model: "m".into(),
                layer: "l".into(),
                k: 2,
            });
            c.fail("the model worker crashed".into());
            assert_eq!(s.job.get_untracked().unwrap().state.attr(), "error");
            assert!(matches!(slot.get_untracked(), UnitSlot::Failed(_)));
        });
    }
}
