//! The model work the worker does, generic over burn's autodiff backends so WebGPU and the CPU
//! share it: load weights, describe the model, render feature visualizations step by step,
//! render thumbnails several at a time, and probe the text tower for the words closest to an
//! image.
//!
//! Nothing here touches the DOM or reads tensors back synchronously (WebGPU readbacks must be
//! awaited), so it runs natively in tests too. The caller supplies how to yield to its event
//! loop, how to tell whether a job was cancelled, a clock, and where responses go.

use std::cell::RefCell;
use std::future::Future;

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use modalscope_analysis::ClassPrompts;
use modalscope_analysis::concepts::class_prompts;
use modalscope_analysis::reading::probe_words;
use modalscope_model::bundle::{self, TokenizerFiles};
use modalscope_model::{
    Capture, Clip, ClipConfig, VisionConfig, WeightStore, canonical_store, infer_config, normalize,
};
use modalscope_tokenizer::ClipTokenizer;
use modalscope_vis::{Affine, Objective, RenderConfig, Session, normalize_input, to_rgb8};

use crate::analyses::StudyCache;
use crate::protocol::{
    JobId, LayerInfo, ModelInfo, ModelSource, RenderSpec, Response, Rgba, UnitObjective, WordScore,
};

/// Side in pixels of a layer grid's thumbnails.
pub const THUMB_SIZE: usize = 48;
/// Optimization steps of a thumbnail.
pub const THUMB_STEPS: usize = 24;
/// Thumbnails of one layer rendered together, as one batch.
pub const THUMB_BATCH: usize = 8;
/// The seed of every thumbnail.
pub const THUMB_SEED: u64 = 0;
/// Weight of the diversity term that keeps the facets of a render apart (batch > 1).
pub const DIVERSITY_WEIGHT: f32 = 10.0;
/// The most vocabulary words the text-tower probe compares (the most frequent whole words).
pub const MAX_WORDS: usize = 1024;
/// Words the probe reports.
pub const TOP_WORDS: usize = 12;
/// Text sequences embedded per batch of the probe (the worker yields between batches).
const WORD_BATCH: usize = 128;

/// Why the engine cannot do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The weights cannot be read or do not describe a CLIP.
    #[error("{what} cannot be loaded: {reason}")]
    Load {
        /// Which model, in words (e.g. "the built-in model").
        what: String,
        /// Why.
        reason: String,
    },
    /// A render names another model than the one loaded.
    #[error("this page runs the model `{loaded}`; there is no model `{asked}`")]
    WrongModel {
        /// The model loaded.
        loaded: String,
        /// The model asked for.
        asked: String,
    },
    /// The feature visualization refused the request (unknown layer, unit out of range...).
    #[error("{0}")]
    Render(String),
    /// The backend could not hand a result back.
    #[error("reading a result back from the device failed: {0}")]
    Readback(String),
    /// The backend computed NaN or infinity.
    #[error("{0}")]
    NotFinite(String),
}

/// A loaded model on backend `B`, ready to render.
pub struct Engine<B: AutodiffBackend> {
    clip: Clip<B>,
    info: ModelInfo,
    /// The probe's words with their token ids, and the sequence ends.
    pub(crate) vocabulary: Vec<(String, u32)>,
    ends: Option<(u32, u32)>,
    /// L2-normalized text embeddings of `vocabulary`, computed on first use.
    word_embeds: RefCell<Option<Tensor<B::InnerBackend, 2>>>,
    /// The zero-shot prompts of the concept study, or why there are none.
    prompts: Result<ClassPrompts, String>,
    /// What the analyses keep between requests.
    pub(crate) study: StudyCache<B>,
    /// The int8 bundle a checkpoint was quantized into (what the worker caches instead of
    /// the checkpoint), until taken.
    quantized: Option<Vec<u8>>,
}

impl<B: AutodiffBackend> Engine<B> {
    /// Loads a modalscope bundle or a CLIP safetensors checkpoint onto `device`; only rendered
    /// images get gradients. `bytes` is the whole file.
    pub fn load(
        bytes: &[u8],
        source: ModelSource,
        device: &B::Device,
    ) -> Result<Self, EngineError> {
        Self::load_with(bytes, &Extras::default(), source, device)
    }

