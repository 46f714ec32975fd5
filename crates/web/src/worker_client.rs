//! The page's side of the worker: sends requests, turns responses into reactive state.
//!
//! The state changes ([`RenderView::apply`], [`WorkerClient::receive`]) are plain Rust and
//! tested natively; the connection to the real worker exists only in the browser
//! (`browser.rs`, wasm only).

use std::collections::HashMap;

use leptos::prelude::*;

use crate::protocol::{
    AnalysisResult, AnalysisTask, BackendInfo, JobId, ModelInfo, ModelSource, RenderSpec, Request,
    Response, Rgba, WordScore,
};

mod survey;
pub use survey::*;

/// Where the worker stands.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerState {
    /// The worker script is loading.
    Starting,
    /// The worker runs.
    Alive,
    /// The worker failed or died; the message says what happened.
    Dead(String),
}

/// Where the loading of the wanted model stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadState {
    /// Nothing is loading (the wanted model is loaded, or nothing was asked yet).
    Idle,
    /// The worker loads (and for a URL, downloads) a model.
    Loading {
        /// The load's job.
        job: JobId,
        /// What loads.
        source: ModelSource,
        /// Bytes received.
        received: u64,
        /// Bytes in all, when known.
        total: Option<u64>,
        /// Whether the bytes come from the browser's cache.
        cached: bool,
    },
    /// The load failed; the message says why.
    Failed {
        /// What failed to load.
        source: ModelSource,
        /// Why, in words.
        message: String,
    },
    /// The load was cancelled.
    Cancelled {
        /// What was being loaded.
        source: ModelSource,
    },
}

/// Where a render stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderState {
    /// Sent, no report yet.
    Starting,
    /// Reports are coming in.
    Running,
    /// Finished.
    Done,
    /// Stopped on request.
    Cancelled,
    /// Failed; the message says why.
    Failed(String),
}

impl RenderState {
    /// The value of the canvas' `data-state` attribute.
    pub fn attr(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Failed(_) => "error",
        }
    }

    /// Whether the worker may still send reports for it.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Starting | Self::Running)
    }
}

/// The text-tower probe of a finished render.
#[derive(Debug, Clone, PartialEq)]
pub enum Words {
    /// The best words, and how many were compared.
    Found(Vec<WordScore>, usize),
    /// The probe failed.
    Failed(String),
}

/// One render as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderView {
    /// The job the worker works on.
    pub job: JobId,
    /// What was asked for.
    pub spec: RenderSpec,
    /// Where it stands.
    pub state: RenderState,
    /// Steps done.
    pub step: usize,
    /// Objective at the last report.
    pub value: Option<f32>,
    /// The latest images.
    pub image: Option<Rgba>,
    /// Wall time once done.
    pub elapsed_ms: Option<f64>,
    /// The words closest to the finished images.
    pub words: Option<Words>,
}

impl RenderView {
    /// A render just sent.
    pub fn new(job: JobId, spec: RenderSpec) -> Self {
        Self {
            job,
            spec,
            state: RenderState::Starting,
            step: 0,
            value: None,
            image: None,
            elapsed_ms: None,
            words: None,
        }
    }

    /// Takes in a response; returns whether it was about this render. Reports for other jobs
    /// and late reports after the render ended are ignored (but for the words that follow
    /// `Done`).
    pub fn apply(&mut self, response: &Response) -> bool {
        if response.job() != Some(self.job) {
            return false;
        }
        if self.state == RenderState::Done && self.words.is_none() {
            match response {
                Response::Words {
                    words, vocabulary, ..
                } => {
                    self.words = Some(Words::Found(words.clone(), *vocabulary));
                    return true;
                }
                Response::Error { message, .. } => {
                    self.words = Some(Words::Failed(message.clone()));
                    return true;
                }
                _ => return false,
            }
        }
        if !self.state.is_active() {
            return false;
        }
        match response {
            Response::Progress {
                step,
                value,
                preview,
                ..
            } => {
                self.state = RenderState::Running;
                self.step = *step;
                self.value = Some(*value);
                self.image = Some(preview.clone());
            }
            Response::Done {
                steps,
                value,
                image,
                elapsed_ms,
                ..
            } => {
                self.state = RenderState::Done;
                self.step = *steps;
                self.value = Some(*value);
                self.image = Some(image.clone());
                self.elapsed_ms = Some(*elapsed_ms);
            }
            Response::Cancelled { step, .. } => {
                self.state = RenderState::Cancelled;
                self.step = *step;
            }
            Response::Error { message, .. } => self.state = RenderState::Failed(message.clone()),
            _ => return false,
        }
        true
    }
}

