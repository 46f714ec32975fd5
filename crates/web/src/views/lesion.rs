//! A lesion experiment: zero-shot accuracy per concept on held-out drawn and written images,
//! before and after silencing units of a layer, the concepts that lose most first.

use leptos::prelude::*;
use modalscope_synth::CONCEPTS;

use crate::protocol::{
    Ablation, AnalysisResult, AnalysisTask, LesionResult, LesionSpec, ModelInfo, NeededUnits,
};
use crate::route::{LesionParams, MultimodalParams, RenderParams, Route};

use super::analysis::{AnalysisRun, AnalysisStatus, percent};
use super::crumbs::Crumbs;

/// Concepts highlighted as losing most (when they lose anything).
pub const HIGHLIGHTED: usize = 3;
/// Units named one by one in the heading (the rest are counted).
const UNITS_NAMED: usize = 24;

/// A lesion experiment (the link was checked).
#[component]
pub fn LesionPage(
    /// The loaded model.
    info: ModelInfo,
    /// What is silenced.
    params: LesionParams,
) -> impl IntoView {
    let src = info.source.url().map(str::to_string);
    let model = info.name.clone();
    let task = AnalysisTask::Lesion(LesionSpec {
        model: model.clone(),
        layer: params.layer.clone(),
        units: params.units.clone(),
        ablation: params.ablation,
        per_concept: params.per_concept,
        needed: params
            .needed
            .zip(params.concept)
            .map(|(count, concept)| NeededUnits { concept, count }),
    });
    let (run, restart) = AnalysisRun::started(task);
    let multimodal_href = Route::Multimodal {
        model: model.clone(),
        layer: params.layer.clone(),
        params: MultimodalParams::default(),
    }
    .href(src.as_deref());
    let units = params
        .units
        .iter()
        .take(UNITS_NAMED)
        .map(|&unit| {
            let href = Route::Neuron {
                model: model.clone(),
                layer: params.layer.clone(),
                unit,
                params: RenderParams::default(),
            }
            .href(src.as_deref());
            view! { <a class="unit-link" href=href>{unit}</a> " " }
        })
        .collect_view();
    let more = (params.units.len() > UNITS_NAMED)
        .then(|| format!("and {} more", params.units.len() - UNITS_NAMED));
    // With `needed=`, the units are chosen in the worker and listed when it is done.
    let needed = params.needed.zip(params.concept);
    let count = needed.map_or(params.units.len(), |(k, _)| k);
    let other_mode = {
        let mut p = params.clone();
        p.ablation = match p.ablation {
            Ablation::Zero => Ablation::Mean,
            Ablation::Mean => Ablation::Zero,
        };
        let href = Route::Lesion {
            model: model.clone(),
            params: p.clone(),
        }
        .href(src.as_deref());
        view! {
            <a id="other-ablation" href=href>{format!("{} ablation instead", p.ablation.name())}</a>
        }
    };
    let how = match params.ablation {
        Ablation::Zero => "read 0".to_string(),
        Ablation::Mean => "hold their mean over the probe images".to_string(),
    };
    let target = params.concept;
    let result = {
        let run = run.clone();
        let (model, params, src) = (model.clone(), params.clone(), src.clone());
        move || match run.result() {
            Some((AnalysisResult::Lesion(r), _)) => {
                let chosen = (!r.costs.is_empty()).then(|| {
                    view! { <ChosenUnits result=r.clone() model=model.clone() params=params.clone() src=src.clone()/> }
                });
                view! { {chosen} <LesionTable result=r target/> }.into_any()
            }
            _ => ().into_any(),
        }
    };
    let plural = if count == 1 { "" } else { "s" };
    let which = match needed {
        Some((k, c)) => view! {
            {format!(
                "{} ablation of the {k} unit{plural} `{}` needs most: silenced one at a time on \
                 the probe images, each costs its drawings and its written names the most \
                 zero-shot margin (chosen first, then listed below)",
                params.ablation.name(),
                CONCEPTS[c]
            )}
        }
        .into_any(),
        None => view! {
            {format!("{} ablation of unit{plural} ", params.ablation.name())}
            {units}
            {more}
        }
        .into_any(),
    };
    view! {
        <section class="card analysis-page" id="lesion-page">
            <Crumbs model=model.clone() src=src.clone() layer=params.layer.clone() here="lesion"/>
            <h1>
                {match needed {
                    Some((k, c)) => format!("Lesion: the {k} unit{plural} `{}` needs, of ", CONCEPTS[c]),
                    None => format!("Lesion: {count} unit{plural} of "),
                }}
                <code>{params.layer.clone()}</code>
            </h1>
            <p class="lesion-units" id="lesion-units">{which}</p>
            <p class="muted">
                {format!(
                    "The silenced units {how} at every position. Zero-shot accuracy (the class \
                     whose prompts' text embedding is closest) on {n} held-out drawn and {n} \
                     written images of each concept, images the neurons were not chosen on (as ",
                    n = params.per_concept
                )}
                <code>"modalscope lesion"</code>
                " measures)."
            </p>
            <p class="muted small">
                {other_mode} " · "
                <a href=multimodal_href>"multimodal neurons of this layer"</a>
            </p>
            <AnalysisStatus run=run.clone() restart/>
            {result}
        </section>
    }
}

