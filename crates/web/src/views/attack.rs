//! The typographic attack playground: a generated drawing of a concept (or an image file the
//! user picks) with a word written on it where the controls say, the model's zero-shot labels
//! before and after, and the units that change most. The worker recomputes shortly after the
//! controls stop changing; the link follows the controls.

use std::sync::Arc;

use leptos::prelude::*;
use modalscope_synth::{CONCEPTS, PALE_PAPER};

use crate::protocol::{
    AnalysisResult, AnalysisTask, AttackImage, AttackResult, AttackSpec, ModelInfo,
};
use crate::route::{ATTACK_DRAWINGS, AttackParams, RenderParams, Route, WORD_SIZES, colour_hex};

use super::analysis::{AnalysisRun, AnalysisStatus, ImageCanvas, default_layer};
use super::crumbs::Crumbs;

/// How long the controls must rest before the worker recomputes, in milliseconds.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub const DEBOUNCE_MS: u64 = 250;
/// Labels listed with bars (all are in the table).
const BARS: usize = 30;

/// Perceived lightness, 0 to 255, to keep a label's ink legible on its paper.
fn luma(c: [u8; 3]) -> u8 {
    ((299 * c[0] as u32 + 587 * c[1] as u32 + 114 * c[2] as u32) / 1000) as u8
}

/// A file the user picked: its name and bytes.
type Upload = (String, Arc<Vec<u8>>);

/// What a result was computed for, to tell stale results from current ones.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    word: String,
    upload: Option<String>,
    result: AttackResult,
}

