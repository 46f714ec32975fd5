//! One neuron: its feature visualization, rendered live in the worker, the words closest to it
//! (text tower) and the written words that drive it (rendered text), and its link, PNG and
//! embed code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use leptos::html;
use leptos::prelude::*;

use crate::protocol::{Ablation, ModelInfo, RenderSpec, UnitObjective};
use crate::route::{DEFAULT_PER_CONCEPT, LesionParams, MultimodalParams, RenderParams, Route};
use crate::worker_client::{RenderState, RenderView, Words, WorkerClient};

use super::check_layer;
use super::crumbs::Crumbs;

/// Checks a neuron link against the model; `Err` says what is wrong.
pub fn check_neuron(info: &ModelInfo, model: &str, layer: &str, unit: usize) -> Result<(), String> {
    check_layer(info, model, layer)?;
    let units = info.layer(layer).map_or(0, |l| l.units);
    if unit >= units {
        return Err(format!(
            "Layer `{layer}` has {units} units (0 to {}); there is no unit {unit}.",
            units.saturating_sub(1)
        ));
    }
    Ok(())
}

/// The neuron card: starts the render when shown, cancels it when left.
#[component]
pub fn NeuronCard(
    /// The loaded model.
    info: ModelInfo,
    /// What to render (checked against the model).
    spec: RenderSpec,
    /// Whether the card is the whole (embedded) page.
    embed: bool,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let first = client.start_render(spec.clone());
    let job = RwSignal::new(first);
    // Cleanup may run after the card's signals are gone; the job lives in a plain atomic too.
    let current = Arc::new(AtomicU32::new(first));
    {
        let current = current.clone();
        on_cleanup(move || client.cancel(current.load(Ordering::Relaxed)));
    }
    let src = info.source.url().map(str::to_string);

    let view_of = move || {
        client
            .render
            .with(|r| r.as_ref().filter(|r| r.job == job.get()).cloned())
    };
    let state = Memo::new(move |_| view_of().map(|r| r.state));
    let active = move || state.get().is_some_and(|s| s.is_active());
    let has_image = Memo::new(move |_| {
        client.render.with(|r| {
            r.as_ref()
                .is_some_and(|r| r.job == job.get() && r.image.is_some())
        })
    });

    let canvas = NodeRef::<html::Canvas>::new();
    #[cfg(target_arch = "wasm32")]
    Effect::new(move |_| {
        let Some(canvas) = canvas.get() else { return };
        let job = job.get();
        client.render.with(|r| {
            let Some(r) = r.as_ref().filter(|r| r.job == job) else {
                return;
            };
            if let Some(image) = &r.image
                && let Err(e) = crate::browser::paint(&canvas, image)
            {
                leptos::logging::error!("modalscope: cannot paint the canvas: {e}");
            }
            // Set after painting, so `data-state="done"` means the final pixels are there.
            let _ = canvas.set_attribute("data-state", r.state.attr());
            let _ = canvas.set_attribute("data-step", &r.step.to_string());
            if let Some(ms) = r.elapsed_ms {
                let _ = canvas.set_attribute("data-elapsed-ms", &format!("{ms:.1}"));
            }
        });
    });

    let on_cancel = move |_| client.cancel(job.get_untracked());
    let restart = {
        let spec = spec.clone();
        let current = current.clone();
        move |_| {
            let new = client.start_render(spec.clone());
            current.store(new, Ordering::Relaxed);
            job.set(new);
        }
    };

    let steps = spec.steps;
    let status = move || match view_of() {
        None => "starting…".to_string(),
        Some(r) => status_text(&r),
    };
    let error = move || match state.get() {
        Some(RenderState::Failed(message)) => Some(view! {
            <p class="message" id="fv-error" role="alert">{message}</p>
        }),
        _ => None,
    };
    let settings = settings_text(&spec);
    let hash = neuron_hash(&spec, src.as_deref());
    #[cfg(target_arch = "wasm32")]
    let full_href = crate::browser::full_page_href(&hash);
    #[cfg(not(target_arch = "wasm32"))]
    let full_href = hash.clone();
    let open_full = embed.then(|| {
        view! {
            <a class="open-full" id="open-full" href=full_href.clone() target="_blank" rel="noopener">
                "Open in modalscope ↗"
            </a>
        }
    });
    let analyses = (!embed).then(|| {
        let lesion = Route::Lesion {
            model: spec.model.clone(),
            params: LesionParams {
                layer: spec.layer.clone(),
                units: vec![spec.unit],
                ablation: Ablation::Zero,
                per_concept: DEFAULT_PER_CONCEPT,
                concept: None,
                needed: None,
            },
        }
        .href(src.as_deref());
        let multimodal = Route::Multimodal {
            model: spec.model.clone(),
            layer: spec.layer.clone(),
            params: MultimodalParams::default(),
        }
        .href(src.as_deref());
        view! {
            <p class="view-links small" id="neuron-views">
                <a id="neuron-lesion" href=lesion>"Lesion this unit"</a>
                " (zero-shot accuracy per concept without it) · "
                <a id="neuron-multimodal" href=multimodal>"multimodal neurons of this layer"</a>
            </p>
        }
    });
    let examples = (!embed).then(|| {
        view! {
            <super::DatasetExamples
                model=spec.model.clone()
                layer=spec.layer.clone()
                unit=spec.unit
                src=src.clone()
            />
        }
    });
    let reading = (!embed).then(|| {
        let done = Signal::derive(move || state.get() == Some(RenderState::Done));
        view! {
            <super::WrittenWords
                model=spec.model.clone()
                layer=spec.layer.clone()
                unit=spec.unit
                ready=done
            />
        }
    });
    let crumbs = (!embed).then(|| {
        view! {
            <Crumbs
                model=spec.model.clone()
                src=src.clone()
                layer=spec.layer.clone()
                here=format!("unit {}", spec.unit)
            />
        }
    });

    // PNG download and embed code.
    let file_name = format!(
        "{}-{}-{}-seed{}-{}steps-{}px.png",
        spec.model, spec.layer, spec.unit, spec.seed, spec.steps, spec.size
    );
    let download = move |_| {
        #[cfg(target_arch = "wasm32")]
        if let Some(c) = canvas.get_untracked()
            && let Err(e) = crate::browser::download_png(&c, &file_name)
        {
            leptos::logging::error!("modalscope: no download: {e}");
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = &file_name;
    };
    let tile = if embed { 200 } else { 256 };
    let (copy_embed, embed_box) = embed_code(embed_snippet(&full_href, &spec, tile));
    let tools = (!embed).then(|| {
        view! {
            <button id="fv-download" on:click=download disabled=move || !has_image.get()>
                "Download PNG"
            </button>
            <button id="fv-embed" on:click=copy_embed>"Copy embed code"</button>
        }
    });
    let link = (!embed).then(|| {
        view! {
            <p class="permalink muted">
                "Link to exactly this image: "
                <a id="fv-link" href=hash.clone()>{full_href.clone()}</a>
            </p>
        }
    });
    let form = (!embed).then(|| view! { <SettingsForm spec=spec.clone() src=src.clone()/> });

    let words = move || {
        let r = view_of()?;
        let body = match (&r.state, r.words) {
            (_, Some(Words::Found(words, 0))) if words.is_empty() => view! {
                <p class="muted" id="words-none">
                    "These weights came without a tokenizer, so there are no words to compare."
                </p>
            }
            .into_any(),
            (_, Some(Words::Found(words, vocabulary))) => {
                // Bars from a quarter (the last word shown) to full (the best), so that close
                // scores still look different.
                let best = words.first().map_or(1.0, |w| w.score);
                let last = words.last().map_or(0.0, |w| w.score);
                let items = words
                    .into_iter()
                    .map(|w| {
                        let t = if best > last {
                            (w.score - last) / (best - last)
                        } else {
                            1.0
                        };
                        let width = format!("{:.0}%", 25.0 + 75.0 * t.clamp(0.0, 1.0));
                        view! {
                            <li>
                                <span class="word">{w.word}</span>
                                <span class="bar"><span style:width=width></span></span>
                                <span class="score">{format!("{:.3}", w.score)}</span>
                            </li>
                        }
                    })
                    .collect_view();
                view! {
                    <ol class="words" id="words" data-vocabulary=vocabulary>{items}</ol>
                    <p class="muted small">
                        {format!(
                            "Cosine similarity in the joint space between the image's embedding \
                             and the text embeddings of {vocabulary} vocabulary words."
                        )}
                    </p>
                }
                .into_any()
            }
            (_, Some(Words::Failed(message))) => {
                view! { <p class="message" id="words-error">{message}</p> }.into_any()
            }
            (RenderState::Done, None) => {
                view! { <p class="muted" id="words-waiting">"Comparing with the vocabulary…"</p> }
                    .into_any()
            }
            _ => view! {
                <p class="muted" id="words-waiting">"The words come when the image is done."</p>
            }
            .into_any(),
        };
        Some(view! {
            <section class="words-section">
                <h2>"Words closest to this image (text-tower probe)"</h2>
                {body}
            </section>
        })
    };

    view! {
        <article class="card neuron" id="neuron-card">
            {crumbs}
            <h1 class="neuron-title">
                {spec.layer.clone()} <span class="unit">" · unit " {spec.unit}</span>
            </h1>
            <canvas
                node_ref=canvas
                id="fv-canvas"
                class="fv"
                width=spec.size * spec.batch
                height=spec.size
                style:width=format!("{}px", tile * spec.batch)
                data-state="starting"
                data-step="0"
            ></canvas>
            <div class="progress">
                <progress
                    id="fv-progress"
                    max=steps
                    value=move || view_of().map_or(0, |r| r.step)
                ></progress>
                <span id="fv-status">{status}</span>
            </div>
            {error}
            <div class="actions">
                <button id="fv-cancel" on:click=on_cancel disabled=move || !active()>
                    "Cancel"
                </button>
                <button id="fv-restart" on:click=restart disabled=active>
                    "Render again"
                </button>
                {tools}
            </div>
            {embed_box}
            <p class="settings muted">{settings}</p>
            {open_full}
            {analyses}
            {examples}
            {words}
            {reading}
            {link}
            {form}
        </article>
    }
}

/// Seed, steps, size and facets, leading to the link of those settings.
#[component]
fn SettingsForm(
    /// The settings shown now.
    spec: RenderSpec,
    /// The model's source.
    src: Option<String>,
) -> impl IntoView {
    let seed = RwSignal::new(spec.seed.to_string());
    let steps = RwSignal::new(spec.steps.to_string());
    let size = RwSignal::new(spec.size.to_string());
    let facets = RwSignal::new(spec.batch.to_string());
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let params = RenderParams {
            seed: seed.get_untracked().trim().parse().unwrap_or(spec.seed),
            steps: steps.get_untracked().trim().parse().unwrap_or(spec.steps),
            size: size.get_untracked().trim().parse().unwrap_or(spec.size),
            batch: facets.get_untracked().trim().parse().unwrap_or(spec.batch),
            objective: spec.objective,
        };
        let hash = Route::Neuron {
            model: spec.model.clone(),
            layer: spec.layer.clone(),
            unit: spec.unit,
            params,
        }
        .href(src.as_deref());
        #[cfg(target_arch = "wasm32")]
        crate::browser::navigate(&hash);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = hash;
    };
    let field = |label: &'static str, id: &'static str, value: RwSignal<String>| {
        view! {
            <label>
                {label}
                <input
                    id=id
                    type="number"
                    min="0"
                    prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))
                />
            </label>
        }
    };
    view! {
        <form class="settings-form" id="fv-settings" on:submit=apply>
            {field("seed", "set-seed", seed)}
            {field("steps", "set-steps", steps)}
            {field("size", "set-size", size)}
            {field("facets", "set-facets", facets)}
            <button type="submit" id="set-apply">"Render with these settings"</button>
        </form>
    }
}