/// Where an analysis stands.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisState {
    /// Sent, no report yet.
    Starting,
    /// Reports are coming in.
    Running {
        /// What it does now.
        stage: String,
        /// Work done.
        done: usize,
        /// Work in all.
        total: usize,
    },
    /// Finished.
    Done {
        /// What it found.
        result: Box<AnalysisResult>,
        /// Wall time in the worker.
        elapsed_ms: f64,
    },
    /// Stopped on request.
    Cancelled,
    /// Failed; the message says why.
    Failed(String),
}

impl AnalysisState {
    /// The value of the view's `data-state` attribute.
    pub fn attr(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running { .. } => "running",
            Self::Done { .. } => "done",
            Self::Cancelled => "cancelled",
            Self::Failed(_) => "error",
        }
    }

    /// Whether the worker may still send reports for it.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Starting | Self::Running { .. })
    }
}

/// One analysis as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisView {
    /// The job the worker works on.
    pub job: JobId,
    /// What was asked for.
    pub task: AnalysisTask,
    /// Where it stands.
    pub state: AnalysisState,
}

impl AnalysisView {
    /// An analysis just sent.
    pub fn new(job: JobId, task: AnalysisTask) -> Self {
        Self {
            job,
            task,
            state: AnalysisState::Starting,
        }
    }

    /// Takes in a response; returns whether it changed this analysis. Reports for other jobs,
    /// and late reports after the analysis ended, are ignored.
    pub fn apply(&mut self, response: &Response) -> bool {
        if response.job() != Some(self.job) || !self.state.is_active() {
            return false;
        }
        self.state = match response {
            Response::AnalysisProgress {
                stage, done, total, ..
            } => AnalysisState::Running {
                stage: stage.clone(),
                done: *done,
                total: *total,
            },
            Response::Analysis {
                result, elapsed_ms, ..
            } => AnalysisState::Done {
                result: Box::new(result.clone()),
                elapsed_ms: *elapsed_ms,
            },
            Response::Cancelled { .. } => AnalysisState::Cancelled,
            Response::Error { message, .. } => AnalysisState::Failed(message.clone()),
            _ => return false,
        };
        true
    }
}

/// Which thumbnail: model source, layer and unit.
pub type ThumbKey = (ModelSource, String, usize);

/// Where one thumbnail of a layer's grid stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Thumb {
    /// Not asked for (not scrolled into view yet).
    Idle,
    /// Asked for, under this job.
    Queued(JobId),
    /// Rendered.
    Done(Rgba),
    /// Failed; the message says why.
    Failed(String),
}

impl Thumb {
    /// The value of the cell's `data-thumb` attribute.
    pub fn attr(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Queued(_) => "queued",
            Self::Done(_) => "done",
            Self::Failed(_) => "error",
        }
    }
}

/// The page's handle on the worker; cheap to copy, provided as context.
#[derive(Clone, Copy)]
pub struct WorkerClient {
    /// Where the worker stands.
    pub worker: RwSignal<WorkerState>,
    /// The backend the worker chose, once it has.
    pub backend: RwSignal<Option<BackendInfo>>,
    /// The loaded model.
    pub model: RwSignal<Option<ModelInfo>>,
    /// The model the page wants (from the link).
    pub wanted: RwSignal<ModelSource>,
    /// Where loading the wanted model stands.
    pub load: RwSignal<LoadState>,
    /// The render shown (the latest one started).
    pub render: RwSignal<Option<RenderView>>,
    /// The analysis shown (the latest one started).
    pub analysis: RwSignal<Option<AnalysisView>>,
    /// Image sets, dataset examples, atlases, export and import.
    pub survey: SurveyState,
    /// Thumbnails asked for, by job.
    thumbs: StoredValue<HashMap<JobId, (ThumbKey, RwSignal<Thumb>)>>,
    /// Thumbnails rendered, kept for when the layer is shown again.
    thumb_cache: StoredValue<HashMap<ThumbKey, Rgba>>,
    next_job: StoredValue<JobId>,
    /// What was sent (natively and in tests).
    #[cfg(any(test, not(target_arch = "wasm32")))]
    sent: StoredValue<Vec<Request>>,
    #[cfg(target_arch = "wasm32")]
    connection: StoredValue<Option<crate::browser::Connection>, LocalStorage>,
}