/// The playground (the link was checked).
#[component]
pub fn AttackPage(
    /// The loaded model.
    info: ModelInfo,
    /// Settings from the link.
    params: AttackParams,
) -> impl IntoView {
    let src = info.source.url().map(str::to_string);
    let model = info.name.clone();
    let layers: Vec<String> = info.layers.iter().map(|l| l.name.clone()).collect();
    let fallback = default_layer(&info).unwrap_or_default();
    let concept = RwSignal::new(params.concept);
    let seed = RwSignal::new(params.seed);
    let word = RwSignal::new(params.word.clone());
    let x = RwSignal::new(params.x);
    let y = RwSignal::new(params.y);
    let size = RwSignal::new(params.size);
    let colour = RwSignal::new(params.colour);
    let on_label = RwSignal::new(params.label.is_some());
    // The paper a label is drawn on, kept while the label is off so that it comes back.
    let paper = RwSignal::new(params.label.unwrap_or(PALE_PAPER));
    let layer = RwSignal::new(params.layer.clone().unwrap_or_else(|| fallback.clone()));
    let upload = RwSignal::new(None::<Upload>);
    let problem = RwSignal::new(None::<String>);

    let current = Memo::new(move |_| AttackParams {
        concept: concept.get(),
        seed: seed.get(),
        word: word.get(),
        x: x.get(),
        y: y.get(),
        size: size.get(),
        colour: colour.get(),
        label: on_label.get().then(|| paper.get()),
        layer: Some(layer.get()),
    });
    let href = {
        let (model, src) = (model.clone(), src.clone());
        move |p: AttackParams| {
            // The default layer is left out of the link.
            let p = AttackParams {
                layer: p.layer.filter(|l| *l != fallback),
                ..p
            };
            Route::Attack {
                model: model.clone(),
                params: p,
            }
            .href(src.as_deref())
        }
    };
    let spec = {
        let model = model.clone();
        move |p: &AttackParams, file: Option<&Upload>| {
            AnalysisTask::Attack(AttackSpec {
                model: model.clone(),
                image: match file {
                    Some((name, bytes)) => AttackImage::Upload {
                        name: name.clone(),
                        bytes: bytes.as_ref().clone(),
                    },
                    None => AttackImage::Drawn {
                        concept: p.concept,
                        index: p.seed as usize,
                    },
                },
                word: p.word.clone(),
                x: p.x,
                y: p.y,
                size: p.size,
                colour: p.colour,
                label: p.label,
                layer: p.layer.clone().unwrap_or_default(),
            })
        }
    };

    let run = AnalysisRun::new();
    // Runs at once, then again once the controls have rested for DEBOUNCE_MS.
    #[cfg(target_arch = "wasm32")]
    let pending = StoredValue::new(None::<leptos::prelude::TimeoutHandle>);
    {
        let (run, spec, href) = (run.clone(), spec.clone(), href.clone());
        Effect::new(move |first: Option<()>| {
            let p = current.get();
            let task = upload.with(|u| spec(&p, u.as_ref()));
            let link = href(p);
            if first.is_none() {
                run.start(task);
                return;
            }
            #[cfg(target_arch = "wasm32")]
            {
                if let Some(h) = pending.get_value() {
                    h.clear();
                }
                let run = run.clone();
                let handle = leptos::prelude::set_timeout_with_handle(
                    move || {
                        run.start(task);
                        crate::browser::replace_hash(&link);
                    },
                    std::time::Duration::from_millis(DEBOUNCE_MS),
                )
                .ok();
                pending.set_value(handle);
            }
            #[cfg(not(target_arch = "wasm32"))]
            {
                let _ = link;
                run.start(task);
            }
        });
    }
    let restart = {
        let (run, spec) = (run.clone(), spec.clone());
        Callback::new(move |_| {
            let task = upload.with_untracked(|u| spec(&current.get_untracked(), u.as_ref()));
            run.start(task)
        })
    };

    // The last result stays shown while the next one is computed.
    let shown = RwSignal::new(None::<Shown>);
    {
        let run = run.clone();
        let client = expect_context::<crate::worker_client::WorkerClient>();
        Effect::new(move |_| {
            if let Some((AnalysisResult::Attack(result), _)) = run.result() {
                let job = run.job.get_untracked();
                let (word, file) = client.analysis.with_untracked(|a| match a {
                    Some(a) if Some(a.job) == job => match &a.task {
                        AnalysisTask::Attack(s) => (
                            s.word.clone(),
                            match &s.image {
                                AttackImage::Upload { name, .. } => Some(name.clone()),
                                AttackImage::Drawn { .. } => None,
                            },
                        ),
                        _ => (String::new(), None),
                    },
                    _ => (String::new(), None),
                });
                shown.set(Some(Shown {
                    word,
                    upload: file,
                    result,
                }));
            }
        });
    }

    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(target_arch = "wasm32")]
        {
            let input: web_sys::HtmlInputElement = event_target(&ev);
            leptos::task::spawn_local(async move {
                match crate::browser::read_file(&input).await {
                    Some(Ok((name, bytes))) => {
                        problem.set(None);
                        upload.set(Some((name, Arc::new(bytes))));
                    }
                    Some(Err(e)) => problem.set(Some(e)),
                    None => {}
                }
            });
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (ev, problem);
    };
    // Each option says whether it is selected: a `<select>`'s value set before its options
    // exist would be lost.
    let concept_options = CONCEPTS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            view! {
                <option value=i.to_string() prop:selected=move || concept.get() == i>{*c}</option>
            }
        })
        .collect_view();
    let layer_options = layers
        .into_iter()
        .map(|l| {
            let name = l.clone();
            view! {
                <option value=l.clone() prop:selected=move || layer.with(|c| *c == name)>
                    {l.clone()}
                </option>
            }
        })
        .collect_view();
    let number = |ev: &leptos::ev::Event| event_target_value(ev).trim().parse::<u32>().ok();
    let file_note = move || {
        upload.get().map(|(name, bytes)| {
            view! {
                <p class="muted small" id="attack-file-note">
                    {format!("Writing on your image `{name}` ({:.0} kB). ", bytes.len() as f64 / 1e3)}
                    "The link does not carry it. "
                    <button type="button" id="attack-file-clear" on:click=move |_| upload.set(None)>
                        "Use the drawing again"
                    </button>
                </p>
            }
        })
    };
    let link = {
        let href = href.clone();
        move || {
            let h = href(current.get());
            #[cfg(target_arch = "wasm32")]
            let full = crate::browser::full_page_href(&h);
            #[cfg(not(target_arch = "wasm32"))]
            let full = h.clone();
            view! { <a id="attack-link" href=h>{full}</a> }
        }
    };
    let results = {
        let (model, src) = (model.clone(), src.clone());
        move || {
            shown.get().map(|s| {
                view! { <AttackResults shown=s model=model.clone() src=src.clone()/> }
            })
        }
    };

    view! {
        <section class="card analysis-page" id="attack-page">
            <Crumbs model=model.clone() src=src.clone() here="typographic attack"/>
            <h1>"Typographic attack"</h1>
            <p class="muted">
                "Write a word on a picture and watch the model's zero-shot label change: CLIP's \
                 multimodal neurons respond to a written word much as to the thing drawn. The \
                 labels are the 30 concepts of the procedural generator (prompts such as \
                 \"a drawing of a …\", \"the word …\"); the drawing is a held-out image of the \
                 concept. The study's attacks were handwritten notes stuck on things (an apple \
                 labelled \"iPod\"): tick \"on a paper label\" to write on one."
            </p>
            <form class="attack-controls" id="attack-controls" on:submit=|ev| ev.prevent_default()>
                <label>
                    "drawing of"
                    <select id="attack-concept"
                        on:change=move |ev| {
                            if let Some(c) = number(&ev) {
                                concept.set(c as usize)
                            }
                        }>
                        {concept_options}
                    </select>
                </label>
                <label>
                    "drawing no."
                    <input id="attack-seed" type="number" min="0" max=(ATTACK_DRAWINGS - 1).to_string()
                        prop:value=move || seed.get().to_string()
                        on:input=move |ev| {
                            if let Some(s) = number(&ev).filter(|&s| (s as u64) < ATTACK_DRAWINGS) {
                                seed.set(s as u64)
                            }
                        }/>
                </label>
                <label>
                    "or an image file"
                    <input id="attack-file" type="file" accept="image/*" on:change=on_file/>
                </label>
                <label>
                    "word"
                    <input id="attack-word" type="text" maxlength="40" spellcheck="false"
                        prop:value=move || word.get()
                        on:input=move |ev| word.set(event_target_value(&ev))/>
                </label>
                <label>
                    {move || format!("across {} %", x.get())}
                    <input id="attack-x" type="range" min="0" max="100"
                        prop:value=move || x.get().to_string()
                        on:input=move |ev| if let Some(v) = number(&ev) { x.set(v) }/>
                </label>
                <label>
                    {move || format!("down {} %", y.get())}
                    <input id="attack-y" type="range" min="0" max="100"
                        prop:value=move || y.get().to_string()
                        on:input=move |ev| if let Some(v) = number(&ev) { y.set(v) }/>
                </label>
                <label>
                    {move || format!("letters {} %", size.get())}
                    <input id="attack-size" type="range"
                        min=WORD_SIZES.start().to_string() max=WORD_SIZES.end().to_string()
                        prop:value=move || size.get().to_string()
                        on:input=move |ev| if let Some(v) = number(&ev) { size.set(v) }/>
                </label>
                <label>
                    "colour"
                    <input id="attack-color" type="color"
                        prop:value=move || format!("#{}", colour_hex(colour.get()))
                        on:input=move |ev| {
                            if let Some(c) = crate::route::parse_colour(&event_target_value(&ev)) {
                                colour.set(c)
                            }
                        }/>
                </label>
                <label class="check">
                    <input id="attack-label" type="checkbox"
                        prop:checked=move || on_label.get()
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            let p = paper.get_untracked();
                            // Ink the paper's own shade would hide goes dark or light.
                            if on && luma(colour.get_untracked()).abs_diff(luma(p)) < 100 {
                                colour.set(if luma(p) > 127 { [20, 20, 20] } else { [240, 240, 240] });
                            }
                            on_label.set(on);
                        }/>
                    "on a paper label"
                </label>
                <label>
                    "paper colour"
                    <input id="attack-label-color" type="color"
                        prop:disabled=move || !on_label.get()
                        prop:value=move || format!("#{}", colour_hex(paper.get()))
                        on:input=move |ev| {
                            if let Some(c) = crate::route::parse_colour(&event_target_value(&ev)) {
                                paper.set(c)
                            }
                        }/>
                </label>
                <label>
                    "units of"
                    <select id="attack-layer"
                        on:change=move |ev| layer.set(event_target_value(&ev))>
                        {layer_options}
                    </select>
                </label>
            </form>
            {move || problem.get().map(|p| view! { <p class="message" id="attack-problem">{p}</p> })}
            {file_note}
            <AnalysisStatus run=run.clone() restart/>
            {results}
            <p class="permalink muted">"Link to this attack: " {link}</p>
        </section>
    }
}