fn status_text(r: &RenderView) -> String {
    let steps = r.spec.steps;
    let value = r
        .value
        .map(|v| format!(" · objective {v:.4}"))
        .unwrap_or_default();
    match &r.state {
        RenderState::Starting => "starting…".to_string(),
        RenderState::Running => format!("step {} / {steps}{value}", r.step),
        RenderState::Done => format!(
            "done: {steps} steps in {:.1} s{value}",
            r.elapsed_ms.unwrap_or(0.0) / 1000.0
        ),
        RenderState::Cancelled => format!("cancelled at step {} / {steps}", r.step),
        RenderState::Failed(_) => format!("failed at step {} / {steps}", r.step),
    }
}

/// The hash of a neuron link for a render spec.
pub(super) fn neuron_hash(spec: &RenderSpec, src: Option<&str>) -> String {
    Route::Neuron {
        model: spec.model.clone(),
        layer: spec.layer.clone(),
        unit: spec.unit,
        params: RenderParams {
            seed: spec.seed,
            steps: spec.steps,
            size: spec.size,
            batch: spec.batch,
            objective: spec.objective,
        },
    }
    .href(src)
}

/// The `<iframe>` that embeds a neuron card: `full_href` is the full page's address for the
/// neuron (`?embed=true` is added before its hash).
fn embed_snippet(full_href: &str, spec: &RenderSpec, tile: usize) -> String {
    let width = (tile * spec.batch).max(240) + 40;
    let height = tile + 230;
    iframe_snippet(
        full_href,
        [width, height],
        &format!("{} unit {}", spec.layer, spec.unit),
    )
}

