//! The model worker's runtime (wasm only): receives requests, chooses a backend, loads models
//! (built in, or downloaded with progress through the Cache Storage), runs renders and
//! thumbnails with [`crate::engine`] and posts responses.
//!
//! Work runs in async loops that yield a macrotask between steps, so a `Cancel` (or a newer
//! request) is delivered and honoured before the next step. One render and one analysis run
//! at a time; thumbnails wait while a render or an analysis is asked for or runs; one model
//! load runs at a time.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

use burn::backend::{Autodiff, Flex};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{AbortController, DedicatedWorkerGlobalScope, MessageChannel, MessageEvent};

use crate::analyses;
use crate::engine::{self, Engine, EngineError, Extras, Host, THUMB_BATCH};
use crate::protocol::{
    self, AnalysisTask, BackendInfo, BackendKind, JobId, ModelInfo, ModelSource, RenderSpec,
    Request, Response,
};

mod survey;

type CpuBackend = Autodiff<Flex>;
#[cfg(feature = "webgpu")]
type GpuBackend = Autodiff<burn_wgpu::Wgpu>;

/// The most bytes of weights the page downloads: a wasm32 page has 4 GiB of memory, and
/// loading needs the file, the f32 weights read from it and the model's own copy at once.
const MAX_DOWNLOAD: u64 = 1_300_000_000;
/// The Cache Storage cache that keeps downloaded models.
const CACHE_NAME: &str = "modalscope-models-v1";
/// At most one download report per this many milliseconds (and one at the end).
const REPORT_EVERY_MS: f64 = 100.0;

/// A loaded model on whichever backend was chosen.
#[derive(Clone)]
enum AnyEngine {
    Cpu(Rc<Engine<CpuBackend>>),
    #[cfg(feature = "webgpu")]
    Gpu(Rc<Engine<GpuBackend>>),
}

impl AnyEngine {
    fn info(&self) -> &ModelInfo {
        match self {
            Self::Cpu(e) => e.info(),
            #[cfg(feature = "webgpu")]
            Self::Gpu(e) => e.info(),
        }
    }
}

/// The backend chosen at start-up.
#[derive(Clone)]
enum Chosen {
    Cpu,
    #[cfg(feature = "webgpu")]
    Gpu(burn_wgpu::WgpuDevice),
}

impl Chosen {
    /// Loads a model; with it, the int8 bundle a checkpoint was quantized into (to cache).
    fn load(
        &self,
        bytes: &[u8],
        extras: &Extras,
        source: ModelSource,
    ) -> Result<(AnyEngine, Option<Vec<u8>>), EngineError> {
        Ok(match self {
            Self::Cpu => {
                let mut e = Engine::load_with(bytes, extras, source, &Default::default())?;
                let quantized = e.take_quantized();
                (AnyEngine::Cpu(Rc::new(e)), quantized)
            }
            #[cfg(feature = "webgpu")]
            Self::Gpu(device) => {
                let mut e = Engine::load_with(bytes, extras, source, device)?;
                let quantized = e.take_quantized();
                (AnyEngine::Gpu(Rc::new(e)), quantized)
            }
        })
    }
}

/// A thumbnail waiting for its batch.
struct ThumbJob {
    job: JobId,
    model: String,
    layer: String,
    unit: usize,
}

/// Everything the worker remembers between messages.
struct State {
    scope: DedicatedWorkerGlobalScope,
    builtin: &'static [u8],
    backend: RefCell<Option<(Chosen, BackendInfo)>>,
    engine: RefCell<Option<AnyEngine>>,
    /// The load running, and how to abort its download.
    loading: RefCell<Option<(JobId, Option<AbortController>)>>,
    /// The load asked for last (earlier ones waiting for their turn give up).
    latest_load: Cell<Option<JobId>>,
    /// Jobs the page no longer wants.
    cancelled: RefCell<BTreeSet<JobId>>,
    /// The render asked for last.
    latest: Cell<Option<JobId>>,
    /// Whether a render loop is running.
    render_busy: Cell<bool>,
    /// Renders asked for and not finished (thumbnails wait while there are any).
    renders_waiting: Cell<usize>,
    /// The analysis asked for last.
    latest_analysis: Cell<Option<JobId>>,
    /// Whether an analysis runs.
    analysis_busy: Cell<bool>,
    /// Analyses asked for and not finished (thumbnails wait while there are any).
    analyses_waiting: Cell<usize>,
    /// Thumbnails waiting, oldest first.
    thumbs: RefCell<VecDeque<ThumbJob>>,
    /// The thumbnails being rendered.
    thumbs_running: RefCell<Vec<JobId>>,
    /// Whether the thumbnail loop runs.
    thumb_pump: Cell<bool>,
}