    /// As [`Self::load`], with the files that came with a safetensors checkpoint (a bundle
    /// carries its own).
    pub fn load_with(
        bytes: &[u8],
        extras: &Extras,
        source: ModelSource,
        device: &B::Device,
    ) -> Result<Self, EngineError> {
        let what = match &source {
            ModelSource::Builtin => "the built-in model".to_string(),
            ModelSource::Url(url) => format!("the file at {url}"),
        };
        let fail = |reason: String| EngineError::Load {
            what: what.clone(),
            reason,
        };
        let mut quantized = None;
        let (clip, tokenizer) = if bundle::is_bundle(bytes) {
            Clip::<B>::from_bundle(bytes, device).map_err(|e| fail(e.to_string()))?
        } else if looks_like_safetensors(bytes) {
            // Quantized here to the int8 bundle the command line's `convert` writes, and run
            // from it: the page caches the bundle (a quarter of the size), so the first visit
            // and the next ones run the very same weights.
            let int8 = quantize_checkpoint::<B>(bytes, extras, device).map_err(fail)?;
            let loaded = Clip::<B>::from_bundle(&int8, device).map_err(|e| fail(e.to_string()))?;
            quantized = Some(int8);
            loaded
        } else {
            return Err(fail(format!(
                "it is neither a modalscope bundle nor a safetensors checkpoint ({})",
                sniff(bytes)
            )));
        };
        let clip = clip.no_grad();
        let (vocabulary, ends) = match tokenizer
            .as_ref()
            .map(|files| vocabulary_of(&clip.config().name, files))
        {
            Some(Ok((words, ends))) => (words, Some(ends)),
            Some(Err(e)) => return Err(fail(format!("its tokenizer is unreadable: {e}"))),
            None => (Vec::new(), None),
        };
        let prompts = match &tokenizer {
            Some(files) => ClipTokenizer::from_strings(&files.vocab_json, &files.merges_txt)
                .and_then(|t| t.with_context_length(clip.config().text.context_length))
                .map(|t| class_prompts(&t))
                .map_err(|e| format!("its tokenizer cannot write the prompts: {e}")),
            None => Err(
                "these weights came without a tokenizer, so there are no zero-shot \
                         prompts"
                    .to_string(),
            ),
        };
        let mut info = describe(&clip);
        if let Some(int8) = &quantized {
            info.architecture = format!(
                "{} · quantized to int8 in the browser ({:.1} MB to {:.1} MB)",
                info.architecture,
                bytes.len() as f64 / 1e6,
                int8.len() as f64 / 1e6
            );
        }
        info.source = source;
        info.bytes = bytes.len() as u64;
        info.vocabulary = vocabulary.len();
        Ok(Self {
            clip,
            info,
            vocabulary,
            ends,
            word_embeds: RefCell::new(None),
            prompts,
            study: StudyCache::default(),
            quantized,
        })
    }

    /// The int8 bundle a safetensors checkpoint was quantized into when it loaded (once; `None`
    /// for a bundle): the copy worth caching.
    pub fn take_quantized(&mut self) -> Option<Vec<u8>> {
        self.quantized.take()
    }

    /// The zero-shot prompts of the concept study (`Err` says why there are none).
    pub fn prompts(&self) -> Result<&ClassPrompts, &str> {
        self.prompts.as_ref().map_err(String::as_str)
    }

    /// The model as the page shows it.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The model.
    pub fn clip(&self) -> &Clip<B> {
        &self.clip
    }

    /// Embeds one grey image and reads the result back (asynchronously): proves the backend
    /// computes, and gives numbers to compare between backends.
    pub async fn probe(&self) -> Result<Vec<f32>, EngineError> {
        let s = self.info.image_size;
        let grey = Tensor::<B, 4>::zeros([1, 3, s, s], &self.clip.device());
        let embeds = self.clip.encode_image(grey);
        let values = read_back(embeds).await?;
        if values.iter().all(|v| v.is_finite()) {
            Ok(values)
        } else {
            Err(EngineError::NotFinite(
                "the backend computed non-finite numbers for a grey image".into(),
            ))
        }
    }

    /// Fails unless `model` is the loaded model's name.
    pub fn check_model(&self, model: &str) -> Result<(), EngineError> {
        if model == self.info.name {
            Ok(())
        } else {
            Err(EngineError::WrongModel {
                loaded: self.info.name.clone(),
                asked: model.to_string(),
            })
        }
    }

    /// Checks a render request against this model and starts the optimization.
    pub fn start(&self, spec: &RenderSpec) -> Result<Session<B>, EngineError> {
        self.check_model(&spec.model)?;
        let unit = match spec.objective {
            UnitObjective::Neuron => Objective::neuron(&spec.layer, spec.unit),
            UnitObjective::Channel => Objective::channel(&spec.layer, spec.unit),
        };
        let objective = if spec.batch > 1 {
            unit + DIVERSITY_WEIGHT * Objective::diversity(&spec.layer)
        } else {
            unit
        };
        let config = RenderConfig {
            size: spec.size,
            batch: spec.batch,
            steps: spec.steps,
            seed: spec.seed,
            ..RenderConfig::default()
        };
        Session::new(&self.clip, objective, config).map_err(|e| EngineError::Render(e.to_string()))
    }

    /// Starts one batch of thumbnails: image `i` maximizes `units[i]` of `layer` (neuron
    /// objective, [`THUMB_SIZE`] px, [`THUMB_STEPS`] steps, seed [`THUMB_SEED`]).
    pub fn start_thumbnails(
        &self,
        model: &str,
        layer: &str,
        units: &[usize],
    ) -> Result<Session<B>, EngineError> {
        self.check_model(model)?;
        let objective = Objective::sum(
            units
                .iter()
                .enumerate()
                .map(|(i, &u)| Objective::neuron(layer, u).at_batch(i)),
        );
        let config = RenderConfig {
            size: THUMB_SIZE,
            batch: units.len(),
            steps: THUMB_STEPS,
            seed: THUMB_SEED,
            ..RenderConfig::default()
        };
        Session::new(&self.clip, objective, config).map_err(|e| EngineError::Render(e.to_string()))
    }

