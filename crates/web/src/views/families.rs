//! Neuron families: the units of a layer clustered by which concepts drive them (their mean
//! response to each concept, drawn and written), each family with its members and the
//! concepts it prefers.

use leptos::prelude::*;
use modalscope_synth::CONCEPTS;

use crate::protocol::{AnalysisResult, AnalysisTask, FamiliesResult, FamiliesSpec, ModelInfo};
use crate::route::{FamiliesParams, MultimodalParams, RenderParams, Route};
use crate::worker_client::{Thumb, WorkerClient};

use super::analysis::{AnalysisRun, AnalysisStatus, ImageCanvas};
use super::crumbs::Crumbs;

/// Members of a family shown with a thumbnail (the rest as links).
pub const THUMBNAILED: usize = 6;

/// The families of a layer (the link was checked).
#[component]
pub fn FamiliesPage(
    /// The loaded model.
    info: ModelInfo,
    /// The layer.
    layer: String,
    /// Settings from the link.
    params: FamiliesParams,
) -> impl IntoView {
    let src = info.source.url().map(str::to_string);
    let model = info.name.clone();
    let task = AnalysisTask::Families(FamiliesSpec {
        model: model.clone(),
        layer: layer.clone(),
        k: params.k,
        seed: params.seed,
        per_concept: params.per_concept,
    });
    let (run, restart) = AnalysisRun::started(task);
    let multimodal_href = Route::Multimodal {
        model: model.clone(),
        layer: layer.clone(),
        params: MultimodalParams {
            per_concept: params.per_concept,
            ..MultimodalParams::default()
        },
    }
    .href(src.as_deref());
    let result = {
        let run = run.clone();
        let (model, src) = (model.clone(), src.clone());
        move || match run.result() {
            Some((AnalysisResult::Families(r), _)) => {
                view! { <FamilyList result=r model=model.clone() src=src.clone()/> }.into_any()
            }
            _ => ().into_any(),
        }
    };
    view! {
        <section class="card analysis-page" id="families-page">
            <Crumbs model=model.clone() src=src.clone() layer=layer.clone() here="families"/>
            <h1>"Neuron families of " <code>{layer.clone()}</code></h1>
            <p class="muted">
                {format!(
                    "Each unit's profile is its mean response to each of the {} concepts, drawn \
                     and written ({n} images each); profiles are standardised, so units group by \
                     which concepts drive them rather than by how strongly they fire, and \
                     clustered into {} families (spherical k-means, seed {}), as ",
                    CONCEPTS.len(),
                    params.k,
                    params.seed,
                    n = params.per_concept
                )}
                <code>"modalscope families"</code>
                " does."
            </p>
            <p class="muted small">
                <a href=multimodal_href>"Multimodal neurons of this layer"</a>
            </p>
            <AnalysisStatus run=run.clone() restart/>
            <SettingsForm model=model.clone() layer=layer.clone() params src=src.clone()/>
            {result}
        </section>
    }
}

/// The families, largest first.
#[component]
fn FamilyList(result: FamiliesResult, model: String, src: Option<String>) -> impl IntoView {
    let layer = result.layer.clone();
    let families = result
        .families
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let prefers = match f.modality.as_slice() {
                [d, w] if d - w > 0.5 => "drawn",
                [d, w] if w - d > 0.5 => "written",
                _ => "both",
            };
            let concepts = f
                .concepts
                .iter()
                .map(|&c| CONCEPTS[c])
                .collect::<Vec<_>>()
                .join(", ");
            let members = f
                .members
                .iter()
                .enumerate()
                .map(|(j, &unit)| {
                    let href = Route::Neuron {
                        model: model.clone(),
                        layer: layer.clone(),
                        unit,
                        params: RenderParams::default(),
                    }
                    .href(src.as_deref());
                    if j < THUMBNAILED {
                        view! {
                            <a class="unit-cell member" href=href data-unit=unit>
                                <MemberThumb model=model.clone() layer=layer.clone() unit/>
                                <span class="unit-no">{unit}</span>
                            </a>
                        }
                        .into_any()
                    } else {
                        view! { <a class="unit-link member" href=href data-unit=unit>{unit}</a> }
                            .into_any()
                    }
                })
                .collect_view();
            view! {
                <section class="family" data-family=i data-size=f.members.len()>
                    <h2>
                        {format!(
                            "Family {} · {} units · cohesion {:.2} · prefers {prefers}",
                            i + 1,
                            f.members.len(),
                            f.cohesion
                        )}
                    </h2>
                    <p class="family-concepts">"Driven by: " <strong>{concepts}</strong></p>
                    <div class="family-members">{members}</div>
                </section>
            }
        })
        .collect_view();
    let flat = (!result.flat.is_empty()).then(|| {
        view! {
            <p class="muted small" id="families-flat">
                {format!(
                    "{} unit(s) respond the same to every concept and are in no family: {}",
                    result.flat.len(),
                    result
                        .flat
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )}
            </p>
        }
    });
    view! {
        <div id="families" data-count=result.families.len()>{families}</div>
        {flat}
    }
}

/// A member's thumbnail, asked of the worker when shown (and dropped when the page goes).
#[component]
fn MemberThumb(model: String, layer: String, unit: usize) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let slot = RwSignal::new(Thumb::Idle);
    client.thumbnail(&model, &layer, unit, slot);
    on_cleanup(move || {
        if let Some(Thumb::Queued(job)) = slot.try_get_untracked() {
            client.cancel_thumbnail(job);
        }
    });
    move || match slot.get() {
        Thumb::Done(image) => view! { <ImageCanvas image class="thumb"/> }.into_any(),
        Thumb::Failed(message) => {
            view! { <span class="thumb thumb-failed" title=message>"!"</span> }.into_any()
        }
        Thumb::Queued(_) => view! { <span class="thumb thumb-queued"></span> }.into_any(),
        Thumb::Idle => view! { <span class="thumb"></span> }.into_any(),
    }
}

/// Families, seed and images per concept, leading to the link of those settings.
#[component]
fn SettingsForm(
    model: String,
    layer: String,
    params: FamiliesParams,
    src: Option<String>,
) -> impl IntoView {
    let k = RwSignal::new(params.k.to_string());
    let seed = RwSignal::new(params.seed.to_string());
    let n = RwSignal::new(params.per_concept.to_string());
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let hash = Route::Families {
            model: model.clone(),
            layer: layer.clone(),
            params: FamiliesParams {
                k: k.get_untracked().trim().parse().unwrap_or(params.k),
                seed: seed.get_untracked().trim().parse().unwrap_or(params.seed),
                per_concept: n
                    .get_untracked()
                    .trim()
                    .parse()
                    .unwrap_or(params.per_concept),
            },
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
                <input id=id type="number" min="0" prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <form class="settings-form" id="families-settings" on:submit=apply>
            {field("families", "set-k", k)}
            {field("seed", "set-seed", seed)}
            {field("images per concept", "set-n", n)}
            <button type="submit" id="set-apply">"Cluster again"</button>
        </form>
    }
}