impl WorkerClient {
    /// A client with no worker (natively, and before the browser connects one).
    pub fn detached() -> Self {
        Self {
            worker: RwSignal::new(WorkerState::Starting),
            backend: RwSignal::new(None),
            model: RwSignal::new(None),
            wanted: RwSignal::new(ModelSource::Builtin),
            load: RwSignal::new(LoadState::Idle),
            render: RwSignal::new(None),
            analysis: RwSignal::new(None),
            survey: SurveyState::new(),
            thumbs: StoredValue::new(HashMap::new()),
            thumb_cache: StoredValue::new(HashMap::new()),
            next_job: StoredValue::new(1),
            #[cfg(any(test, not(target_arch = "wasm32")))]
            sent: StoredValue::new(Vec::new()),
            #[cfg(target_arch = "wasm32")]
            connection: StoredValue::new_local(None),
        }
    }

    /// Starts the worker (in the browser); requests wait until it listens.
    pub fn start() -> Self {
        let client = Self::detached();
        #[cfg(target_arch = "wasm32")]
        {
            let on_response = move |r: Response| client.receive(r);
            let on_failure = move |m: String| client.fail(m);
            match crate::browser::Connection::open(on_response, on_failure) {
                Ok(c) => client.connection.set_value(Some(c)),
                Err(m) => client.fail(m),
            }
        }
        client
    }

    fn job(&self) -> JobId {
        let job = self.next_job.get_value();
        self.next_job.set_value(job.wrapping_add(1));
        job
    }

    fn send(&self, request: Request) {
        #[cfg(target_arch = "wasm32")]
        self.connection.with_value(|c| {
            if let Some(c) = c {
                c.send(&request);
            }
        });
        #[cfg(any(test, not(target_arch = "wasm32")))]
        self.sent.update_value(|s| s.push(request));
    }

    /// Whether the wanted model is the one loaded.
    pub fn has_wanted_model(&self) -> bool {
        let wanted = self.wanted.get();
        self.model
            .with(|m| m.as_ref().is_some_and(|m| m.source == wanted))
    }

    /// Asks for the model of `source` (the link's); loads it unless it is loaded or loading.
    pub fn want(&self, source: ModelSource) {
        if self.wanted.get_untracked() != source {
            self.wanted.set(source);
            // A failure or cancellation of an earlier source is forgotten.
            if !matches!(self.load.get_untracked(), LoadState::Loading { .. }) {
                self.load.set(LoadState::Idle);
            }
        }
        self.ensure_load();
    }

    /// Loads the wanted model unless it is loaded, loading, or failed to load (see
    /// [`Self::retry`]).
    fn ensure_load(&self) {
        let wanted = self.wanted.get_untracked();
        let loaded = self
            .model
            .with_untracked(|m| m.as_ref().map(|m| m.source.clone()));
        if matches!(self.worker.get_untracked(), WorkerState::Dead(_)) {
            return;
        }
        match self.load.get_untracked() {
            LoadState::Loading { source, job, .. } => {
                if source == wanted {
                    return;
                }
                self.send(Request::Cancel { job });
            }
            LoadState::Failed { source, .. } | LoadState::Cancelled { source } => {
                if source == wanted {
                    return;
                }
            }
            LoadState::Idle => {
                if loaded.as_ref() == Some(&wanted) {
                    return;
                }
            }
        }
        if loaded.as_ref() == Some(&wanted) {
            self.load.set(LoadState::Idle);
            return;
        }
        let job = self.job();
        // The worker drops its model when another starts loading.
        self.model.set(None);
        self.send(match &wanted {
            ModelSource::Builtin => Request::LoadBuiltin { job },
            ModelSource::Url(url) => Request::LoadUrl {
                job,
                url: url.clone(),
            },
        });
        self.load.set(LoadState::Loading {
            job,
            source: wanted,
            received: 0,
            total: None,
            cached: false,
        });
    }

    /// Tries the wanted model again after a failure or a cancellation.
    pub fn retry(&self) {
        self.load.set(LoadState::Idle);
        self.ensure_load();
    }