    /// The text embeddings of the probe's words, computed once (in batches, yielding between
    /// them).
    pub(crate) async fn word_embeddings(
        &self,
        host: &impl Host,
    ) -> Result<Option<Tensor<B::InnerBackend, 2>>, EngineError> {
        if let Some(t) = self.word_embeds.borrow().as_ref() {
            return Ok(Some(t.clone()));
        }
        let Some((bos, eos)) = self.ends else {
            return Ok(None);
        };
        if self.vocabulary.is_empty() {
            return Ok(None);
        }
        let mut parts = Vec::new();
        for chunk in self.vocabulary.chunks(WORD_BATCH) {
            host.yield_now().await;
            let ids: Vec<Vec<u32>> = chunk.iter().map(|(_, id)| vec![bos, *id, eos]).collect();
            let embeds = self
                .clip
                .encode_text(&ids)
                .map_err(|e| EngineError::Render(format!("the text tower failed: {e}")))?;
            parts.push(normalize(embeds.inner()));
        }
        let all = Tensor::cat(parts, 0);
        *self.word_embeds.borrow_mut() = Some(all.clone());
        Ok(Some(all))
    }

    /// The text-tower probe: the vocabulary words whose text embeddings are closest (cosine) to
    /// the mean image embedding of `images` (`[batch, 3, s, s]` in [0, 1]), best first.
    pub async fn words(
        &self,
        images: Tensor<B::InnerBackend, 4>,
        host: &impl Host,
    ) -> Result<Vec<WordScore>, EngineError> {
        let Some(words) = self.word_embeddings(host).await? else {
            return Ok(Vec::new());
        };
        let size = self.info.image_size;
        let pixels = Tensor::<B, 4>::from_inner(images);
        let pixels = if pixels.dims()[2] == size {
            pixels
        } else {
            Affine::identity().apply(pixels, size, 0.5)
        };
        let image = normalize(self.clip.encode_image(normalize_input(&self.clip, pixels)))
            .inner()
            .mean_dim(0);
        let scores = read_back(image.matmul(words.transpose())).await?;
        let mut ranked: Vec<(usize, f32)> = scores.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked
            .into_iter()
            .take(TOP_WORDS)
            .map(|(i, score)| WordScore {
                word: self.vocabulary[i].0.clone(),
                score,
            })
            .collect())
    }
}

/// What came with a safetensors checkpoint: the files next to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// A Hugging Face `config.json` or an OpenCLIP model config (`open_clip_config.json`).
    pub config_json: Option<String>,
    /// `vocab.json` and `merges.txt`, for the word probe.
    pub tokenizer: Option<TokenizerFiles>,
    /// The model's name when neither the config nor the shapes name it (e.g. the folder's).
    pub name: Option<String>,
}

/// A CLIP from safetensors bytes in either naming, its architecture from the config that came
/// with it or inferred from the tensor shapes.
/// A CLIP safetensors checkpoint (and the files next to it) as an int8 bundle, after checking
/// that its weights build the model.
fn quantize_checkpoint<B: Backend>(
    bytes: &[u8],
    extras: &Extras,
    device: &B::Device,
) -> Result<Vec<u8>, String> {
    let (config, store) = checkpoint_store(bytes, extras)?;
    let layers = Clip::<B>::from_store(&config, store.clone(), device)
        .map_err(|e| e.to_string())?
        .layer_names();
    let meta = serde_json::json!({
        "source": "safetensors",
        "converted_by": format!("modalscope page {}", env!("CARGO_PKG_VERSION")),
    });
    let (bundle, _) = bundle::write(
        &config,
        &layers,
        &store,
        extras.tokenizer.as_ref(),
        bundle::Precision::Int8,
        meta,
    );
    Ok(bundle)
}

/// The architecture and canonical weights of a safetensors checkpoint.
fn checkpoint_store(bytes: &[u8], extras: &Extras) -> Result<(ClipConfig, WeightStore), String> {
    let store = WeightStore::from_safetensors(bytes)
        .and_then(canonical_store)
        .map_err(|e| e.to_string())?;
    let name = extras.name.as_deref().unwrap_or(CUSTOM);
    let mut config = match &extras.config_json {
        Some(text) => parse_config(name, text)?,
        None => infer_config(&store).map_err(|e| e.to_string())?,
    };
    if config.name == CUSTOM {
        config.name = name.to_string();
    }
    Ok((config, store))
}

/// A name for a model from the URL of its weights: the file's stem, or for the usual
/// `model.safetensors` the folder's name (Hugging Face's `…/{repo}/resolve/main/…` skipped).
pub fn name_from_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    let mut parts: Vec<&str> = path.split('/').skip(1).filter(|p| !p.is_empty()).collect();
    let file = parts.pop()?;
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    if !matches!(
        stem,
        "model" | "pytorch_model" | "open_clip_model" | "open_clip_pytorch_model"
    ) {
        return Some(stem.to_string());
    }
    if parts.len() >= 2 && parts[parts.len() - 2] == "resolve" {
        parts.truncate(parts.len() - 2);
    }
    parts.pop().map(str::to_string)
}