impl State {
    fn post(&self, response: &Response) {
        post(&self.scope, response);
    }

    fn is_cancelled(&self, job: JobId) -> bool {
        self.cancelled.borrow().contains(&job)
    }

    /// Cancels the render and the thumbnails (the model is about to change).
    fn cancel_all_work(&self) {
        let mut cancelled = self.cancelled.borrow_mut();
        if let Some(job) = self.latest.get() {
            cancelled.insert(job);
        }
        if let Some(job) = self.latest_analysis.get() {
            cancelled.insert(job);
        }
        cancelled.extend(self.thumbs_running.borrow().iter().copied());
        for t in self.thumbs.borrow_mut().drain(..) {
            self.post(&Response::Cancelled {
                job: t.job,
                step: 0,
            });
        }
    }

    fn current(&self) -> Option<AnyEngine> {
        self.engine.borrow().clone()
    }
}

fn post(scope: &DedicatedWorkerGlobalScope, response: &Response) {
    let bytes = Uint8Array::from(protocol::encode(response).as_slice());
    let transfer = js_sys::Array::of1(&bytes.buffer());
    if let Err(e) = scope.post_message_with_transfer(&bytes, &transfer) {
        web_sys::console::error_2(&"modalscope worker: postMessage failed".into(), &e);
    }
}

