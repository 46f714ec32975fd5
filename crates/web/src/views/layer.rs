//! One layer: a grid of its units, each with a thumbnail of its feature visualization
//! rendered by the worker when the cell scrolls into view.

use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;

use crate::protocol::ModelInfo;
use crate::route::{AtlasParams, FamiliesParams, MAX_ROW, MultimodalParams, RenderParams, Route};
use crate::worker_client::{Thumb, WorkerClient};

use super::analysis::ImageCanvas;
use super::crumbs::Crumbs;

/// A layer of the loaded model (the link was checked).
#[component]
pub fn LayerPage(
    /// The loaded model.
    info: ModelInfo,
    /// The layer's name.
    layer: String,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let l = info.layer(&layer).cloned().expect("the layer was checked");
    let [rows, cols] = l.grid;
    let src = info.source.url().map(str::to_string);
    let slots: Arc<Vec<RwSignal<Thumb>>> = Arc::new(
        (0..l.units)
            .map(|unit| {
                RwSignal::new(
                    client
                        .cached_thumbnail(&layer, unit)
                        .map_or(Thumb::Idle, Thumb::Done),
                )
            })
            .collect(),
    );
    let cells = (0..l.units)
        .map(|unit| {
            let href = Route::Neuron {
                model: info.name.clone(),
                layer: layer.clone(),
                unit,
                params: RenderParams::default(),
            }
            .href(src.as_deref());
            let slot = slots[unit];
            view! {
                <a
                    class="unit-cell"
                    href=href
                    data-unit=unit
                    data-thumb=move || slot.with(Thumb::attr)
                    title=format!("unit {unit}")
                >
                    {move || match slot.get() {
                        Thumb::Done(image) => view! { <ImageCanvas image class="thumb"/> }.into_any(),
                        Thumb::Failed(message) => view! {
                            <span class="thumb thumb-failed" title=message>"!"</span>
                        }
                        .into_any(),
                        Thumb::Queued(_) => view! { <span class="thumb thumb-queued"></span> }
                            .into_any(),
                        Thumb::Idle => view! { <span class="thumb"></span> }.into_any(),
                    }}
                    <span class="unit-no">{unit}</span>
                </a>
            }
        })
        .collect_view();

    let grid = NodeRef::<html::Div>::new();
    #[cfg(target_arch = "wasm32")]
    {
        let observer = StoredValue::new_local(None::<crate::browser::CellObserver>);
        let model = info.name.clone();
        let layer_name = layer.clone();
        let for_observer = slots.clone();
        Effect::new(move |_| {
            let Some(el) = grid.get() else { return };
            if observer.with_value(Option::is_some) {
                return;
            }
            let (model, layer, slots) = (model.clone(), layer_name.clone(), for_observer.clone());
            let on_change = move |unit: usize, visible: bool| {
                let Some(&slot) = slots.get(unit) else { return };
                match (visible, slot.get_untracked()) {
                    (true, Thumb::Idle) => client.thumbnail(&model, &layer, unit, slot),
                    (false, Thumb::Queued(job)) => {
                        client.cancel_thumbnail(job);
                        slot.set(Thumb::Idle);
                    }
                    _ => {}
                }
            };
            match crate::browser::CellObserver::new(&el, ".unit-cell", on_change) {
                Ok(o) => observer.set_value(Some(o)),
                Err(e) => leptos::logging::error!("modalscope: no lazy thumbnails: {e}"),
            }
        });
        let slots = slots.clone();
        on_cleanup(move || {
            observer.update_value(|o| {
                if let Some(o) = o.take() {
                    o.disconnect();
                }
            });
            for slot in slots.iter() {
                if let Some(Thumb::Queued(job)) = slot.try_get_untracked() {
                    client.cancel_thumbnail(job);
                }
            }
        });
    }

    let multimodal_href = Route::Multimodal {
        model: info.name.clone(),
        layer: layer.clone(),
        params: MultimodalParams::default(),
    }
    .href(src.as_deref());
    let families_href = Route::Families {
        model: info.name.clone(),
        layer: layer.clone(),
        params: FamiliesParams::default(),
    }
    .href(src.as_deref());
    let atlas_href = Route::Atlas {
        model: info.name.clone(),
        layer: layer.clone(),
        params: AtlasParams::default(),
    }
    .href(src.as_deref());
    let images_href = Route::Images {
        model: info.name.clone(),
    }
    .href(src.as_deref());
    let first = l.units.min(MAX_ROW);
    let row_href = Route::Row {
        model: info.name.clone(),
        layer: layer.clone(),
        units: (0..first).collect(),
        params: RenderParams::default(),
    }
    .href(src.as_deref());
    view! {
        <section class="card layer">
            <Crumbs model=info.name.clone() src=src.clone() here=layer.clone()/>
            <h1 id="layer-name">{layer.clone()}</h1>
            <p class="muted" id="layer-summary">
                {format!(
                    "{} units on a {rows}×{cols} grid. Each thumbnail is a quick feature \
                     visualization ({} steps), rendered when it scrolls into view; pick a unit \
                     for the full one.",
                    l.units,
                    crate::engine::THUMB_STEPS
                )}
            </p>
            <p class="view-links" id="layer-views">
                "Analyses of this layer: "
                <a id="layer-multimodal" href=multimodal_href>"multimodal neurons"</a>
                " · "
                <a id="layer-families" href=families_href>"neuron families"</a>
                " · "
                <a id="layer-atlas" href=atlas_href>"activation atlas"</a>
                " · "
                <a id="layer-images" href=images_href>"dataset examples (image sets)"</a>
            </p>
            <p class="view-links small" id="layer-row-link">
                "For an article: "
                <a id="layer-row" href=row_href>
                    {format!("units 0–{} as a row of feature visualizations", first.saturating_sub(1))}
                </a>
                " to embed (any units: edit the list in its link, e.g. 3,1,4-7)"
            </p>
            <div class="units" id="units" node_ref=grid data-units=l.units>{cells}</div>
        </section>
    }
}