/// The name the model crate gives an architecture it does not recognise.
const CUSTOM: &str = "clip-custom";

/// Reads a config of either dialect; OpenCLIP's hub file wraps the model's in `model_cfg`.
fn parse_config(name: &str, text: &str) -> Result<ClipConfig, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("its config file is not JSON: {e}"))?;
    let value = value.get("model_cfg").cloned().unwrap_or(value);
    let json = value.to_string();
    let config = if value.get("vision_cfg").is_some() {
        ClipConfig::from_open_clip_json(name, &json)
    } else {
        ClipConfig::from_hf_json(name, &json)
    };
    config
        .map(ClipConfig::named_after_preset)
        .map_err(|e| format!("its config file does not describe a CLIP: {e}"))
}

/// Whether bytes start like a safetensors file: an 8-byte little-endian header length that
/// fits the file, then `{`.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(..8) else {
        return false;
    };
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    len > 1 && len <= bytes.len() as u64 - 8 && bytes.get(8) == Some(&b'{')
}

/// What a file that is not a model looks like, for the error message.
fn sniff(bytes: &[u8]) -> String {
    let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
        .chars()
        .take_while(|c| !c.is_control() || *c == '\n')
        .collect();
    let lower = head.trim_start().to_ascii_lowercase();
    if bytes.is_empty() {
        "the file is empty".into()
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        "it is an HTML page; is the URL the page about the file rather than the file itself?".into()
    } else if lower.starts_with('{') || lower.starts_with('[') {
        "it looks like JSON".into()
    } else if bytes.starts_with(b"PK") {
        "it is a zip archive, e.g. a PyTorch .pt/.bin checkpoint: convert it to safetensors \
         first (tools/convert)"
            .into()
    } else if bytes.starts_with(b"\x80") {
        "it is a Python pickle (a PyTorch checkpoint): convert it to safetensors first \
         (tools/convert)"
            .into()
    } else if head.trim().len() >= 8 {
        format!(
            "it starts with \"{}\"",
            head.trim().chars().take(40).collect::<String>()
        )
    } else {
        format!("{} bytes of unknown format", bytes.len())
    }
}

/// Words with their token ids, and the start and end tokens.
type Vocabulary = (Vec<(String, u32)>, (u32, u32));

/// The probe's vocabulary (`modalscope_analysis::reading::probe_words`: the built-in model's
/// caption words, else the tokenizer's whole-word tokens, most frequent first), at most
/// [`MAX_WORDS`]; and the start and end tokens.
fn vocabulary_of(model: &str, files: &TokenizerFiles) -> Result<Vocabulary, String> {
    let tok = ClipTokenizer::from_strings(&files.vocab_json, &files.merges_txt)
        .map_err(|e| e.to_string())?;
    let words = probe_words(model, &tok, MAX_WORDS);
    Ok((words, (tok.bos_id(), tok.eos_id())))
}

/// How a render loop talks to the world around it.
pub trait Host {
    /// Gives the event loop a turn (in the browser: a macrotask, so messages are delivered).
    fn yield_now(&self) -> impl Future<Output = ()>;
    /// Whether the page no longer wants this job.
    fn is_cancelled(&self, job: JobId) -> bool;
    /// Milliseconds on a monotonic clock.
    fn now_ms(&self) -> f64;
    /// Sends a response to the page.
    fn emit(&self, response: Response);
}

/// Runs one render to the end, to a cancellation or to an error, reporting every
/// `spec.progress_every` steps; every outcome is one final response (`Done`, `Cancelled` or
/// `Error`). After `Done` comes `Words`, the text-tower probe of the final images.
pub async fn render<B: AutodiffBackend>(
    engine: &Engine<B>,
    job: JobId,
    spec: &RenderSpec,
    host: &impl Host,
) {
    let started = host.now_ms();
    let outcome = run(engine, job, spec, host).await;
    let (response, images) = match outcome {
        Ok(Outcome::Done {
            value,
            image,
            pixels,
        }) => (
            Response::Done {
                job,
                steps: spec.steps,
                value,
                image,
                elapsed_ms: host.now_ms() - started,
            },
            Some(pixels),
        ),
        Ok(Outcome::Cancelled { step }) => (Response::Cancelled { job, step }, None),
        Err(e) => (
            Response::Error {
                job: Some(job),
                message: e.to_string(),
            },
            None,
        ),
    };
    host.emit(response);
    if let Some(pixels) = images {
        let response = match engine.words(pixels, host).await {
            Ok(words) => Response::Words {
                job,
                words,
                vocabulary: engine.vocabulary.len(),
            },
            Err(e) => Response::Error {
                job: Some(job),
                message: format!("the word probe failed: {e}"),
            },
        };
        host.emit(response);
    }
}

enum Outcome<B: Backend> {
    Done {
        value: f32,
        image: Rgba,
        pixels: Tensor<B, 4>,
    },
    Cancelled {
        step: usize,
    },
}