/// An `<iframe>` of the embedded page whose full page is at `full_href` (`?embed=true` is
/// added before its hash), `size` (width, height) pixels, titled `modalscope: {title}`.
pub(super) fn iframe_snippet(full_href: &str, size: [usize; 2], title: &str) -> String {
    let (page, hash) = full_href.split_once('#').unwrap_or((full_href, ""));
    let page = page.split_once('?').map_or(page, |(p, _)| p);
    let [width, height] = size;
    format!(
        "<iframe src=\"{page}?embed=true#{hash}\" width=\"{width}\" height=\"{height}\" \
         style=\"border:0\" loading=\"lazy\" title=\"modalscope: {}\"></iframe>",
        escape_attr(title)
    )
}

/// The "Copy embed code" button's handler and the box that shows the code once it is clicked
/// (with whether the clipboard took it).
pub(super) fn embed_code(
    snippet: String,
) -> (
    impl Fn(leptos::ev::MouseEvent) + Clone + Send + Sync + 'static,
    impl Fn() -> Option<AnyView> + Send + Sync + 'static,
) {
    let embed_shown = RwSignal::new(false);
    let copied = RwSignal::new(None::<bool>);
    let copy = {
        let snippet = snippet.clone();
        move |_| {
            embed_shown.set(true);
            #[cfg(target_arch = "wasm32")]
            {
                let snippet = snippet.clone();
                leptos::task::spawn_local(async move {
                    copied.set(Some(crate::browser::copy_text(&snippet).await.is_ok()));
                });
            }
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (&snippet, copied);
        }
    };
    let code = move || {
        embed_shown.get().then(|| {
            let note = match copied.get() {
                Some(true) => "Copied to the clipboard. Paste it into an article's HTML:",
                Some(false) => {
                    "Copy this into an article's HTML (the clipboard was not available):"
                }
                None => "Paste this into an article's HTML:",
            };
            view! {
                <div class="embed-code">
                    <p class="muted" id="embed-note">{note}</p>
                    <textarea id="embed-code" readonly rows="3" spellcheck="false">
                        {snippet.clone()}
                    </textarea>
                </div>
            }
            .into_any()
        })
    };
    (copy, code)
}