/// The images, labels and units of a finished attack.
#[component]
fn AttackResults(shown: Shown, model: String, src: Option<String>) -> impl IntoView {
    let r = shown.result;
    let best = |p: &[f32]| {
        p.iter().enumerate().fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        )
    };
    let (pb, vb) = best(&r.probs_before);
    let (pa, va) = best(&r.probs_after);
    let mut order: Vec<usize> = (0..r.probs_after.len()).collect();
    order.sort_by(|&a, &b| {
        r.probs_after[b]
            .total_cmp(&r.probs_after[a])
            .then(a.cmp(&b))
    });
    let rows = order
        .iter()
        .take(BARS)
        .map(|&c| {
            let (b, a) = (r.probs_before[c], r.probs_after[c]);
            let class = match (c == pb, c == pa) {
                (_, true) => "after-top",
                (true, false) => "before-top",
                _ => "",
            };
            view! {
                <tr class=class data-concept=CONCEPTS[c] data-before=format!("{b:.6}")
                    data-after=format!("{a:.6}")>
                    <td class="concept">{CONCEPTS[c]}</td>
                    <td class="num">{format!("{:.1} %", 100.0 * b)}</td>
                    <td class="bar-cell">
                        <span class="bar before"><span style:width=format!("{:.1}%", 100.0 * b)></span></span>
                        <span class="bar after"><span style:width=format!("{:.1}%", 100.0 * a)></span></span>
                    </td>
                    <td class="num strong">{format!("{:.1} %", 100.0 * a)}</td>
                </tr>
            }
        })
        .collect_view();
    let units = r
        .changed
        .iter()
        .map(|u| {
            let href = Route::Neuron {
                model: model.clone(),
                layer: r.layer.clone(),
                unit: u.unit,
                params: RenderParams::default(),
            }
            .href(src.as_deref());
            view! {
                <li data-unit=u.unit>
                    <a class="unit-link" href=href>{format!("unit {}", u.unit)}</a>
                    <span class="muted">{format!(" {:.3} → {:.3} ", u.before, u.after)}</span>
                    <span class="strong">{format!("({:+.3})", u.after - u.before)}</span>
                </li>
            }
        })
        .collect_view();
    let what = match &shown.upload {
        Some(name) => format!("your image `{name}`"),
        None => "the drawing".to_string(),
    };
    let with = if shown.word.trim().is_empty() {
        "no word written".to_string()
    } else {
        format!("with “{}”", shown.word)
    };
    view! {
        <div class="attack-result" id="attack-result" data-word=shown.word.clone()
            data-before=CONCEPTS[pb] data-after=CONCEPTS[pa]>
            <div class="attack-images">
                <figure>
                    <ImageCanvas image=r.before.clone() class="attack-image" title="before"/>
                    <figcaption>
                        {what} <br/> "→ " <strong id="attack-before-label">{CONCEPTS[pb]}</strong>
                        {format!(" {:.0} %", 100.0 * vb)}
                    </figcaption>
                </figure>
                <figure>
                    <ImageCanvas image=r.after.clone() class="attack-image" title="after"/>
                    <figcaption>
                        {with} <br/> "→ " <strong id="attack-after-label">{CONCEPTS[pa]}</strong>
                        {format!(" {:.0} %", 100.0 * va)}
                    </figcaption>
                </figure>
            </div>
            <h2>"Zero-shot labels, before → after"</h2>
            <div class="table-wrap">
                <table class="analysis-table probs" id="attack-probs">
                    <thead>
                        <tr>
                            <th>"concept"</th>
                            <th class="num">"before"</th>
                            <th></th>
                            <th class="num">"after"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <h2>"Units of " <code class="layer-name">{r.layer.clone()}</code> " that change most"</h2>
            <ol class="changed-units" id="attack-units">{units}</ol>
            <p class="muted small">"Mean response over positions, before → after the word."</p>
        </div>
    }
}