async fn run<B: AutodiffBackend>(
    engine: &Engine<B>,
    job: JobId,
    spec: &RenderSpec,
    host: &impl Host,
) -> Result<Outcome<B::InnerBackend>, EngineError> {
    let mut session = engine.start(spec)?;
    let mut value = f32::NAN;
    while !session.is_done() {
        // The yield comes first so a Cancel sent right after the request is seen before any work.
        host.yield_now().await;
        if host.is_cancelled(job) {
            return Ok(Outcome::Cancelled {
                step: session.steps_done(),
            });
        }
        let objective = session.step(engine.clip());
        let step = session.steps_done();
        let report = spec.progress_every > 0 && step % spec.progress_every == 0;
        if report || session.is_done() {
            value = read_back(objective).await?[0];
            if !value.is_finite() {
                return Err(EngineError::NotFinite(format!(
                    "the optimization diverged at step {step} (the objective is {value})"
                )));
            }
        }
        if report && !session.is_done() {
            let preview = images(&session).await?.0;
            host.emit(Response::Progress {
                job,
                step,
                steps: spec.steps,
                value,
                preview,
            });
        }
    }
    let (image, _) = images(&session).await?;
    Ok(Outcome::Done {
        value,
        image,
        pixels: session.images(),
    })
}

/// Renders thumbnails of several units of one layer as one batch; `jobs[i]` is the job of
/// `units[i]`. Each job ends with one response: `Thumbnail`, `Cancelled` or `Error`. The batch
/// stops early when every job in it is cancelled.
pub async fn thumbnails<B: AutodiffBackend>(
    engine: &Engine<B>,
    jobs: &[JobId],
    model: &str,
    layer: &str,
    units: &[usize],
    host: &impl Host,
) {
    let fail_all = |message: String| {
        for &job in jobs {
            host.emit(Response::Error {
                job: Some(job),
                message: message.clone(),
            });
        }
    };
    let mut session = match engine.start_thumbnails(model, layer, units) {
        Ok(s) => s,
        Err(e) => return fail_all(e.to_string()),
    };
    while !session.is_done() {
        host.yield_now().await;
        if jobs.iter().all(|&j| host.is_cancelled(j)) {
            for &job in jobs {
                host.emit(Response::Cancelled {
                    job,
                    step: session.steps_done(),
                });
            }
            return;
        }
        let _ = session.step(engine.clip());
    }
    let pixels = match read_back(session.images()).await {
        Ok(p) => p,
        Err(e) => return fail_all(e.to_string()),
    };
    let rgb = to_rgb8(&pixels, units.len(), THUMB_SIZE);
    for (&job, img) in jobs.iter().zip(rgb) {
        if host.is_cancelled(job) {
            host.emit(Response::Cancelled {
                job,
                step: THUMB_STEPS,
            });
        } else {
            host.emit(Response::Thumbnail {
                job,
                image: Rgba::from_rgb_images(&[img], THUMB_SIZE),
            });
        }
    }
}

/// The session's images, as the page shows them and as f32 values.
async fn images<B: AutodiffBackend>(session: &Session<B>) -> Result<(Rgba, Vec<f32>), EngineError> {
    let c = session.config();
    let pixels = read_back(session.images()).await?;
    let image = Rgba::from_rgb_images(&to_rgb8(&pixels, c.batch, c.size), c.size);
    Ok((image, pixels))
}

/// Reads a tensor back as f32 values, awaiting the device (required on WebGPU).
pub async fn read_back<B: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Result<Vec<f32>, EngineError> {
    let data: TensorData = t
        .into_data_async()
        .await
        .map_err(|e| EngineError::Readback(e.to_string()))?;
    data.convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| EngineError::Readback(format!("unexpected format: {e:?}")))
}

/// The page's description of a model: its name, architecture and image-tower layers (unit
/// counts and grids from one forward pass on a grey image; nothing is read back). The source,
/// size and vocabulary are left for the caller.
pub fn describe<B: Backend>(clip: &Clip<B>) -> ModelInfo {
    let config = clip.config();
    let s = config.vision.image_size();
    let grey = Tensor::<B, 4>::zeros([1, 3, s, s], &clip.device());
    let mut cap = Capture::all();
    let _ = clip.encode_image_with(grey, &mut cap);
    let layers = clip
        .layer_names()
        .into_iter()
        .filter(|n| n.starts_with("vision."))
        .filter_map(|name| {
            let act = cap.get(&name)?;
            Some(LayerInfo {
                units: act.channels(),
                grid: act.grid().unwrap_or([1, 1]),
                name,
            })
        })
        .collect();
    ModelInfo {
        source: ModelSource::Builtin,
        name: config.name.clone(),
        bytes: 0,
        vocabulary: 0,
        architecture: architecture(config),
        image_size: s,
        layers,
    }
}

