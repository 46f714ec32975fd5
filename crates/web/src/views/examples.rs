//! A neuron's dataset examples: the images of the loaded set (or of an import) that drive the
//! unit most, each with its score and the unit's activation map over it as a heat map.

use leptos::html;
use leptos::prelude::*;

use crate::protocol::{ExampleImage, Rgba, SurveyTask};
use crate::route::Route;
use crate::worker_client::{SurveyKind, UnitSlot, WorkerClient};

use super::imageset::{DEFAULT_K, SurveyProgress};

/// Heat-map colour of an activation (0–255): transparent through red to yellow, more opaque
/// the stronger.
pub fn heat(v: u8) -> [u8; 4] {
    let t = v as f32 / 255.0;
    let r = 255.0 * (t * 2.0).min(1.0);
    let g = 255.0 * (t * 2.0 - 1.0).clamp(0.0, 1.0);
    [r as u8, g as u8, 32, (t.powf(0.8) * 200.0) as u8]
}

/// An activation map as a small RGBA image of its grid.
pub fn heat_map(map: &[u8], grid: [usize; 2]) -> Rgba {
    let [rows, cols] = grid;
    let mut bytes = Vec::with_capacity(rows * cols * 4);
    for i in 0..rows * cols {
        bytes.extend_from_slice(&heat(map.get(i).copied().unwrap_or(0)));
    }
    Rgba {
        width: cols,
        height: rows,
        bytes,
    }
}

/// The strip of a unit's dataset examples on its neuron page.
#[component]
pub fn DatasetExamples(
    /// Model name.
    model: String,
    /// Layer.
    layer: String,
    /// Unit.
    unit: usize,
    /// The model's source (for links).
    src: Option<String>,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let s = client.survey;
    let slot = RwSignal::new(UnitSlot::Idle);
    // Which examples the layer has (a new pass asks again).
    let summary = {
        let layer = layer.clone();
        Memo::new(move |_| s.examples.with(|e| e.get(&layer).cloned()))
    };
    {
        let (model, layer) = (model.clone(), layer.clone());
        Effect::new(move |_| {
            if summary.get().is_some() {
                client.unit_examples(&model, &layer, unit, slot);
            }
        });
    }
    on_cleanup(move || {
        if let Some(UnitSlot::Loading(job)) = slot.try_get_untracked() {
            client.cancel_unit_examples(job);
        }
    });
    let show_maps = RwSignal::new(true);
    let images_href = Route::Images {
        model: model.clone(),
    }
    .href(src.as_deref());
    let find = {
        let (model, layer) = (model.clone(), layer.clone());
        move |_| {
            client.start_survey(SurveyTask::Examples {
                model: model.clone(),
                layer: layer.clone(),
                k: DEFAULT_K,
            });
        }
    };
    let kind = SurveyKind::Examples(layer.clone());
    let body = move || {
        if summary.get().is_none() {
            let set = s.set.get();
            return match set {
                Some(set) => {
                    let find = find.clone();
                    view! {
                        <p class="muted" id="examples-missing">
                            "No dataset examples of this layer yet."
                        </p>
                        <p class="actions">
                            <button id="examples-find" on:click=find disabled=move || s.busy()>
                                {format!("Find them in the loaded set ({})", set.summary)}
                            </button>
                        </p>
                        <SurveyProgress kind=kind.clone()/>
                    }
                    .into_any()
                }
                None => view! {
                    <p class="muted" id="examples-missing">
                        <a href=images_href.clone() id="examples-load">"Load an image set"</a>
                        " (your own images, a zip, a URL list or the built-in model's generated \
                         images) to see the images that drive this unit most."
                    </p>
                }
                .into_any(),
            };
        }
        match slot.get() {
            UnitSlot::Idle | UnitSlot::Loading(_) => view! {
                <p class="muted" id="examples-waiting">"Finding this unit's best images…"</p>
            }
            .into_any(),
            UnitSlot::Failed(m) => {
                view! { <p class="message" id="examples-error">{m}</p> }.into_any()
            }
            UnitSlot::Ready(u) => {
                let n = u.examples.len();
                let grid = u.grid;
                let items = u
                    .examples
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| view! { <Example rank=i example=e grid show_maps/> })
                    .collect_view();
                let images = summary.get().map_or(0, |e| e.images);
                view! {
                    <div class="examples-strip" id="examples-strip" data-count=n>{items}</div>
                    <p class="muted small" id="examples-note">
                        <label>
                            <input type="checkbox" id="examples-maps"
                                prop:checked=move || show_maps.get()
                                on:change=move |ev| show_maps.set(event_target_checked(&ev))/>
                            " activation maps"
                        </label>
                        {format!(
                            " · the {n} strongest of {images} images of {} (the unit's spatial \
                             maximum; the heat map shows where it fired on its {}×{} grid)",
                            u.source, grid[0], grid[1]
                        )}
                    </p>
                }
                .into_any()
            }
        }
    };
    view! {
        <section class="dataset-examples" id="dataset-examples">
            <h2>"Dataset examples"</h2>
            {body}
        </section>
    }
}

/// One example: the image, the heat map over it, the score and the name.
#[component]
fn Example(
    /// Rank, 0 = best.
    rank: usize,
    /// The example.
    example: ExampleImage,
    /// Grid of the map.
    grid: [usize; 2],
    /// Whether the heat map is shown.
    show_maps: RwSignal<bool>,
) -> impl IntoView {
    let image = NodeRef::<html::Canvas>::new();
    let map = NodeRef::<html::Canvas>::new();
    let heat = heat_map(&example.map, grid);
    let (w, h) = (example.image.width, example.image.height);
    let pixels = example.image.clone();
    #[cfg(target_arch = "wasm32")]
    Effect::new(move |_| {
        if let (Some(i), Some(m)) = (image.get(), map.get()) {
            for (c, img) in [(i, &pixels), (m, &heat)] {
                if let Err(e) = crate::browser::paint(&c, img) {
                    leptos::logging::error!("modalscope: cannot paint an example: {e}");
                }
            }
        }
    });
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (&pixels, &heat);
    let title = format!("{} · score {:.3}", example.name, example.score);
    view! {
        <figure class="example" data-rank=rank data-score=format!("{:.4}", example.score)
            data-position=example.position title=title>
            <div class="example-frame">
                <canvas class="example-image" node_ref=image width=w height=h></canvas>
                <canvas class="example-map" node_ref=map width=grid[1] height=grid[0]
                    class:hidden=move || !show_maps.get()></canvas>
            </div>
            <figcaption>
                <span class="score">{format!("{:.3}", example.score)}</span>
                <span class="name">{example.name.clone()}</span>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_is_clear_when_cold_and_strong_when_hot() {
        assert_eq!(heat(0)[3], 0);
        assert_eq!(heat(255), [255, 255, 32, 200]);
        assert!(heat(100)[0] > heat(50)[0] && heat(100)[3] > heat(50)[3]);
        let m = heat_map(&[0, 255, 128, 7, 9, 10], [2, 3]);
        assert_eq!((m.width, m.height, m.bytes.len()), (3, 2, 24));
        assert_eq!(&m.bytes[4..8], &heat(255));
    }
}