/// The units a concept needs, as the worker chose them, with what each costs it and a link
/// that silences exactly these.
#[component]
fn ChosenUnits(
    /// What the worker measured.
    result: LesionResult,
    /// Model name.
    model: String,
    /// The link's settings.
    params: LesionParams,
    /// The model's URL.
    src: Option<String>,
) -> impl IntoView {
    let units = result
        .costs
        .iter()
        .map(|c| {
            let href = Route::Neuron {
                model: model.clone(),
                layer: result.layer.clone(),
                unit: c.unit,
                params: RenderParams::default(),
            }
            .href(src.as_deref());
            let title = format!(
                "silenced alone, it costs the concept's drawings {:.4} and its written names {:.4} \
                 of zero-shot margin (cosine)",
                c.lost.first().copied().unwrap_or(0.0),
                c.lost.get(1).copied().unwrap_or(0.0)
            );
            view! { <a class="unit-link" href=href title=title>{c.unit}</a> " " }
        })
        .collect_view();
    let mut fixed = params;
    fixed.units = result.units.clone();
    fixed.units.sort_unstable();
    fixed.needed = None;
    let fixed = Route::Lesion {
        model,
        params: fixed,
    }
    .href(src.as_deref());
    view! {
        <p id="lesion-chosen">
            "Chosen, the most needed first: " {units}
            " · " <a id="lesion-fixed" href=fixed>"link with these units"</a>
        </p>
    }
}

/// Accuracy per concept, the largest drop first.
#[component]
fn LesionTable(
    /// What the worker measured.
    result: LesionResult,
    /// The concept the units were chosen for.
    target: Option<usize>,
) -> impl IntoView {
    let overall = |i: usize| {
        format!(
            "{} → {}",
            percent(result.before.get(i).copied().unwrap_or(0.0)),
            percent(result.after.get(i).copied().unwrap_or(0.0))
        )
    };
    let summary = view! {
        <p id="lesion-overall">
            "Overall: drawn " <strong>{overall(0)}</strong>
            " · written " <strong>{overall(1)}</strong>
        </p>
    };
    let rows = result
        .concepts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let drop = c.drop();
            let hit = i < HIGHLIGHTED && drop > 0.0;
            let is_target = target == Some(c.concept);
            let class = match (hit, is_target) {
                (true, true) => "hit target",
                (true, false) => "hit",
                (false, true) => "target",
                (false, false) => "",
            };
            let cell = |m: usize| {
                format!(
                    "{} → {}",
                    percent(c.before.get(m).copied().unwrap_or(0.0)),
                    percent(c.after.get(m).copied().unwrap_or(0.0))
                )
            };
            view! {
                <tr class=class data-concept=CONCEPTS[c.concept] data-drop=format!("{drop:.4}")>
                    <td class="concept">
                        {CONCEPTS[c.concept]}
                        {is_target.then_some(view! { <span class="tag">"target"</span> })}
                    </td>
                    <td class="num">{cell(0)}</td>
                    <td class="num">{cell(1)}</td>
                    <td class="num strong">{change(drop)}</td>
                </tr>
            }
        })
        .collect_view();
    let target_line = target.and_then(|t| {
        let own = result.concepts.iter().find(|c| c.concept == t)?.drop();
        let others: Vec<f64> = result
            .concepts
            .iter()
            .filter(|c| c.concept != t)
            .map(|c| c.drop())
            .collect();
        let mean = others.iter().sum::<f64>() / others.len().max(1) as f64;
        Some(view! {
            <p class="muted" id="lesion-target">
                {format!(
                    "Accuracy on `{}` changes by {}; on the other concepts by {} on average.",
                    CONCEPTS[t],
                    change(own),
                    change(mean)
                )}
            </p>
        })
    });
    view! {
        {summary}
        {target_line}
        <div class="table-wrap">
            <table class="analysis-table" id="lesion-table">
                <thead>
                    <tr>
                        <th>"concept"</th>
                        <th class="num">"drawn"</th>
                        <th class="num">"written"</th>
                        <th class="num">"change"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p class="muted small">
            "Accuracy before → after the lesion; change: the mean over drawn and written. The \
             concepts that lose most are highlighted."
        </p>
    }
}

/// An accuracy drop as the change it is: `-25 %`, `+5 %`, `0 %`.
fn change(drop: f64) -> String {
    let v = -100.0 * drop;
    if v.abs() < 0.5 {
        "0 %".to_string()
    } else {
        format!("{v:+.0} %")
    }
}

#[cfg(test)]
mod tests {
    use super::change;

    #[test]
    fn changes_have_a_sign_unless_nothing_changed() {
        assert_eq!(change(0.25), "-25 %");
        assert_eq!(change(-0.05), "+5 %");
        assert_eq!(change(0.0), "0 %");
        assert_eq!(change(-0.0), "0 %");
        assert_eq!(change(0.001), "0 %");
    }
}
