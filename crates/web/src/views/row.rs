//! A row of neuron cards: units of one layer rendered one after another with the same settings,
//! small, for an article's iframe (`?embed=true`) or with its embed code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use leptos::html;
use leptos::prelude::*;

use crate::protocol::{JobId, ModelInfo, RenderSpec};
use crate::route::{RenderParams, Route};
use crate::worker_client::{RenderState, RenderView, WorkerClient, WorkerState};

use super::crumbs::Crumbs;
use super::neuron::{embed_code, iframe_snippet, neuron_hash, settings_text};

/// Width in CSS pixels of a card's image (a facet), full page and embedded.
const ROW_TILE: usize = 128;
/// Gap between the cards in CSS pixels (`.row` in web/style.css).
const ROW_GAP: usize = 12;
/// The widest the embed code makes a row's iframe; more cards wrap into balanced lines.
const ROW_MAX_WIDTH: usize = 960;

/// Checks a row link against the model, unit by unit; `Err` says what is wrong.
pub fn check_row(
    info: &ModelInfo,
    model: &str,
    layer: &str,
    units: &[usize],
) -> Result<(), String> {
    units
        .iter()
        .try_for_each(|&unit| super::check_neuron(info, model, layer, unit))
}

/// Where one card of a row stands.
#[derive(Debug, Clone, PartialEq)]
enum Card {
    /// Its turn has not come.
    Waiting,
    /// The worker renders it: the job `client.render` shows.
    Rendering(JobId),
    /// Its render ended (done, cancelled or failed), as the page last saw it.
    Ended(Box<RenderView>),
    /// Never rendered: the row was stopped before its turn.
    Skipped,
}

/// Takes in the end of the render of job `ended.job`: the card that rendered it keeps it, and
/// the index of the card to render next is returned. A cancel (or a dead worker) stops the
/// row: the cards still waiting are skipped.
fn settle(cards: &mut [Card], ended: &RenderView, worker_dead: bool) -> Option<usize> {
    let i = cards
        .iter()
        .position(|c| *c == Card::Rendering(ended.job))?;
    cards[i] = Card::Ended(Box::new(RenderView {
        words: None,
        ..ended.clone()
    }));
    if ended.state == RenderState::Cancelled || worker_dead {
        for c in cards.iter_mut().filter(|c| **c == Card::Waiting) {
            *c = Card::Skipped;
        }
        return None;
    }
    cards.iter().position(|c| *c == Card::Waiting)
}

/// What a card shows: `data-state`, the step reached, the status line and a failure.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    state: &'static str,
    step: usize,
    status: String,
    error: Option<String>,
}

fn shown(card: &Card, render: Option<&RenderView>) -> Shown {
    let of = |r: &RenderView| {
        let steps = r.spec.steps;
        let status = match &r.state {
            RenderState::Starting => "starting…".to_string(),
            RenderState::Running => format!("step {} / {steps}", r.step),
            RenderState::Done => format!("done in {:.1} s", r.elapsed_ms.unwrap_or(0.0) / 1000.0),
            RenderState::Cancelled => format!("cancelled at step {}", r.step),
            RenderState::Failed(_) => format!("failed at step {}", r.step),
        };
        let error = match &r.state {
            RenderState::Failed(message) => Some(message.clone()),
            _ => None,
        };
        Shown {
            state: r.state.attr(),
            step: r.step,
            status,
            error,
        }
    };
    let plain = |state, status: &str| Shown {
        state,
        step: 0,
        status: status.to_string(),
        error: None,
    };
    match card {
        Card::Waiting => plain("waiting", "waiting…"),
        Card::Skipped => plain("skipped", "not rendered"),
        Card::Rendering(job) => render
            .filter(|r| r.job == *job)
            .map_or_else(|| plain("starting", "starting…"), of),
        Card::Ended(r) => of(r),
    }
}

/// The size (width, height) in pixels of an iframe that shows a row of `n` cards of `batch`
/// facets each without scrolling: lines of at most [`ROW_MAX_WIDTH`], as even as they go.
fn row_frame(n: usize, batch: usize) -> [usize; 2] {
    let card = ROW_TILE * batch;
    // The embedded page's padding (main) and the card's, both sides.
    let pad = 40;
    let fit = ((ROW_MAX_WIDTH - pad + ROW_GAP) / (card + ROW_GAP)).max(1);
    let lines = n.div_ceil(fit).max(1);
    let per_line = n.div_ceil(lines).max(1);
    let width = per_line * card + (per_line - 1) * ROW_GAP + pad;
    // A card: its image, the unit's link, the progress bar and the status; then the row's
    // caption (the layer and the link back, on two lines when narrow).
    let height = lines * (card / batch + 64) + (lines - 1) * ROW_GAP + pad + 48;
    [width.max(240), height]
}