/// Starts the worker: installs the message handler and tells the page it listens.
pub fn run(builtin: &'static [u8]) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    install_panic_hook(scope.clone());
    let state = Rc::new(State {
        scope: scope.clone(),
        builtin,
        backend: RefCell::new(None),
        engine: RefCell::new(None),
        loading: RefCell::new(None),
        latest_load: Cell::new(None),
        cancelled: RefCell::new(BTreeSet::new()),
        latest: Cell::new(None),
        render_busy: Cell::new(false),
        renders_waiting: Cell::new(0),
        latest_analysis: Cell::new(None),
        analysis_busy: Cell::new(false),
        analyses_waiting: Cell::new(0),
        thumbs: RefCell::new(VecDeque::new()),
        thumbs_running: RefCell::new(Vec::new()),
        thumb_pump: Cell::new(false),
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let bytes = Uint8Array::new(&ev.data()).to_vec();
        match protocol::decode::<Request>(&bytes) {
            Ok(request) => handle(&state, request),
            Err(e) => state.post(&Response::Error {
                job: None,
                message: e.to_string(),
            }),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&scope, &Response::Alive);
}

/// A panic leaves the wasm instance unusable: tell the page in words before it traps.
fn install_panic_hook(scope: DedicatedWorkerGlobalScope) {
    std::panic::set_hook(Box::new(move |info| {
        console_error_panic_hook::hook(info);
        post(
            &scope,
            &Response::Error {
                job: None,
                message: format!("the model worker crashed: {info}"),
            },
        );
    }));
}

fn handle(state: &Rc<State>, request: Request) {
    match request {
        Request::LoadBuiltin { job } => start_load(state, job, ModelSource::Builtin),
        Request::LoadUrl { job, url } => start_load(state, job, ModelSource::Url(url)),
        Request::ModelInfo { job } => match state.current() {
            Some(engine) => state.post(&Response::ModelInfo {
                job,
                info: engine.info().clone(),
            }),
            None => state.post(&Response::Error {
                job: Some(job),
                message: "no model is loaded yet".into(),
            }),
        },
        Request::Render { job, spec } => {
            if let Some(previous) = state.latest.replace(Some(job)) {
                state.cancelled.borrow_mut().insert(previous);
            }
            state.renders_waiting.set(state.renders_waiting.get() + 1);
            spawn_local(render(state.clone(), job, spec));
        }
        Request::Analyze { job, task } => {
            if let Some(previous) = state.latest_analysis.replace(Some(job)) {
                state.cancelled.borrow_mut().insert(previous);
            }
            state.analyses_waiting.set(state.analyses_waiting.get() + 1);
            spawn_local(analyze(state.clone(), job, task));
        }
        Request::Thumbnail {
            job,
            model,
            layer,
            unit,
        } => {
            state.thumbs.borrow_mut().push_back(ThumbJob {
                job,
                model,
                layer,
                unit,
            });
            if !state.thumb_pump.replace(true) {
                spawn_local(pump_thumbnails(state.clone()));
            }
        }
        Request::Survey { job, task } => survey::start(state, job, task),
        Request::Cancel { job } => {
            let queued = {
                let mut thumbs = state.thumbs.borrow_mut();
                let before = thumbs.len();
                thumbs.retain(|t| t.job != job);
                before != thumbs.len()
            };
            if !queued {
                state.cancelled.borrow_mut().insert(job);
                if let Some((load, Some(abort))) = &*state.loading.borrow()
                    && *load == job
                {
                    abort.abort();
                }
            }
        }
    }
}

/// Starts a load; a load already running is cancelled (its download aborted) first.
fn start_load(state: &Rc<State>, job: JobId, source: ModelSource) {
    state.latest_load.set(Some(job));
    if let Some((running, abort)) = &*state.loading.borrow() {
        state.cancelled.borrow_mut().insert(*running);
        if let Some(abort) = abort {
            abort.abort();
        }
    }
    spawn_local(load(state.clone(), job, source));
}

async fn load(state: Rc<State>, job: JobId, source: ModelSource) {
    while state.loading.borrow().is_some() {
        next_macrotask().await;
    }
    if state.latest_load.get() != Some(job) || state.is_cancelled(job) {
        state.post(&Response::Cancelled { job, step: 0 });
        return;
    }
    *state.loading.borrow_mut() = Some((job, None));
    let outcome = load_model(&state, job, &source).await;
    *state.loading.borrow_mut() = None;
    match outcome {
        Ok(Some(engine)) => {
            let info = engine.info().clone();
            *state.engine.borrow_mut() = Some(engine);
            let backend = state
                .backend
                .borrow()
                .as_ref()
                .map(|(_, info)| info.clone())
                .expect("a model is loaded on a chosen backend");
            state.post(&Response::Ready { job, backend });
            state.post(&Response::ModelInfo { job, info });
        }
        Ok(None) => state.post(&Response::Cancelled { job, step: 0 }),
        Err(message) => state.post(&Response::Error {
            job: Some(job),
            message,
        }),
    }
    state.cancelled.borrow_mut().remove(&job);
}

/// Loads the model of `source` on the chosen backend (choosing it first if needed); `None`
/// when the load was cancelled.
async fn load_model(
    state: &Rc<State>,
    job: JobId,
    source: &ModelSource,
) -> Result<Option<AnyEngine>, String> {
    if let Some(engine) = state.current()
        && &engine.info().source == source
    {
        return Ok(Some(engine));
    }
    // Free the old model (and stop what runs on it) before another takes memory.
    state.cancel_all_work();
    *state.engine.borrow_mut() = None;
    let builtin_engine = if state.backend.borrow().is_none() {
        let (engine, chosen, info) = choose_backend(state.builtin).await?;
        // The page says which backend runs at once, even if this model then fails to load.
        state.post(&Response::Ready {
            job,
            backend: info.clone(),
        });
        *state.backend.borrow_mut() = Some((chosen, info));
        Some(engine)
    } else {
        None
    };
    let chosen = state
        .backend
        .borrow()
        .as_ref()
        .map(|(c, _)| c.clone())
        .expect("the backend was just chosen");
    match source {
        ModelSource::Builtin => match builtin_engine {
            Some(engine) => Ok(Some(engine)),
            None => chosen
                .load(state.builtin, &Extras::default(), ModelSource::Builtin)
                .map(|(engine, _)| Some(engine))
                .map_err(|e| e.to_string()),
        },
        ModelSource::Url(url) => {
            drop(builtin_engine);
            let Some((bytes, cached)) = download(state, job, url).await? else {
                return Ok(None);
            };
            if state.is_cancelled(job) {
                return Ok(None);
            }
            let extras = if modalscope_model::bundle::is_bundle(&bytes) {
                Extras::default()
            } else {
                siblings(url).await
            };
            match chosen.load(&bytes, &extras, source.clone()) {
                Ok((engine, quantized)) => {
                    if !cached {
                        // A checkpoint is kept as the int8 bundle it was quantized into.
                        store_in_cache(url, quantized.unwrap_or(bytes)).await;
                    }
                    Ok(Some(engine))
                }
                Err(e) => {
                    if cached {
                        // A bad copy must not stick.
                        forget_cached(url).await;
                    }
                    Err(e.to_string())
                }
            }
        }
    }
}

async fn render(state: Rc<State>, job: JobId, spec: RenderSpec) {
    // One render at a time: a newer request has already cancelled the one running, which
    // stops at its next step.
    while state.render_busy.get() {
        next_macrotask().await;
    }
    state.render_busy.set(true);
    let host = WorkerHost {
        state: state.clone(),
        defer_to_renders: false,
    };
    match state.current() {
        None => state.post(&Response::Error {
            job: Some(job),
            message: "no model is loaded".into(),
        }),
        Some(AnyEngine::Cpu(e)) => engine::render(&e, job, &spec, &host).await,
        #[cfg(feature = "webgpu")]
        Some(AnyEngine::Gpu(e)) => engine::render(&e, job, &spec, &host).await,
    }
    state.render_busy.set(false);
    state.renders_waiting.set(state.renders_waiting.get() - 1);
    state.cancelled.borrow_mut().remove(&job);
}

async fn analyze(state: Rc<State>, job: JobId, task: AnalysisTask) {
    // One analysis at a time: a newer request has already cancelled the one running, which
    // stops at its next batch.
    while state.analysis_busy.get() {
        next_macrotask().await;
    }
    state.analysis_busy.set(true);
    let host = WorkerHost {
        state: state.clone(),
        defer_to_renders: false,
    };
    if state.is_cancelled(job) {
        state.post(&Response::Cancelled { job, step: 0 });
    } else {
        match state.current() {
            None => state.post(&Response::Error {
                job: Some(job),
                message: "no model is loaded".into(),
            }),
            Some(AnyEngine::Cpu(e)) => analyses::analyze(&e, job, &task, &host).await,
            #[cfg(feature = "webgpu")]
            Some(AnyEngine::Gpu(e)) => analyses::analyze(&e, job, &task, &host).await,
        }
    }
    state.analysis_busy.set(false);
    state.analyses_waiting.set(state.analyses_waiting.get() - 1);
    state.cancelled.borrow_mut().remove(&job);
}

/// Renders queued thumbnails, up to [`THUMB_BATCH`] of one layer at a time, until none wait.
async fn pump_thumbnails(state: Rc<State>) {
    let host = WorkerHost {
        state: state.clone(),
        defer_to_renders: true,
    };
    loop {
        host.yield_now().await;
        while state.loading.borrow().is_some() {
            next_macrotask().await;
        }
        let batch: Vec<ThumbJob> = {
            let mut queue = state.thumbs.borrow_mut();
            let Some(first) = queue.pop_front() else {
                break;
            };
            let mut batch = vec![first];
            let mut rest = VecDeque::new();
            while let Some(t) = queue.pop_front() {
                if batch.len() < THUMB_BATCH
                    && t.layer == batch[0].layer
                    && t.model == batch[0].model
                {
                    batch.push(t);
                } else {
                    rest.push_back(t);
                }
            }
            *queue = rest;
            batch
        };
        let jobs: Vec<JobId> = batch.iter().map(|t| t.job).collect();
        let units: Vec<usize> = batch.iter().map(|t| t.unit).collect();
        let (model, layer) = (&batch[0].model, &batch[0].layer);
        *state.thumbs_running.borrow_mut() = jobs.clone();
        match state.current() {
            None => {
                for &job in &jobs {
                    state.post(&Response::Error {
                        job: Some(job),
                        message: "no model is loaded".into(),
                    });
                }
            }
            Some(AnyEngine::Cpu(e)) => {
                engine::thumbnails(&e, &jobs, model, layer, &units, &host).await
            }
            #[cfg(feature = "webgpu")]
            Some(AnyEngine::Gpu(e)) => {
                engine::thumbnails(&e, &jobs, model, layer, &units, &host).await
            }
        }
        state.thumbs_running.borrow_mut().clear();
        let mut cancelled = state.cancelled.borrow_mut();
        for job in &jobs {
            cancelled.remove(job);
        }
    }
    state.thumb_pump.set(false);
}

struct WorkerHost {
    state: Rc<State>,
    /// Thumbnails give way to renders and analyses: their yields wait while one is asked for
    /// or runs.
    defer_to_renders: bool,
}

impl Host for WorkerHost {
    async fn yield_now(&self) {
        next_macrotask().await;
        while self.defer_to_renders
            && (self.state.renders_waiting.get() > 0 || self.state.analyses_waiting.get() > 0)
        {
            next_macrotask().await;
        }
    }

    fn is_cancelled(&self, job: JobId) -> bool {
        self.state.is_cancelled(job)
    }

    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn emit(&self, response: Response) {
        self.state.post(&response);
    }
}

/// Resolves in a new macrotask, after messages already queued for the worker are delivered.
///
/// A `MessageChannel` message rather than `setTimeout(0)`: browsers clamp nested timeouts to
/// 4 ms, which would add up over hundreds of steps.
async fn next_macrotask() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let Ok(channel) = MessageChannel::new() else {
            let _ = resolve.call0(&JsValue::NULL);
            return;
        };
        channel.port1().set_onmessage(Some(&resolve));
        if channel.port2().post_message(&JsValue::NULL).is_err() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

// --- downloads and the Cache Storage ------------------------------------------------------------

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", String::from(e.name()), String::from(e.message())))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn megabytes(n: u64) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
}

/// The models cache, where the browser offers one (not on insecure origins).
async fn open_cache() -> Option<web_sys::Cache> {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let storage = scope.caches().ok()?;
    let cache = JsFuture::from(storage.open(CACHE_NAME)).await.ok()?;
    cache.dyn_into().ok()
}

async fn store_in_cache(url: &str, mut bytes: Vec<u8>) {
    let Some(cache) = open_cache().await else {
        return;
    };
    let Ok(response) = web_sys::Response::new_with_opt_u8_array(Some(&mut bytes)) else {
        return;
    };
    drop(bytes);
    if let Err(e) = JsFuture::from(cache.put_with_str(url, &response)).await {
        web_sys::console::warn_2(
            &"modalscope worker: the model could not be cached".into(),
            &e,
        );
    }
}

async fn forget_cached(url: &str) {
    if let Some(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
}

/// A small text file (a config, the tokenizer), from the Cache Storage or the network; `None`
/// when there is none or it does not look like `kind` (`json` or `text`).
async fn fetch_text(url: &str, json: bool) -> Option<String> {
    let cache = open_cache().await;
    let cached = match &cache {
        Some(c) => JsFuture::from(c.match_with_str(url))
            .await
            .ok()
            .and_then(|r| r.dyn_into::<web_sys::Response>().ok()),
        None => None,
    };
    let from_cache = cached.is_some();
    let response = match cached {
        Some(r) => r,
        None => {
            let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            let r: web_sys::Response = JsFuture::from(scope.fetch_with_str(url))
                .await
                .ok()?
                .dyn_into()
                .ok()?;
            if !r.ok() {
                return None;
            }
            r
        }
    };
    let text = JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    let head = text.trim_start();
    // Hosts that answer every path with their index page must not pass for a config.
    let plausible = if json {
        head.starts_with('{')
    } else {
        !head.starts_with('<')
    };
    if !plausible {
        return None;
    }
    if !from_cache
        && let Some(cache) = &cache
        && let Ok(copy) = web_sys::Response::new_with_opt_str(Some(&text))
    {
        let _ = JsFuture::from(cache.put_with_str(url, &copy)).await;
    }
    Some(text)
}

/// The files that may sit next to a safetensors checkpoint, as on the Hugging Face hub: the
/// architecture (`config.json`, or OpenCLIP's `open_clip_config.json`) and the tokenizer
/// (`vocab.json`, `merges.txt`).
async fn siblings(url: &str) -> Extras {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = engine::name_from_url(url);
    let Some((dir, _)) = path.rsplit_once('/') else {
        return Extras {
            name,
            ..Extras::default()
        };
    };
    let config_json = match fetch_text(&format!("{dir}/config.json"), true).await {
        Some(c) => Some(c),
        None => fetch_text(&format!("{dir}/open_clip_config.json"), true).await,
    };
    let vocab = fetch_text(&format!("{dir}/vocab.json"), true).await;
    let merges = match vocab {
        Some(_) => fetch_text(&format!("{dir}/merges.txt"), false).await,
        None => None,
    };
    let tokenizer = vocab.zip(merges).map(|(vocab_json, merges_txt)| {
        modalscope_model::bundle::TokenizerFiles {
            vocab_json,
            merges_txt,
        }
    });
    Extras {
        config_json,
        tokenizer,
        name,
    }
}

/// The weights at `url`, from the Cache Storage or the network, reporting bytes as they
/// arrive; `Ok(None)` when cancelled. The flag says whether they came from the cache.
async fn download(
    state: &Rc<State>,
    job: JobId,
    url: &str,
) -> Result<Option<(Vec<u8>, bool)>, String> {
    let cache = open_cache().await;
    let cached = match &cache {
        Some(cache) => JsFuture::from(cache.match_with_str(url))
            .await
            .ok()
            .and_then(|r| r.dyn_into::<web_sys::Response>().ok()),
        None => None,
    };
    let (response, from_cache) = match cached {
        Some(r) => (r, true),
        None => {
            let controller = AbortController::new().ok();
            if let Some((_, abort)) = state.loading.borrow_mut().as_mut() {
                *abort = controller.clone();
            }
            let init = web_sys::RequestInit::new();
            if let Some(c) = &controller {
                init.set_signal(Some(&c.signal()));
            }
            let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            let fetched = JsFuture::from(scope.fetch_with_str_and_init(url, &init)).await;
            if state.is_cancelled(job) {
                return Ok(None);
            }
            let response: web_sys::Response = fetched
                .map_err(|e| {
                    format!(
                        "{url} could not be downloaded ({}). The address may be wrong, the \
                         server down or this computer offline, or the server does not let other \
                         sites read the file (CORS: it must send Access-Control-Allow-Origin).",
                        describe(&e)
                    )
                })?
                .unchecked_into();
            if !response.ok() {
                let status = response.status();
                let text = response.status_text();
                let hint = match status {
                    404 => ": there is no file at this address",
                    401 | 403 => ": the server does not let this page read the file",
                    _ => "",
                };
                return Err(format!(
                    "the server answered {status}{}{} for {url}{hint}.",
                    if text.is_empty() { "" } else { " " },
                    text
                ));
            }
            (response, false)
        }
    };
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(total) = total
        && total > MAX_DOWNLOAD
    {
        return Err(format!(
            "{url} is {}; a page can hold at most about {} of weights in memory.",
            megabytes(total),
            megabytes(MAX_DOWNLOAD)
        ));
    }
    let mut bytes: Vec<u8> = Vec::new();
    if let Some(total) = total {
        bytes.try_reserve_exact(total as usize).map_err(|_| {
            format!(
                "out of memory: the browser could not give the page {} for {url}.",
                megabytes(total)
            )
        })?;
    }
    let Some(body) = response.body() else {
        return Err(format!("the server sent no data for {url}."));
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let report = |received: u64| {
        state.post(&Response::Download {
            job,
            received,
            total,
            cached: from_cache,
        })
    };
    report(0);
    let mut last_report = js_sys::Date::now();
    loop {
        let chunk = JsFuture::from(reader.read()).await;
        if state.is_cancelled(job) {
            // An aborted download's stream is errored and refuses the cancel: the JsFuture
            // takes that rejection, so it is not reported as unhandled.
            drop(JsFuture::from(reader.cancel()));
            return Ok(None);
        }
        let chunk = chunk.map_err(|e| {
            format!(
                "the download of {url} broke off after {} ({}).",
                megabytes(bytes.len() as u64),
                describe(&e)
            )
        })?;
        let done = Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(|e| describe(&e))?
            .unchecked_into();
        let n = value.length() as usize;
        let at = bytes.len();
        if at + n > MAX_DOWNLOAD as usize {
            return Err(format!(
                "{url} is larger than {}, the most a page can hold in memory.",
                megabytes(MAX_DOWNLOAD)
            ));
        }
        bytes.try_reserve(n).map_err(|_| {
            format!(
                "out of memory after {} of {url}: the browser could not give the page more.",
                megabytes(at as u64)
            )
        })?;
        bytes.resize(at + n, 0);
        value.copy_to(&mut bytes[at..]);
        let now = js_sys::Date::now();
        if now - last_report >= REPORT_EVERY_MS {
            last_report = now;
            report(bytes.len() as u64);
        }
    }
    report(bytes.len() as u64);
    if let Some(total) = total
        && bytes.len() as u64 != total
        && !from_cache
    {
        return Err(format!(
            "the download of {url} ended after {} of {} bytes.",
            bytes.len(),
            total
        ));
    }
    Ok(Some((bytes, from_cache)))
}

// --- the backend ---------------------------------------------------------------------------------

/// Loads the built-in model on WebGPU when the browser offers a working adapter, else on the
/// CPU; returns it with the backend chosen.
async fn choose_backend(bundle: &'static [u8]) -> Result<(AnyEngine, Chosen, BackendInfo), String> {
    let cpu = Engine::<CpuBackend>::load(bundle, ModelSource::Builtin, &Default::default())
        .map_err(|e| e.to_string())?;
    #[cfg(feature = "webgpu")]
    let reason = match gpu::engine(bundle, &cpu).await {
        Ok((engine, device, backend)) => {
            return Ok((
                AnyEngine::Gpu(Rc::new(engine)),
                Chosen::Gpu(device),
                backend,
            ));
        }
        Err(reason) => reason,
    };
    #[cfg(not(feature = "webgpu"))]
    let reason = "this build of the page has no WebGPU support (built without the `webgpu` \
                  feature)"
        .to_string();
    cpu.probe().await.map_err(|e| e.to_string())?;
    Ok((
        AnyEngine::Cpu(Rc::new(cpu)),
        Chosen::Cpu,
        BackendInfo {
            kind: BackendKind::Cpu,
            name: "CPU (burn Flex in WebAssembly)".into(),
            fallback_reason: Some(reason),
            check: Some("embeds a test image".into()),
        },
    ))
}

#[cfg(feature = "webgpu")]
mod gpu {
    //! The WebGPU path: adapter and device through wgpu (errors as values), handed to burn.

    use burn_wgpu::{RuntimeOptions, WgpuDevice, WgpuSetup};

    use super::*;

    /// How far the WebGPU embedding of a grey image may stray from the CPU's.
    const TOLERANCE: f32 = 1e-3;

    /// What the browser answers to `navigator.gpu.requestAdapter()`, in words; `Err` says why
    /// there is no adapter.
    async fn probe_adapter() -> Result<String, String> {
        let global = js_sys::global();
        let gpu = Reflect::get(&global, &"navigator".into())
            .and_then(|n| Reflect::get(&n, &"gpu".into()))
            .unwrap_or(JsValue::UNDEFINED);
        if gpu.is_undefined() || gpu.is_null() {
            return Err(
                "this browser offers no WebGPU to workers (navigator.gpu is missing)".into(),
            );
        }
        let request = Reflect::get(&gpu, &"requestAdapter".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or("navigator.gpu has no requestAdapter()")?;
        let promise = request
            .call0(&gpu)
            .map_err(|e| format!("navigator.gpu.requestAdapter() threw {}", describe(&e)))?;
        let adapter = JsFuture::from(js_sys::Promise::from(promise))
            .await
            .map_err(|e| format!("navigator.gpu.requestAdapter() failed: {}", describe(&e)))?;
        if adapter.is_null() || adapter.is_undefined() {
            return Err(
                "the browser has WebGPU but navigator.gpu.requestAdapter() gave no adapter".into(),
            );
        }
        let info = Reflect::get(&adapter, &"info".into()).unwrap_or(JsValue::UNDEFINED);
        let field = |name: &str| {
            Reflect::get(&info, &name.into())
                .ok()
                .and_then(|v| v.as_string())
                .filter(|s| !s.is_empty())
        };
        let fallback = Reflect::get(&info, &"isFallbackAdapter".into())
            .ok()
            .and_then(|v| v.as_bool())
            .or_else(|| {
                Reflect::get(&adapter, &"isFallbackAdapter".into())
                    .ok()
                    .and_then(|v| v.as_bool())
            })
            .unwrap_or(false);
        let mut words: Vec<String> = ["vendor", "architecture", "description"]
            .into_iter()
            .filter_map(field)
            .collect();
        if words.is_empty() {
            words.push("unnamed adapter".into());
        }
        if fallback {
            words.push("software fallback".into());
        }
        Ok(words.join(", "))
    }

    /// The built-in model on WebGPU, checked against the CPU on a grey image.
    pub(super) async fn engine(
        bundle: &'static [u8],
        cpu: &Engine<CpuBackend>,
    ) -> Result<(Engine<GpuBackend>, WgpuDevice, BackendInfo), String> {
        let adapter_words = probe_adapter().await?;
        let device = device().await?;
        let engine =
            Engine::<GpuBackend>::load(bundle, ModelSource::Builtin, &device).map_err(|e| {
                format!("WebGPU is present but the model could not be placed on it: {e}")
            })?;
        let gpu = engine
            .probe()
            .await
            .map_err(|e| format!("WebGPU ({adapter_words}) failed a test computation: {e}"))?;
        let want = cpu.probe().await.map_err(|e| e.to_string())?;
        let diff = want
            .iter()
            .zip(&gpu)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let scale = want.iter().map(|v| v.abs()).fold(1e-6f32, f32::max);
        // NaN differences fail the check too.
        let close = diff / scale <= TOLERANCE;
        if !close {
            return Err(format!(
                "WebGPU ({adapter_words}) disagrees with the CPU on a test image (largest \
                 difference {diff:.2e}, relative {:.2e})",
                diff / scale
            ));
        }
        Ok((
            engine,
            device,
            BackendInfo {
                kind: BackendKind::WebGpu,
                name: format!("WebGPU ({adapter_words})"),
                fallback_reason: None,
                check: Some(format!(
                    "matches the CPU on a test image to {:.1e} (relative)",
                    diff / scale
                )),
            },
        ))
    }

    async fn device() -> Result<WgpuDevice, String> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::BROWSER_WEBGPU,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
            })
            .await
            .map_err(|e| format!("wgpu found no WebGPU adapter: {e}"))?;
        // What burn's own WGSL setup asks for (cubecl-wgpu's `request_device`).
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("modalscope"),
                required_features: adapter
                    .features()
                    .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
                required_limits: adapter.limits(),
                memory_hints: wgpu::MemoryHints::MemoryUsage,
                trace: wgpu::Trace::Off,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
            })
            .await
            .map_err(|e| format!("the WebGPU adapter refused a device: {e}"))?;
        let setup = WgpuSetup {
            instance,
            adapter,
            device,
            queue,
            backend: wgpu::Backend::BrowserWebGpu,
        };
        Ok(burn_wgpu::init_device(setup, RuntimeOptions::default()))
    }
}
