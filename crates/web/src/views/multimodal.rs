//! The most multimodal units of a layer: each unit's best concept, how well it picks it out
//! in drawn and in written probe images (AUROC), its alignment with the concept's name in the
//! text tower, and the probe images that drive it most, side by side.

use leptos::prelude::*;
use modalscope_synth::CONCEPTS;

use crate::protocol::{
    Ablation, AnalysisResult, AnalysisTask, ModelInfo, MultimodalResult, MultimodalRow,
    MultimodalSpec,
};
use crate::route::{FamiliesParams, LesionParams, MAX_ROW, MultimodalParams, RenderParams, Route};

use super::analysis::{AnalysisRun, AnalysisStatus, ImageCanvas};
use super::crumbs::Crumbs;

/// The multimodal-neuron ranking of a layer (the link was checked).
#[component]
pub fn MultimodalPage(
    /// The loaded model.
    info: ModelInfo,
    /// The layer.
    layer: String,
    /// Settings from the link.
    params: MultimodalParams,
) -> impl IntoView {
    let src = info.source.url().map(str::to_string);
    let model = info.name.clone();
    let task = AnalysisTask::Multimodal(MultimodalSpec {
        model: model.clone(),
        layer: layer.clone(),
        per_concept: params.per_concept,
        top: params.top,
    });
    let (run, restart) = AnalysisRun::started(task);
    let families_href = Route::Families {
        model: model.clone(),
        layer: layer.clone(),
        params: FamiliesParams {
            per_concept: params.per_concept,
            ..FamiliesParams::default()
        },
    }
    .href(src.as_deref());
    let result = {
        let run = run.clone();
        let (model, src) = (model.clone(), src.clone());
        move || match run.result() {
            Some((AnalysisResult::Multimodal(r), _)) => {
                view! { <MultimodalTable result=r model=model.clone() src=src.clone()/> }.into_any()
            }
            _ => ().into_any(),
        }
    };
    view! {
        <section class="card analysis-page" id="multimodal-page">
            <Crumbs model=model.clone() src=src.clone() layer=layer.clone() here="multimodal neurons"/>
            <h1>"Multimodal neurons of " <code>{layer.clone()}</code></h1>
            <p class="muted">
                {format!(
                    "Every unit is probed with {n} drawn and {n} written images of each of the {} \
                     concepts (the procedural generator's held-out images, as ",
                    CONCEPTS.len(),
                    n = params.per_concept
                )}
                <code>"modalscope neurons"</code>
                " uses). A unit's score for a concept is its AUROC: how well its response (its \
                 value at the class token, where a ViT pools the image) separates images of the concept from the others; the combined score is the \
                 weaker of drawn and written. Text: the zero-shot margin towards the concept's \
                 name that images of it lose when the unit is silenced. Green frames: probe \
                 images of the unit's concept."
            </p>
            <p class="muted small">
                <a id="families-link" href=families_href>"Neuron families of this layer"</a>
            </p>
            <AnalysisStatus run=run.clone() restart/>
            <SettingsForm model=model.clone() layer=layer.clone() params src=src.clone()/>
            {result}
        </section>
    }
}