    /// Stops loading (downloading) a model.
    pub fn cancel_load(&self) {
        if let LoadState::Loading { job, source, .. } = self.load.get_untracked() {
            self.send(Request::Cancel { job });
            self.load.set(LoadState::Cancelled { source });
        }
    }

    /// Starts a render (cancelling the one shown, the worker does the same); returns its job.
    pub fn start_render(&self, spec: RenderSpec) -> JobId {
        let job = self.job();
        self.render.set(Some(RenderView::new(job, spec.clone())));
        self.send(Request::Render { job, spec });
        job
    }

    /// Asks the worker to stop a render.
    pub fn cancel(&self, job: JobId) {
        let active = self.render.with_untracked(|r| {
            r.as_ref()
                .is_some_and(|r| r.job == job && r.state.is_active())
        });
        if active {
            self.send(Request::Cancel { job });
        }
    }

    /// Starts an analysis (the worker cancels the one running); returns its job.
    pub fn start_analysis(&self, task: AnalysisTask) -> JobId {
        let job = self.job();
        self.analysis
            .set(Some(AnalysisView::new(job, task.clone())));
        self.send(Request::Analyze { job, task });
        job
    }

    /// Asks the worker to stop an analysis.
    pub fn cancel_analysis(&self, job: JobId) {
        let active = self.analysis.with_untracked(|a| {
            a.as_ref()
                .is_some_and(|a| a.job == job && a.state.is_active())
        });
        if active {
            self.send(Request::Cancel { job });
        }
    }

    /// Asks for the thumbnail of a unit, shown through `slot` (at once when rendered before).
    pub fn thumbnail(&self, model: &str, layer: &str, unit: usize, slot: RwSignal<Thumb>) {
        let Some(source) = self
            .model
            .with_untracked(|m| m.as_ref().map(|m| m.source.clone()))
        else {
            return;
        };
        let key: ThumbKey = (source, layer.to_string(), unit);
        if let Some(image) = self.thumb_cache.with_value(|c| c.get(&key).cloned()) {
            slot.set(Thumb::Done(image));
            return;
        }
        let job = self.job();
        self.thumbs.update_value(|t| {
            t.insert(job, (key, slot));
        });
        slot.set(Thumb::Queued(job));
        self.send(Request::Thumbnail {
            job,
            model: model.to_string(),
            layer: layer.to_string(),
            unit,
        });
    }

    /// The thumbnail of a unit, if it was rendered before.
    pub fn cached_thumbnail(&self, layer: &str, unit: usize) -> Option<Rgba> {
        let source = self
            .model
            .with_untracked(|m| m.as_ref().map(|m| m.source.clone()))?;
        let key: ThumbKey = (source, layer.to_string(), unit);
        self.thumb_cache.with_value(|c| c.get(&key).cloned())
    }

    /// Drops a thumbnail that is no longer wanted (scrolled away, page left).
    pub fn cancel_thumbnail(&self, job: JobId) {
        if self
            .thumbs
            .try_update_value(|t| t.remove(&job))
            .flatten()
            .is_some()
        {
            self.send(Request::Cancel { job });
        }
    }

    fn load_job(&self) -> Option<(JobId, ModelSource)> {
        match self.load.get_untracked() {
            LoadState::Loading { job, source, .. } => Some((job, source)),
            _ => None,
        }
    }