/// One line about a CLIP's architecture.
pub fn architecture(c: &ClipConfig) -> String {
    let image = match &c.vision {
        VisionConfig::Vit(v) => format!(
            "ViT image tower: {} px input in {}×{} patches of {} px, {} blocks, width {}, {} heads, \
             MLP {}",
            v.image_size,
            v.grid(),
            v.grid(),
            v.patch_size,
            v.layers,
            v.width,
            v.heads,
            v.mlp_width
        ),
        VisionConfig::Resnet(r) => format!(
            "modified ResNet image tower: {} px input, stages of {:?} bottlenecks, base width {}, \
             {} pooling heads",
            r.image_size, r.layers, r.width, r.heads
        ),
    };
    format!(
        "{image}; text tower: {} blocks, width {}, {} tokens; joint space of {} dimensions",
        c.text.layers, c.text.width, c.text.context_length, c.projection_dim
    )
}

/// What the native tests of the worker's code share: a host that records responses and an
/// executor for futures whose awaits never wait.
#[cfg(test)]
pub(crate) mod testing {
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::Host;
    use crate::protocol::{JobId, Response};

    /// The built-in model.
    pub const BUILTIN: &[u8] = include_bytes!("../../../web/builtin.msb");

    /// Runs a future whose awaits never wait (the CPU backend's readbacks are ready at once).
    pub fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// Records what is sent; cancels every job after `cancel_after_yields` yields.
    #[derive(Default)]
    pub struct TestHost {
        pub sent: RefCell<Vec<Response>>,
        pub yields: Cell<usize>,
        pub cancel_after_yields: Option<usize>,
    }