/// The ranking as a table.
#[component]
fn MultimodalTable(
    /// What the worker found.
    result: MultimodalResult,
    /// Model name.
    model: String,
    /// The model's source.
    src: Option<String>,
) -> impl IntoView {
    let layer = result.layer.clone();
    let note = result.text_note.clone().map(|n| {
        view! { <p class="muted small" id="text-note">"No text alignment: " {n} "."</p> }
    });
    let summary = format!(
        "The {} most multimodal of {} units ({} drawn + {} written images per concept).",
        result.rows.len(),
        result.units,
        result.per_concept,
        result.per_concept
    );
    // The best units as a row of feature visualizations, for an article.
    let best: Vec<usize> = result.rows.iter().take(MAX_ROW).map(|r| r.unit).collect();
    let row_link = (!best.is_empty()).then(|| {
        let href = Route::Row {
            model: model.clone(),
            layer: layer.clone(),
            units: best.clone(),
            params: RenderParams::default(),
        }
        .href(src.as_deref());
        view! {
            <p class="view-links small" id="multimodal-row-link">
                <a id="multimodal-row" href=href>
                    {format!("The top {} as a row of feature visualizations", best.len())}
                </a>
                " (with its embed code, for an article)"
            </p>
        }
    });
    let rows = result
        .rows
        .into_iter()
        .enumerate()
        .map(|(rank, row)| {
            view! {
                <Row rank row model=model.clone() layer=layer.clone() src=src.clone()
                    per_concept=result.per_concept/>
            }
        })
        .collect_view();
    view! {
        <p class="muted" id="multimodal-summary">{summary}</p>
        {note}
        {row_link}
        <div class="table-wrap">
            <table class="analysis-table" id="multimodal-table">
                <thead>
                    <tr>
                        <th>"#"</th>
                        <th>"unit"</th>
                        <th>"concept"</th>
                        <th class="num">"drawn"</th>
                        <th class="num">"written"</th>
                        <th class="num">"combined"</th>
                        <th class="num">"text"</th>
                        <th>"top drawn"</th>
                        <th>"top written"</th>
                        <th>"lesion"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// One unit of the ranking.
#[component]
fn Row(
    rank: usize,
    row: MultimodalRow,
    model: String,
    layer: String,
    src: Option<String>,
    per_concept: usize,
) -> impl IntoView {
    let concept = CONCEPTS[row.concept];
    let neuron = Route::Neuron {
        model: model.clone(),
        layer: layer.clone(),
        unit: row.unit,
        params: RenderParams::default(),
    }
    .href(src.as_deref());
    let lesion = |params: LesionParams| {
        Route::Lesion {
            model: model.clone(),
            params,
        }
        .href(src.as_deref())
    };
    let zero = |units: Vec<usize>, concept: Option<usize>| LesionParams {
        layer: layer.clone(),
        units,
        ablation: Ablation::Zero,
        per_concept,
        concept,
        needed: None,
    };
    let lesion_unit = lesion(zero(vec![row.unit], None));
    let mut top_units = row.concept_units.clone();
    top_units.sort_unstable();
    let count = top_units.len();
    let lesion_concept = lesion(zero(top_units, Some(row.concept)));
    // The units the concept needs are chosen by what each costs it held at its mean, as the
    // lesion then holds them.
    let lesion_needed = lesion(LesionParams {
        ablation: Ablation::Mean,
        needed: Some(count),
        ..zero(Vec::new(), Some(row.concept))
    });
    let auroc = |i: usize| {
        row.modalities
            .get(i)
            .map_or("–".to_string(), |e| format!("{:.3}", e.auroc))
    };
    let evidence = |i: usize| {
        row.modalities.get(i).map(|e| {
            let title = format!(
                "{:.0} % of the {} strongest images show `{concept}`; mean response {:.3} to \
                 `{concept}`, {:.3} to the others",
                100.0 * e.top_precision,
                e.top.len(),
                e.mean_concept,
                e.mean_others
            );
            let images = e
                .top
                .iter()
                .map(|img| {
                    let class = if img.concept == row.concept {
                        "evidence hit"
                    } else {
                        "evidence"
                    };
                    view! {
                        <ImageCanvas image=img.image.clone() class=class
                            title=format!("{} · response {:.3}", CONCEPTS[img.concept], img.response)/>
                    }
                })
                .collect_view();
            view! { <span class="evidence-row" title=title>{images}</span> }
        })
    };
    let text = row
        .text_alignment
        .map_or("–".to_string(), |t| format!("{t:+.4}"));
    view! {
        <tr data-unit=row.unit data-concept=concept>
            <td class="num muted">{rank + 1}</td>
            <td><a class="unit-link" href=neuron>{row.unit}</a></td>
            <td class="concept">{concept}</td>
            <td class="num">{auroc(0)}</td>
            <td class="num">{auroc(1)}</td>
            <td class="num strong">{format!("{:.3}", row.combined)}</td>
            <td class="num">{text}</td>
            <td>{evidence(0)}</td>
            <td>{evidence(1)}</td>
            <td class="links">
                <a class="lesion-unit" href=lesion_unit title="silence this unit">"this unit"</a>
                <br/>
                <a class="lesion-concept" href=lesion_concept
                    title=format!("silence the {count} most multimodal units of `{concept}`")>
                    {format!("top {count} of {concept}")}
                </a>
                <br/>
                <a class="lesion-needed" href=lesion_needed
                    title=format!("silence the {count} units `{concept}` needs most (each, silenced alone, costs its drawings and written names the most zero-shot margin)")>
                    {format!("{count} {concept} needs")}
                </a>
            </td>
        </tr>
    }
}

/// Images per concept and units listed, leading to the link of those settings.
#[component]
fn SettingsForm(
    model: String,
    layer: String,
    params: MultimodalParams,
    src: Option<String>,
) -> impl IntoView {
    let n = RwSignal::new(params.per_concept.to_string());
    let top = RwSignal::new(params.top.to_string());
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let hash = Route::Multimodal {
            model: model.clone(),
            layer: layer.clone(),
            params: MultimodalParams {
                per_concept: n
                    .get_untracked()
                    .trim()
                    .parse()
                    .unwrap_or(params.per_concept),
                top: top.get_untracked().trim().parse().unwrap_or(params.top),
            },
        }
        .href(src.as_deref());
        #[cfg(target_arch = "wasm32")]
        crate::browser::navigate(&hash);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = hash;
    };
    view! {
        <form class="settings-form" id="multimodal-settings" on:submit=apply>
            <label>
                "images per concept"
                <input id="set-n" type="number" min="1" prop:value=move || n.get()
                    on:input=move |ev| n.set(event_target_value(&ev))/>
            </label>
            <label>
                "units listed"
                <input id="set-top" type="number" min="1" prop:value=move || top.get()
                    on:input=move |ev| top.set(event_target_value(&ev))/>
            </label>
            <button type="submit" id="set-apply">"Rank again"</button>
        </form>
    }
}