    /// Takes in one response from the worker.
    pub fn receive(&self, response: Response) {
        if self.survey.receive(&response) {
            return;
        }
        let job = response.job();
        let load = self.load_job();
        let is_load = job.is_some() && job == load.as_ref().map(|l| l.0);
        if let Some((key, slot)) = job.and_then(|j| self.thumbs.with_value(|t| t.get(&j).cloned()))
        {
            let done = match &response {
                Response::Thumbnail { image, .. } => {
                    self.thumb_cache
                        .update_value(|c| _ = c.insert(key, image.clone()));
                    slot.try_set(Thumb::Done(image.clone()));
                    true
                }
                Response::Cancelled { .. } => {
                    slot.try_set(Thumb::Idle);
                    true
                }
                Response::Error { message, .. } => {
                    slot.try_set(Thumb::Failed(message.clone()));
                    true
                }
                _ => false,
            };
            if done {
                self.thumbs
                    .update_value(|t| _ = t.remove(&job.expect("a thumbnail job")));
            }
            return;
        }
        match &response {
            Response::Alive => self.worker.set(WorkerState::Alive),
            Response::Ready { backend, .. } => {
                if self.backend.with_untracked(|b| b.as_ref() != Some(backend)) {
                    self.backend.set(Some(backend.clone()));
                }
            }
            Response::ModelInfo { info, .. } if is_load => {
                self.model.set(Some(info.clone()));
                self.load.set(LoadState::Idle);
            }
            Response::Download {
                received,
                total,
                cached,
                ..
            } if is_load => self.load.update(|l| {
                if let LoadState::Loading {
                    received: r,
                    total: t,
                    cached: c,
                    ..
                } = l
                {
                    (*r, *t, *c) = (*received, *total, *cached);
                }
            }),
            Response::Error { job: None, message } => self.fail(message.clone()),
            Response::Error { message, .. } if is_load => {
                let source = load.expect("a load runs").1;
                self.load.set(LoadState::Failed {
                    source,
                    message: message.clone(),
                });
            }
            Response::Cancelled { .. } if is_load => {
                let source = load.expect("a load runs").1;
                self.load.set(LoadState::Cancelled { source });
            }
            _ => {
                let analysis = job.is_some()
                    && self
                        .analysis
                        .with_untracked(|a| a.as_ref().map(|a| a.job) == job);
                if analysis {
                    self.analysis
                        .maybe_update(|a| a.as_mut().is_some_and(|a| a.apply(&response)));
                } else {
                    self.render.update(|r| {
                        if let Some(r) = r {
                            r.apply(&response);
                        }
                    });
                }
            }
        }
    }

    /// The worker is gone or unusable: say so, and end the render shown and the load. The
    /// first failure is kept (a panic's message comes first; the trap that follows says only
    /// "unreachable").
    pub fn fail(&self, message: String) {
        if matches!(self.worker.get_untracked(), WorkerState::Dead(_)) {
            return;
        }
        let message = if message.contains("unreachable") || message.contains("memory") {
            format!("{message} (it probably ran out of memory)")
        } else {
            message
        };
        self.render.update(|r| {
            if let Some(r) = r.as_mut().filter(|r| r.state.is_active()) {
                r.state = RenderState::Failed(message.clone());
            }
        });
        self.analysis.update(|a| {
            if let Some(a) = a.as_mut().filter(|a| a.state.is_active()) {
                a.state = AnalysisState::Failed(message.clone());
            }
        });
        if let Some((_, source)) = self.load_job() {
            self.load.set(LoadState::Failed {
                source,
                message: message.clone(),
            });
        }
        self.survey.fail(&message);
        self.worker.set(WorkerState::Dead(message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BackendKind, UnitObjective};

    fn spec() -> RenderSpec {
        RenderSpec {
            model: "m".into(),
            layer: "l".into(),
            unit: 1,
            objective: UnitObjective::Neuron,
            seed: 0,
            steps: 8,
            size: 2,
            batch: 1,
            progress_every: 2,
        }
    }

    fn image(v: u8) -> Rgba {
        Rgba {
            width: 1,
            height: 1,
            bytes: vec![v, v, v, 255],
        }
    }

    fn info(source: ModelSource) -> ModelInfo {
        ModelInfo {
            source,
            name: "m".into(),
            bytes: 10,
            vocabulary: 3,
            architecture: "ViT".into(),
            image_size: 64,
            layers: vec![],
        }
    }

    fn backend() -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Cpu,
            name: "CPU".into(),
            fallback_reason: None,
            check: None,
        }
    }

    #[test]
    fn a_render_goes_through_its_states_and_gets_words() {
        let mut r = RenderView::new(4, spec());
        assert!(r.apply(&Response::Progress {
            job: 4,
            step: 2,
            steps: 8,
            value: 0.5,
            preview: image(1),
        }));
        assert_eq!((r.state.attr(), r.step), ("running", 2));
        assert!(r.apply(&Response::Done {
            job: 4,
            steps: 8,
            value: 0.9,
            image: image(2),
            elapsed_ms: 10.0,
        }));
        assert_eq!(r.state, RenderState::Done);
        assert_eq!(r.image, Some(image(2)));
        // Nothing changes a finished render but its words.
        assert!(!r.apply(&Response::Cancelled { job: 4, step: 3 }));
        assert_eq!(r.state, RenderState::Done);
        let words = vec![WordScore {
            word: "red".into(),
            score: 0.5,
        }];
        assert!(r.apply(&Response::Words {
            job: 4,
            words: words.clone(),
            vocabulary: 3
        }));
        assert_eq!(r.words, Some(Words::Found(words, 3)));
    }