/// The `<iframe>` that embeds a row: `full_href` is the full page's address for it.
fn row_snippet(full_href: &str, spec: &RenderSpec, units: &[usize]) -> String {
    iframe_snippet(
        full_href,
        row_frame(units.len(), spec.batch),
        &format!("{} units {}", spec.layer, unit_list(units)),
    )
}

fn unit_list(units: &[usize]) -> String {
    units
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row of neuron cards (the units were checked): renders them one after another, keeps each
/// finished image in its card and cancels the render under way when left.
#[component]
pub fn NeuronRow(
    /// The loaded model.
    info: ModelInfo,
    /// The layer.
    layer: String,
    /// The units, in the order shown.
    units: Vec<usize>,
    /// The settings every unit is rendered with.
    params: RenderParams,
    /// Whether the row is the whole (embedded) page.
    embed: bool,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let model = info.name.clone();
    let src = info.source.url().map(str::to_string);
    let specs: Arc<Vec<RenderSpec>> = Arc::new(
        units
            .iter()
            .map(|&u| params.spec(&model, &layer, u))
            .collect(),
    );
    let cards: Arc<Vec<RwSignal<Card>>> =
        Arc::new(units.iter().map(|_| RwSignal::new(Card::Waiting)).collect());
    // The job under way, also in a plain atomic: cleanup may run after the signals are gone.
    let current = Arc::new(AtomicU32::new(0));
    let start = {
        let (specs, cards, current) = (specs.clone(), cards.clone(), current.clone());
        move |i: usize| {
            let job = client.start_render(specs[i].clone());
            current.store(job, Ordering::Relaxed);
            cards[i].set(Card::Rendering(job));
        }
    };
    start(0);
    {
        let current = current.clone();
        on_cleanup(move || client.cancel(current.load(Ordering::Relaxed)));
    }

    // When the card under way ends, it keeps its image and the next one starts.
    {
        let (cards, start) = (cards.clone(), start.clone());
        Effect::new(move |_| {
            let ended = client
                .render
                .with(|r| r.as_ref().filter(|r| !r.state.is_active()).cloned());
            let Some(ended) = ended else { return };
            let mut now: Vec<Card> = cards.iter().map(|c| c.get_untracked()).collect();
            let dead = matches!(client.worker.get_untracked(), WorkerState::Dead(_));
            let before = now.clone();
            let next = settle(&mut now, &ended, dead);
            for ((signal, old), new) in cards.iter().zip(before).zip(now) {
                if old != new {
                    signal.set(new);
                }
            }
            if let Some(i) = next {
                start(i);
            }
        });
    }

    let rendering = {
        let cards = cards.clone();
        Memo::new(move |_| {
            cards
                .iter()
                .any(|c| c.with(|c| matches!(c, Card::Rendering(_) | Card::Waiting)))
        })
    };
    let on_cancel = {
        let current = current.clone();
        move |_| client.cancel(current.load(Ordering::Relaxed))
    };
    let restart = {
        let (cards, start) = (cards.clone(), start.clone());
        move |_| {
            for c in cards.iter() {
                if !c
                    .with_untracked(|c| matches!(c, Card::Ended(r) if r.state == RenderState::Done))
                {
                    c.set(Card::Waiting);
                }
            }
            if let Some(i) = cards
                .iter()
                .position(|c| c.get_untracked() == Card::Waiting)
            {
                start(i);
            }
        }
    };

    let row_hash = Route::Row {
        model: model.clone(),
        layer: layer.clone(),
        units: units.clone(),
        params,
    }
    .href(src.as_deref());
    #[cfg(target_arch = "wasm32")]
    let full_href = crate::browser::full_page_href(&row_hash);
    #[cfg(not(target_arch = "wasm32"))]
    let full_href = row_hash.clone();

    let row = units
        .iter()
        .enumerate()
        .map(|(i, &unit)| {
            let hash = neuron_hash(&specs[i], src.as_deref());
            #[cfg(target_arch = "wasm32")]
            let href = if embed {
                crate::browser::full_page_href(&hash)
            } else {
                hash
            };
            #[cfg(not(target_arch = "wasm32"))]
            let href = hash;
            view! { <RowCard unit spec=specs[i].clone() card=cards[i] href embed/> }
        })
        .collect_view();
    let row = view! {
        <div class="row" id="row" data-units=units.len()>
            {row}
        </div>
    };

    let settings = settings_text(&specs[0]);
    if embed {
        return view! {
            <article class="card neuron-row" id="row-card">
                {row}
                <p class="row-caption small muted">
                    <span class="row-layer" title=settings>{layer.clone()}</span>
                    <a class="open-full" id="open-full" href=full_href target="_blank" rel="noopener">
                        "Open in modalscope ↗"
                    </a>
                </p>
            </article>
        }
        .into_any();
    }

    let (copy_embed, embed_box) = embed_code(row_snippet(&full_href, &specs[0], &units));
    view! {
        <article class="card neuron-row" id="row-card">
            <Crumbs
                model=model.clone()
                src=src.clone()
                layer=layer.clone()
                here=format!("units {}", unit_list(&units))
            />
            <h1 class="neuron-title">
                {layer.clone()}
                <span class="unit">{format!(" · units {}", unit_list(&units))}</span>
            </h1>
            <p class="muted small">
                "Rendered one after another with the same settings; pick a unit for its page."
            </p>
            {row}
            <div class="actions">
                <button id="row-cancel" on:click=on_cancel disabled=move || !rendering.get()>
                    "Cancel"
                </button>
                <button id="row-restart" on:click=restart disabled=move || rendering.get()>
                    "Render again"
                </button>
                <button id="row-embed" on:click=copy_embed>"Copy embed code"</button>
            </div>
            {embed_box}
            <p class="settings muted">{settings}</p>
            <p class="permalink muted">
                "Link to exactly this row: "
                <a id="row-link" href=row_hash>{full_href.clone()}</a>
            </p>
        </article>
    }
    .into_any()
}

/// One card of a row: the live preview while it renders, its own image once done.
#[component]
fn RowCard(
    /// The unit.
    unit: usize,
    /// Its render.
    spec: RenderSpec,
    /// Where it stands.
    card: RwSignal<Card>,
    /// Its neuron page.
    href: String,
    /// Whether the row is embedded (the link opens the full page in a new tab).
    embed: bool,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let shown = Memo::new(move |_| {
        card.with(|c| match c {
            Card::Rendering(_) => client.render.with(|r| shown(c, r.as_ref())),
            _ => shown(c, None),
        })
    });
    let canvas = NodeRef::<html::Canvas>::new();
    #[cfg(target_arch = "wasm32")]
    Effect::new(move |_| {
        let Some(canvas) = canvas.get() else { return };
        let paint = |image: Option<&crate::protocol::Rgba>| {
            if let Some(image) = image
                && let Err(e) = crate::browser::paint(&canvas, image)
            {
                leptos::logging::error!("modalscope: cannot paint the canvas: {e}");
            }
        };
        card.with(|c| match c {
            Card::Rendering(job) => client.render.with(|r| {
                paint(
                    r.as_ref()
                        .filter(|r| r.job == *job)
                        .and_then(|r| r.image.as_ref()),
                )
            }),
            Card::Ended(r) => paint(r.image.as_ref()),
            Card::Waiting | Card::Skipped => {}
        });
        // Set after painting, so `data-state="done"` means the final pixels are there.
        let s = shown.get_untracked();
        let _ = canvas.set_attribute("data-state", s.state);
        let _ = canvas.set_attribute("data-step", &s.step.to_string());
    });
    let width = ROW_TILE * spec.batch;
    let link = if embed {
        view! {
            <a class="row-unit" href=href target="_blank" rel="noopener">{format!("unit {unit}")}</a>
        }
        .into_any()
    } else {
        view! { <a class="row-unit" href=href>{format!("unit {unit}")}</a> }.into_any()
    };
    view! {
        <figure class="row-card" data-unit=unit style:width=format!("{width}px")>
            <canvas
                node_ref=canvas
                class="fv"
                data-unit=unit
                width=spec.size * spec.batch
                height=spec.size
                style:width=format!("{width}px")
                data-state="waiting"
                data-step="0"
            ></canvas>
            <figcaption>
                {link}
                <progress max=spec.steps value=move || shown.with(|s| s.step)></progress>
                <span class="row-status">{move || shown.with(|s| s.status.clone())}</span>
                {move || {
                    shown
                        .with(|s| s.error.clone())
                        .map(|message| view! { <span class="row-error" role="alert">{message}</span> })
                }}
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(job: JobId, state: RenderState) -> RenderView {
        RenderView {
            state,
            step: 16,
            ..RenderView::new(job, RenderParams::default().spec("m", "l", job as usize))
        }
    }

    #[test]
    fn a_finished_card_keeps_its_image_and_the_next_starts() {
        let mut cards = vec![Card::Rendering(1), Card::Waiting, Card::Waiting];
        let done = view(1, RenderState::Done);
        assert_eq!(settle(&mut cards, &done, false), Some(1));
        assert_eq!(cards[0], Card::Ended(Box::new(done)));
        // Reports of other jobs change nothing.
        let before = cards.clone();
        assert_eq!(settle(&mut cards, &view(7, RenderState::Done), false), None);
        assert_eq!(cards, before);
        // A failure is the card's own; the row goes on.
        cards[1] = Card::Rendering(2);
        let failed = view(2, RenderState::Failed("no".into()));
        assert_eq!(settle(&mut cards, &failed, false), Some(2));
        cards[2] = Card::Rendering(3);
        assert_eq!(settle(&mut cards, &view(3, RenderState::Done), false), None);
        assert!(cards.iter().all(|c| matches!(c, Card::Ended(_))));
    }

    #[test]
    fn a_cancel_or_a_dead_worker_stops_the_row() {
        let mut cards = vec![
            Card::Ended(Box::new(view(1, RenderState::Done))),
            Card::Rendering(2),
        ];
        cards.push(Card::Waiting);
        assert_eq!(
            settle(&mut cards, &view(2, RenderState::Cancelled), false),
            None
        );
        assert_eq!(cards[2], Card::Skipped);
        assert_eq!(shown(&cards[1], None).state, "cancelled");
        let mut cards = vec![Card::Rendering(4), Card::Waiting];
        let crashed = view(4, RenderState::Failed("the model worker crashed".into()));
        assert_eq!(settle(&mut cards, &crashed, true), None);
        assert_eq!(cards[1], Card::Skipped);
        let s = shown(&cards[0], None);
        assert_eq!(
            (s.state, s.error.as_deref()),
            ("error", Some("the model worker crashed"))
        );
    }

    #[test]
    fn cards_say_where_they_stand() {
        let running = RenderView {
            state: RenderState::Running,
            step: 5,
            ..view(3, RenderState::Running)
        };
        let s = shown(&Card::Rendering(3), Some(&running));
        assert_eq!(
            (s.state, s.step, s.status.as_str()),
            ("running", 5, "step 5 / 128")
        );
        // The render shown is another job's: this one has not begun.
        assert_eq!(shown(&Card::Rendering(4), Some(&running)).state, "starting");
        assert_eq!(shown(&Card::Waiting, None).state, "waiting");
        assert_eq!(shown(&Card::Skipped, None).status, "not rendered");
        let done = RenderView {
            elapsed_ms: Some(1250.0),
            ..view(3, RenderState::Done)
        };
        let s = shown(&Card::Ended(Box::new(done)), None);
        assert_eq!((s.state, s.status.as_str()), ("done", "done in 1.2 s"));
    }

    #[test]
    fn the_embed_code_fits_the_row() {
        let spec = RenderParams {
            seed: 1,
            steps: 16,
            ..RenderParams::default()
        }
        .spec("m", "vision.blocks.3.mlp", 7);
        let s = row_snippet(
            "https://example.org/scope/#/m/vision.blocks.3.mlp/7,3,9?seed=1&steps=16",
            &spec,
            &[7, 3, 9],
        );
        assert!(
            s.starts_with(
                "<iframe src=\"https://example.org/scope/?embed=true#/m/vision.blocks.3.mlp/7,3,9?\
                 seed=1&steps=16\""
            ),
            "{s}"
        );
        assert!(
            s.contains("title=\"modalscope: vision.blocks.3.mlp units 7, 3, 9\""),
            "{s}"
        );
        // Three cards side by side.
        assert_eq!(
            row_frame(3, 1),
            [3 * ROW_TILE + 2 * ROW_GAP + 40, ROW_TILE + 64 + 88]
        );
        // Eight go on two even lines; wide facets one a line at most.
        assert_eq!(row_frame(8, 1)[0], 4 * ROW_TILE + 3 * ROW_GAP + 40);
        assert_eq!(row_frame(8, 1)[1], 2 * (ROW_TILE + 64) + ROW_GAP + 88);
        for n in 1..=8 {
            for batch in [1, 2, 4, 16] {
                let [w, h] = row_frame(n, batch);
                assert!(
                    w <= ROW_MAX_WIDTH.max(ROW_TILE * batch + 40) && h > ROW_TILE,
                    "{n} {batch}"
                );
            }
        }
    }
}
