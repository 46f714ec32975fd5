//! Home: the model, its architecture and its image-tower layers; opening another CLIP.

use leptos::prelude::*;

use crate::protocol::{ModelInfo, ModelSource};
use crate::route::{AttackParams, FamiliesParams, MultimodalParams, Route};

use super::notice::megabytes;

/// The model overview.
#[component]
pub fn Home(
    /// The loaded model.
    info: ModelInfo,
) -> impl IntoView {
    let model = info.name.clone();
    let src = info.source.url().map(str::to_string);
    let rows = info
        .layers
        .iter()
        .map(|l| {
            let href = Route::Layer {
                model: model.clone(),
                layer: l.name.clone(),
            }
            .href(src.as_deref());
            let [rows, cols] = l.grid;
            view! {
                <li>
                    <a class="layer-link" href=href>{l.name.clone()}</a>
                    <span class="muted">{format!("{} units · {rows}×{cols}", l.units)}</span>
                </li>
            }
        })
        .collect_view();
    let origin = match &info.source {
        ModelSource::Builtin => format!("built into the page · {}", megabytes(info.bytes)),
        ModelSource::Url(url) => format!("from {url} · {}", megabytes(info.bytes)),
    };
    let words = if info.vocabulary > 0 {
        format!(
            "{} vocabulary words for the text-tower probe",
            info.vocabulary
        )
    } else {
        "no tokenizer came with these weights, so there is no word probe".to_string()
    };
    let analyses = super::default_layer(&info).map(|layer| {
        let model = info.name.clone();
        let multimodal = Route::Multimodal {
            model: model.clone(),
            layer: layer.clone(),
            params: MultimodalParams::default(),
        }
        .href(src.as_deref());
        let families = Route::Families {
            model: model.clone(),
            layer: layer.clone(),
            params: FamiliesParams::default(),
        }
        .href(src.as_deref());
        let images = Route::Images {
            model: model.clone(),
        }
        .href(src.as_deref());
        let attack = Route::Attack {
            model,
            params: AttackParams::default(),
        }
        .href(src.as_deref());
        view! {
            <h2>"Analyses"</h2>
            <ul class="layers" id="analyses">
                <li>
                    <a id="home-multimodal" href=multimodal>"Multimodal neurons"</a>
                    <span class="muted">
                        {format!("units of {layer} that pick out a concept drawn and written")}
                    </span>
                </li>
                <li>
                    <a id="home-families" href=families>"Neuron families"</a>
                    <span class="muted">{format!("units of {layer} grouped by concept")}</span>
                </li>
                <li>
                    <a id="home-images" href=images>"Image sets, dataset examples and atlases"</a>
                    <span class="muted">
                        "your images (or generated ones) through the model: each unit's best                          images, activation atlases, export"
                    </span>
                </li>
                <li>
                    <a id="home-attack" href=attack>"Typographic attack"</a>
                    <span class="muted">"write a word on a drawing, watch the label change"</span>
                </li>
            </ul>
        }
    });
    view! {
        <section class="card model">
            <h1 id="model-name">{info.name.clone()}</h1>
            <p class="architecture" id="model-architecture">{info.architecture.clone()}</p>
            <p class="muted source" id="model-source">{origin} " · " {words}</p>
            <h2>"Image-tower layers"</h2>
            <ul class="layers" id="layers">{rows}</ul>
            {analyses}
        </section>
        <OpenModel current=info.source.clone()/>
    }
}

/// "Open a CLIP from a URL": a form that leads to `#/?src=URL`.
#[component]
pub fn OpenModel(
    /// The model shown now.
    current: ModelSource,
) -> impl IntoView {
    let url = RwSignal::new(current.url().unwrap_or_default().to_string());
    let problem = RwSignal::new(None::<String>);
    let open = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = url.get_untracked();
        let typed = typed.trim();
        if typed.is_empty() {
            problem.set(Some("Type or paste the URL of a model's weights.".into()));
            return;
        }
        #[cfg(target_arch = "wasm32")]
        match crate::browser::absolute_url(typed) {
            Ok(absolute) => {
                problem.set(None);
                crate::browser::navigate(&Route::Home.href(Some(&absolute)));
            }
            Err(e) => problem.set(Some(e)),
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = typed;
    };
    let back = current.url().is_some().then(|| {
        view! { <p class="muted"><a href="#/" id="open-builtin">"Back to the built-in model"</a></p> }
    });
    view! {
        <section class="card open-model" id="open-model">
            <h2>"Open a CLIP from a URL"</h2>
            <form class="open-form" on:submit=open>
                <input
                    id="model-url"
                    type="text"
                    inputmode="url"
                    autocomplete="off"
                    placeholder="https://…/model.msb or …/model.safetensors"
                    spellcheck="false"
                    prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))
                />
                <button id="model-open" type="submit">"Open"</button>
            </form>
            {move || problem.get().map(|p| view! { <p class="message" id="open-problem">{p}</p> })}
            <p class="muted hint">
                "A modalscope bundle (" <code>"modalscope convert"</code>
                " writes one) or a CLIP safetensors checkpoint, e.g. Hugging Face's "
                <code>"openai/clip-vit-base-patch32"</code> " " <code>"model.safetensors"</code>
                ". The server must let other sites read the file (CORS). The download is kept \
                 in this browser's cache, and the page's links name the URL, so they open the \
                 same weights elsewhere."
            </p>
            {back}
        </section>
    }
}