    #[test]
    fn stale_reports_are_ignored() {
        let mut r = RenderView::new(5, spec());
        assert!(!r.apply(&Response::Progress {
            job: 4,
            step: 2,
            steps: 8,
            value: 0.5,
            preview: image(1),
        }));
        assert_eq!(r.state, RenderState::Starting);
        assert!(r.apply(&Response::Error {
            job: Some(5),
            message: "no unit 9".into()
        }));
        assert_eq!(r.state.attr(), "error");
    }

    #[test]
    fn the_client_loads_what_the_link_wants() {
        let owner = Owner::new();
        owner.with(|| {
            let c = WorkerClient::detached();
            c.want(ModelSource::Builtin);
            c.receive(Response::Alive);
            let LoadState::Loading { job, .. } = c.load.get_untracked() else {
                panic!("{:?}", c.load.get_untracked())
            };
            assert_eq!(c.sent.get_value(), vec![Request::LoadBuiltin { job }]);
            // Asking again while it loads sends nothing more.
            c.want(ModelSource::Builtin);
            assert_eq!(c.sent.get_value().len(), 1);
            c.receive(Response::Ready {
                job,
                backend: backend(),
            });
            c.receive(Response::ModelInfo {
                job,
                info: info(ModelSource::Builtin),
            });
            assert_eq!(c.load.get_untracked(), LoadState::Idle);
            assert!(c.has_wanted_model());

            // A URL: progress, then a failure that stays until retried.
            let url = ModelSource::Url("http://x/m.msb".into());
            c.want(url.clone());
            assert!(!c.has_wanted_model());
            let LoadState::Loading { job, .. } = c.load.get_untracked() else {
                panic!()
            };
            c.receive(Response::Download {
                job,
                received: 5,
                total: Some(10),
                cached: false,
            });
            assert!(matches!(
                c.load.get_untracked(),
                LoadState::Loading {
                    received: 5,
                    total: Some(10),
                    ..
                }
            ));
            c.receive(Response::Error {
                job: Some(job),
                message: "the server answered 404".into(),
            });
            assert_eq!(
                c.load.get_untracked(),
                LoadState::Failed {
                    source: url.clone(),
                    message: "the server answered 404".into()
                }
            );
            let sent = c.sent.get_value().len();
            c.want(url.clone());
            assert_eq!(c.sent.get_value().len(), sent, "no retry without asking");
            c.retry();
            assert_eq!(c.sent.get_value().len(), sent + 1);
            c.cancel_load();
            assert_eq!(
                c.load.get_untracked(),
                LoadState::Cancelled {
                    source: url.clone()
                }
            );
            // Back to the built-in model: loaded again (the worker dropped it).
            c.want(ModelSource::Builtin);
            assert!(matches!(
                c.sent.get_value().last(),
                Some(Request::LoadBuiltin { .. })
            ));
        });
    }

    #[test]
    fn thumbnails_fill_their_slots_and_are_kept() {
        let owner = Owner::new();
        owner.with(|| {
            let c = WorkerClient::detached();
            c.model.set(Some(info(ModelSource::Builtin)));
            let slot = RwSignal::new(Thumb::Idle);
            c.thumbnail("m", "l", 3, slot);
            let Thumb::Queued(job) = slot.get_untracked() else {
                panic!()
            };
            c.receive(Response::Thumbnail {
                job,
                image: image(7),
            });
            assert_eq!(slot.get_untracked(), Thumb::Done(image(7)));
            assert_eq!(c.cached_thumbnail("l", 3), Some(image(7)));
            // Shown again: from the cache, nothing sent.
            let sent = c.sent.get_value().len();
            let again = RwSignal::new(Thumb::Idle);
            c.thumbnail("m", "l", 3, again);
            assert_eq!(again.get_untracked(), Thumb::Done(image(7)));
            assert_eq!(c.sent.get_value().len(), sent);
            // Cancelled before it was rendered.
            let other = RwSignal::new(Thumb::Idle);
            c.thumbnail("m", "l", 4, other);
            let Thumb::Queued(job) = other.get_untracked() else {
                panic!()
            };
            c.cancel_thumbnail(job);
            assert_eq!(c.sent.get_value().last(), Some(&Request::Cancel { job }));
            // A late answer for it changes nothing.
            c.receive(Response::Thumbnail {
                job,
                image: image(9),
            });
            assert_eq!(c.cached_thumbnail("l", 4), None);
        });
    }