    impl Host for TestHost {
        async fn yield_now(&self) {
            self.yields.set(self.yields.get() + 1);
        }
        fn is_cancelled(&self, _job: JobId) -> bool {
            self.cancel_after_yields
                .is_some_and(|n| self.yields.get() > n)
        }
        fn now_ms(&self) -> f64 {
            0.0
        }
        fn emit(&self, response: Response) {
            self.sent.borrow_mut().push(response);
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::testing::{BUILTIN, TestHost, block_on};
    use super::*;

    type B = Autodiff<Flex>;

    fn engine() -> Engine<B> {
        Engine::load(BUILTIN, ModelSource::Builtin, &Default::default())
            .expect("the built-in bundle loads")
    }

    /// A layer with a spatial grid (an MLP of a ViT block or a ResNet stage), whatever the
    /// built-in model's sizes.
    fn grid_layer(info: &ModelInfo) -> LayerInfo {
        info.layers
            .iter()
            .find(|l| modalscope_model::is_neuron_layer(&l.name) && l.grid != [1, 1])
            .or_else(|| info.layers.iter().find(|l| l.grid != [1, 1]))
            .cloned()
            .expect("the image tower has a spatial layer")
    }

    fn spec(info: &ModelInfo, steps: usize) -> RenderSpec {
        RenderSpec {
            model: info.name.clone(),
            layer: grid_layer(info).name,
            unit: 7,
            objective: UnitObjective::Neuron,
            seed: 1,
            steps,
            size: 32,
            batch: 1,
            progress_every: 2,
        }
    }

    #[test]
    fn describes_the_builtin_model() {
        let e = engine();
        let info = e.info();
        assert!(!info.name.is_empty());
        assert_eq!(info.source, ModelSource::Builtin);
        assert_eq!(info.bytes, BUILTIN.len() as u64);
        assert!(info.image_size >= 16, "{}", info.image_size);
        assert!(
            info.architecture.contains("image tower"),
            "{}",
            info.architecture
        );
        let layer = grid_layer(info);
        assert!(layer.units > 7 && layer.grid[0] > 1, "{layer:?}");
        assert_eq!(info.layer("vision.embeds").unwrap().grid, [1, 1]);
        assert!(info.layers.iter().all(|l| l.name.starts_with("vision.")));
        let embeds = info.layer("vision.embeds").unwrap().units;
        assert_eq!(block_on(e.probe()).unwrap().len(), embeds);
        assert!(info.vocabulary > 10, "{} words", info.vocabulary);
        assert!(e.vocabulary.iter().all(|(w, _)| !w.contains("</w>")));
    }

    #[test]
    fn renders_with_progress_words_and_is_deterministic() {
        let e = engine();
        let s = spec(e.info(), 4);
        let run_once = || {
            let host = TestHost::default();
            block_on(render(&e, 9, &s, &host));
            host.sent.into_inner()
        };
        let sent = run_once();
        let progress = sent
            .iter()
            .filter(|r| matches!(r, Response::Progress { .. }))
            .count();
        assert_eq!(progress, 1, "{sent:?}");
        let done = sent
            .iter()
            .find(|r| matches!(r, Response::Done { .. }))
            .cloned();
        let Some(Response::Done {
            job, steps, image, ..
        }) = &done
        else {
            panic!("{sent:?}")
        };
        assert_eq!((*job, *steps), (9, 4));
        assert_eq!((image.width, image.height), (32, 32));
        let first = image.bytes[0..3].to_vec();
        assert!(
            image.bytes.chunks(4).any(|px| px[0..3] != first[..]),
            "the image is constant"
        );
        let Some(Response::Words {
            job: 9,
            words,
            vocabulary,
        }) = sent.last()
        else {
            panic!("no words after the render: {sent:?}")
        };
        assert_eq!(*vocabulary, e.info().vocabulary);
        assert_eq!(words.len(), TOP_WORDS.min(*vocabulary));
        assert!(words.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(words.iter().all(|w| (-1.0..=1.0).contains(&w.score)));
        let again = run_once();
        assert_eq!(
            again.iter().find(|r| matches!(r, Response::Done { .. })),
            done.as_ref(),
            "the same seed gives the same image"
        );
        assert_eq!(again.last(), sent.last(), "the same words");
    }

    #[test]
    fn facets_differ() {
        let e = engine();
        let s = RenderSpec {
            batch: 2,
            ..spec(e.info(), 3)
        };
        let host = TestHost::default();
        block_on(render(&e, 2, &s, &host));
        let sent = host.sent.into_inner();
        let Some(Response::Done { image, .. }) =
            sent.iter().find(|r| matches!(r, Response::Done { .. }))
        else {
            panic!("{sent:?}")
        };
        assert_eq!((image.width, image.height), (64, 32));
        let row = |y: usize, x0: usize| &image.bytes[(y * 64 + x0) * 4..(y * 64 + x0 + 32) * 4];
        assert!(
            (0..32).any(|y| row(y, 0) != row(y, 32)),
            "the facets are equal"
        );
    }

    #[test]
    fn thumbnails_come_back_one_per_job() {
        let e = engine();
        let info = e.info().clone();
        let layer = grid_layer(&info).name;
        let host = TestHost::default();
        block_on(thumbnails(
            &e,
            &[4, 5, 6],
            &info.name,
            &layer,
            &[0, 1, 2],
            &host,
        ));
        let sent = host.sent.into_inner();
        assert_eq!(sent.len(), 3, "{sent:?}");
        let mut images = Vec::new();
        for (r, job) in sent.iter().zip([4, 5, 6]) {
            let Response::Thumbnail { job: j, image } = r else {
                panic!("{r:?}")
            };
            assert_eq!(*j, job);
            assert_eq!((image.width, image.height), (THUMB_SIZE, THUMB_SIZE));
            images.push(image.bytes.clone());
        }
        assert_ne!(images[0], images[1]);

        let host = TestHost {
            cancel_after_yields: Some(1),
            ..TestHost::default()
        };
        block_on(thumbnails(&e, &[7, 8], &info.name, &layer, &[0, 1], &host));
        assert_eq!(
            host.sent.into_inner(),
            vec![
                Response::Cancelled { job: 7, step: 1 },
                Response::Cancelled { job: 8, step: 1 }
            ]
        );
        let host = TestHost::default();
        block_on(thumbnails(
            &e,
            &[9],
            &info.name,
            &layer,
            &[1_000_000],
            &host,
        ));
        assert!(
            matches!(
                &host.sent.into_inner()[..],
                [Response::Error { job: Some(9), .. }]
            ),
            "an out-of-range unit is an error"
        );
    }

    #[test]
    fn cancellation_stops_between_steps() {
        let e = engine();
        let host = TestHost {
            cancel_after_yields: Some(2),
            ..TestHost::default()
        };
        block_on(render(&e, 5, &spec(e.info(), 50), &host));
        let sent = host.sent.into_inner();
        assert_eq!(sent.last(), Some(&Response::Cancelled { job: 5, step: 2 }));
    }

    #[test]
    fn bad_requests_become_messages() {
        let e = engine();
        let info = e.info().clone();
        let layer = grid_layer(&info);
        let message = |s: RenderSpec| {
            let host = TestHost::default();
            block_on(render(&e, 1, &s, &host));
            match host.sent.into_inner().pop() {
                Some(Response::Error {
                    job: Some(1),
                    message,
                }) => message,
                other => panic!("{other:?}"),
            }
        };
        let m = message(RenderSpec {
            unit: layer.units,
            ..spec(&info, 2)
        });
        assert!(
            m.contains(&format!("{} units", layer.units))
                && m.contains(&format!("no unit {}", layer.units)),
            "{m}"
        );
        let m = message(RenderSpec {
            layer: "vision.blocks.99.mlp".into(),
            ..spec(&info, 2)
        });
        assert!(m.contains("unknown layer"), "{m}");
        let m = message(RenderSpec {
            model: "clip-vit-b32".into(),
            ..spec(&info, 2)
        });
        assert!(m.contains("no model `clip-vit-b32`"), "{m}");
        let m = message(RenderSpec {
            layer: "text.blocks.0.mlp".into(),
            ..spec(&info, 2)
        });
        assert!(m.contains("text tower"), "{m}");
    }

    #[test]
    fn models_are_named_after_their_url() {
        let name = |u: &str| name_from_url(u);
        assert_eq!(
            name(
                "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/model.safetensors"
            )
            .as_deref(),
            Some("clip-vit-base-patch32")
        );
        assert_eq!(
            name("http://h:8/m/rn50x4.safetensors?x=1").as_deref(),
            Some("rn50x4")
        );
        assert_eq!(
            name("http://h/models/hf/model.safetensors").as_deref(),
            Some("hf")
        );
        assert_eq!(name("http://h/model.safetensors"), None);
    }

    #[test]
    fn checkpoints_load_with_the_files_next_to_them() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
        let read = |p: &str| std::fs::read(format!("{fixtures}/{p}")).unwrap();
        let text = |p: &str| String::from_utf8(read(p)).unwrap();
        let hf = read("hf_vit/model.safetensors");
        let source = ModelSource::Url("http://h/hf/model.safetensors".into());
        // Without a config, shapes that are not CLIP's usual ones cannot be read.
        let err = Engine::<B>::load(&hf, source.clone(), &Default::default())
            .err()
            .expect("the tiny fixture needs its config");
        assert!(err.to_string().contains("config"), "{err}");
        let extras = Extras {
            config_json: Some(text("hf_vit/config.json")),
            tokenizer: Some(TokenizerFiles {
                vocab_json: text("tokenizer/vocab.json"),
                merges_txt: text("tokenizer/merges.txt"),
            }),
            name: Some("hf".into()),
        };
        let mut e =
            Engine::<B>::load_with(&hf, &extras, source.clone(), &Default::default()).unwrap();
        assert_eq!(e.info().name, "hf");
        // Quantized to an int8 bundle that carries the name, config and tokenizer, and runs
        // the very weights the engine runs: a visit that loads it from the cache sees the same.
        let int8 = e.take_quantized().expect("a checkpoint is quantized");
        assert!(e.take_quantized().is_none());
        assert!(
            bundle::is_bundle(&int8) && int8.len() < hf.len() / 2,
            "{}",
            int8.len()
        );
        assert!(
            e.info()
                .architecture
                .contains("quantized to int8 in the browser")
        );
        let cached = Engine::<B>::load(&int8, source, &Default::default()).unwrap();
        assert_eq!(
            (cached.info().name.as_str(), cached.info().vocabulary),
            ("hf", e.info().vocabulary)
        );
        let size = e.info().image_size;
        let x = Tensor::<B, 4>::ones([1, 3, size, size], &Default::default()) * 0.25;
        let embed = |e: &Engine<B>| {
            e.clip()
                .encode_image(x.clone())
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .unwrap()
        };
        assert_eq!(embed(&e), embed(&cached));
        // Close to the float32 checkpoint (int8 rows keep about two decimal digits).
        let (config, store) = checkpoint_store(&hf, &extras).unwrap();
        let f32_clip = Clip::<B>::from_store(&config, store, &Default::default()).unwrap();
        let exact = f32_clip
            .encode_image(x.clone())
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap();
        let cos = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            dot / (n(a) * n(b))
        };
        let c = cos(&embed(&e), &exact);
        assert!(c > 0.99, "int8 vs float32 embedding cosine {c}");
        assert!(e.info().vocabulary > 100, "{}", e.info().vocabulary);
        assert!(e.info().architecture.starts_with("ViT"));

        let rn = read("openai_rn/model.safetensors");
        let extras = Extras {
            config_json: Some(format!(
                "{{\"model_cfg\": {}}}",
                text("openai_rn/open_clip_config.json")
            )),
            tokenizer: None,
            name: Some("rn".into()),
        };
        let e = Engine::<B>::load_with(&rn, &extras, ModelSource::Builtin, &Default::default())
            .unwrap();
        assert!(e.info().architecture.contains("ResNet"));
        assert_eq!(e.info().vocabulary, 0);
        let layer = grid_layer(e.info());
        let host = TestHost::default();
        let s = RenderSpec {
            model: "rn".into(),
            layer: layer.name,
            ..spec(e.info(), 2)
        };
        block_on(render(&e, 3, &s, &host));
        let sent = host.sent.into_inner();
        assert!(
            matches!(sent.last(), Some(Response::Words { words, vocabulary: 0, .. }) if words.is_empty()),
            "{sent:?}"
        );
    }

    #[test]
    fn files_that_are_not_models_are_named() {
        let load = |bytes: &[u8]| match Engine::<B>::load(
            bytes,
            ModelSource::Url("u".into()),
            &Default::default(),
        ) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.to_string(),
        };
        let m = load(b"<!DOCTYPE html><html><body>Not Found</body></html>");
        assert!(
            m.starts_with("the file at u cannot be loaded")
                && m.contains("neither a modalscope bundle nor a safetensors")
                && m.contains("HTML page"),
            "{m}"
        );
        assert!(load(b"").contains("empty"));
        assert!(load(b"PK\x03\x04 whatever").contains("zip"));
        let m = load(&BUILTIN[..BUILTIN.len() / 2]);
        assert!(m.contains("truncated"), "{m}");
        let mut corrupt = BUILTIN.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0x55;
        assert!(load(&corrupt).contains("corrupt"));
        // A safetensors file that is not a CLIP.
        let mut st = Vec::new();
        let header = br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        st.extend_from_slice(&(header.len() as u64).to_le_bytes());
        st.extend_from_slice(header);
        st.extend_from_slice(&[0, 0, 0, 0]);
        let m = load(&st);
        assert!(m.starts_with("the file at u cannot be loaded"), "{m}");
    }
}