/// Seed, steps, size, facets and objective of a render, in words.
pub(super) fn settings_text(spec: &RenderSpec) -> String {
    format!(
        "seed {} · {} steps · {} px{} · {} objective",
        spec.seed,
        spec.steps,
        spec.size,
        if spec.batch > 1 {
            format!(" · {} facets (diversity)", spec.batch)
        } else {
            String::new()
        },
        match spec.objective {
            UnitObjective::Neuron => "neuron (centre)",
            UnitObjective::Channel => "channel (mean)",
        }
    )
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{LayerInfo, ModelSource};

    fn info() -> ModelInfo {
        ModelInfo {
            source: ModelSource::Builtin,
            name: "modalscope-synth".into(),
            bytes: 0,
            vocabulary: 0,
            architecture: "ViT".into(),
            image_size: 64,
            layers: vec![
                LayerInfo {
                    name: "vision.blocks.3.mlp".into(),
                    units: 512,
                    grid: [8, 8],
                },
                LayerInfo {
                    name: "vision.embeds".into(),
                    units: 128,
                    grid: [1, 1],
                },
            ],
        }
    }

    #[test]
    fn good_links_pass() {
        assert_eq!(
            check_neuron(&info(), "modalscope-synth", "vision.blocks.3.mlp", 511),
            Ok(())
        );
    }

    #[test]
    fn bad_links_are_explained() {
        let i = info();
        let e = check_neuron(&i, "clip-vit-b32", "vision.blocks.3.mlp", 1).unwrap_err();
        assert!(
            e.contains("no model `clip-vit-b32`") && e.contains("modalscope-synth"),
            "{e}"
        );
        let e = check_neuron(&i, "modalscope-synth", "vision.blocks.9.mlp", 1).unwrap_err();
        assert!(
            e.contains("no image-tower layer `vision.blocks.9.mlp`"),
            "{e}"
        );
        assert!(e.contains("vision.embeds"), "{e}");
        let e = check_neuron(&i, "modalscope-synth", "text.blocks.0.mlp", 1).unwrap_err();
        assert!(e.contains("text tower"), "{e}");
        let e = check_neuron(&i, "modalscope-synth", "vision.blocks.3.mlp", 512).unwrap_err();
        assert!(
            e.contains("512 units (0 to 511)") && e.contains("no unit 512"),
            "{e}"
        );
    }

    #[test]
    fn the_card_links_back_to_the_same_neuron() {
        let spec = RenderParams::default().spec("m", "vision.blocks.3.mlp", 7);
        assert_eq!(neuron_hash(&spec, None), "#/m/vision.blocks.3.mlp/7");
        assert_eq!(
            neuron_hash(&spec, Some("http://h/m.msb")),
            "#/m/vision.blocks.3.mlp/7?src=http%3A%2F%2Fh%2Fm.msb"
        );
    }

    #[test]
    fn the_embed_code_is_an_iframe_of_the_embedded_card() {
        let spec = RenderParams {
            seed: 3,
            ..RenderParams::default()
        }
        .spec("m", "vision.blocks.3.mlp", 7);
        let s = embed_snippet(
            "https://example.org/scope/#/m/vision.blocks.3.mlp/7?seed=3",
            &spec,
            200,
        );
        assert!(
            s.starts_with(
                "<iframe src=\"https://example.org/scope/?embed=true#/m/vision.blocks.3.mlp/7?seed=3\""
            ),
            "{s}"
        );
        assert!(
            s.ends_with("></iframe>") && s.contains("width=\"280\""),
            "{s}"
        );
    }
}