    fn task() -> AnalysisTask {
        AnalysisTask::Families(crate::protocol::FamiliesSpec {
            model: "m".into(),
            layer: "l".into(),
            k: 2,
            seed: 0,
            per_concept: 1,
        })
    }

    fn families() -> AnalysisResult {
        AnalysisResult::Families(crate::protocol::FamiliesResult {
            layer: "l".into(),
            k: 2,
            seed: 0,
            per_concept: 1,
            families: vec![],
            flat: vec![],
        })
    }

    #[test]
    fn an_analysis_goes_through_its_states() {
        let owner = Owner::new();
        owner.with(|| {
            let c = WorkerClient::detached();
            let render = c.start_render(spec());
            let job = c.start_analysis(task());
            assert_eq!(
                c.sent.get_value().last(),
                Some(&Request::Analyze { job, task: task() })
            );
            let state = || c.analysis.get_untracked().unwrap().state;
            assert_eq!(state(), AnalysisState::Starting);
            c.receive(Response::AnalysisProgress {
                job,
                stage: "drawn probe images".into(),
                done: 16,
                total: 60,
            });
            assert_eq!(state().attr(), "running");
            // The render's reports do not touch the analysis, nor the analysis' the render.
            c.receive(Response::Cancelled {
                job: render,
                step: 1,
            });
            assert_eq!(state().attr(), "running");
            assert_eq!(
                c.render.get_untracked().unwrap().state,
                RenderState::Cancelled
            );
            c.receive(Response::Analysis {
                job,
                result: families(),
                elapsed_ms: 5.0,
            });
            assert_eq!(
                state(),
                AnalysisState::Done {
                    result: Box::new(families()),
                    elapsed_ms: 5.0
                }
            );
            // Nothing changes a finished analysis; a cancel is not sent for it.
            c.receive(Response::Cancelled { job, step: 0 });
            assert_eq!(state().attr(), "done");
            let sent = c.sent.get_value().len();
            c.cancel_analysis(job);
            assert_eq!(c.sent.get_value().len(), sent);
            // A newer analysis replaces it; cancelling it sends a Cancel; a stale answer of
            // the old one is ignored.
            let newer = c.start_analysis(task());
            c.cancel_analysis(newer);
            assert_eq!(
                c.sent.get_value().last(),
                Some(&Request::Cancel { job: newer })
            );
            c.receive(Response::Analysis {
                job,
                result: families(),
                elapsed_ms: 1.0,
            });
            assert_eq!(state(), AnalysisState::Starting);
            c.receive(Response::Error {
                job: Some(newer),
                message: "unknown layer".into(),
            });
            assert_eq!(state(), AnalysisState::Failed("unknown layer".into()));
            // A dead worker ends the analysis running.
            c.start_analysis(task());
            c.fail("the model worker crashed".into());
            assert_eq!(state().attr(), "error");
        });
    }

    #[test]
    fn a_dead_worker_ends_the_render_and_the_load() {
        let owner = Owner::new();
        owner.with(|| {
            let c = WorkerClient::detached();
            c.want(ModelSource::Builtin);
            let job = c.start_render(spec());
            c.fail("the model worker crashed: out of memory".into());
            c.fail("Uncaught RuntimeError: unreachable".into());
            c.render.with_untracked(|r| {
                let r = r.as_ref().unwrap();
                assert_eq!(r.job, job);
                assert_eq!(r.state.attr(), "error");
            });
            let WorkerState::Dead(m) = c.worker.get_untracked() else {
                panic!()
            };
            assert!(
                m.starts_with("the model worker crashed: out of memory"),
                "{m}"
            );
            assert!(matches!(c.load.get_untracked(), LoadState::Failed { .. }));
        });
    }
}
