//! The activation atlas of a layer (`#/{model}/{layer}/atlas?level=..&x=..&y=..&zoom=..`):
//! built in the worker from the loaded image set (a pass that samples activation vectors, the
//! UMAP layout and grids, then the cell icons batch by batch, drawn as they arrive), or taken
//! from an import. The canvas zooms (wheel, buttons; finer grid levels as it zooms in) and
//! pans (drag); the panel beside it shows the hovered cell's strongest units (links to their
//! neuron pages) and, for joint-space layers, the vocabulary words closest to it. The link
//! keeps the view.

use leptos::html;
use leptos::prelude::*;

use crate::protocol::{
    AtlasCell, AtlasView, ImageSource, ModelInfo, ModelSource, SetSummary, SurveyTask,
};
use crate::route::{AtlasParams, MAX_ZOOM, RenderParams, Route, SetKey};
use crate::worker_client::{AtlasData, IconScore, SurveyKind, WorkerClient};

use super::crumbs::Crumbs;
use super::imageset::{DEFAULT_GENERATED, GENERATED_SEED, SurveyProgress};

/// Side of the atlas canvas in pixels.
pub const CANVAS: f32 = 640.0;
/// The zoom level shown is the finest whose cells are at least this wide on screen.
pub const CELL_PX: f32 = 64.0;
/// Zoom factor of one wheel notch or button press.
pub const ZOOM_STEP: f32 = 1.25;

/// The finest level (of grids `sizes`) whose cells are at least `cell_px` wide on a canvas
/// `width` pixels wide at `zoom`.
pub fn level_for(sizes: &[u32], zoom: f32, width: f32, cell_px: f32) -> usize {
    let mut best = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if width * zoom / size as f32 >= cell_px {
            best = i;
        }
    }
    best
}

/// The part of the unit square in view: `[x0, y0, side]`.
pub fn window(p: &AtlasParams) -> [f32; 3] {
    let w = 1.0 / p.zoom;
    [p.x - w / 2.0, p.y - w / 2.0, w]
}

/// Keeps the view inside the atlas.
pub fn clamp_centre(p: &mut AtlasParams) {
    let h = 0.5 / p.zoom;
    p.x = p.x.clamp(h, 1.0 - h);
    p.y = p.y.clamp(h, 1.0 - h);
}

/// Zooms by `factor` keeping the point at `at` (fractions of the canvas) where it is, and
/// picks the level for the new zoom among `sizes`.
pub fn zoom_at(p: &mut AtlasParams, factor: f32, at: [f32; 2], sizes: &[u32]) {
    let [x0, y0, w] = window(p);
    let (u, v) = (x0 + at[0] * w, y0 + at[1] * w);
    p.zoom = (p.zoom * factor).clamp(1.0, MAX_ZOOM);
    let w2 = 1.0 / p.zoom;
    p.x = u - at[0] * w2 + w2 / 2.0;
    p.y = v - at[1] * w2 + w2 / 2.0;
    clamp_centre(p);
    p.level = level_for(sizes, p.zoom, CANVAS, CELL_PX);
}

/// Pans by a drag of `dx, dy` canvas fractions from the view `start`.
pub fn pan(p: &mut AtlasParams, start: [f32; 2], dx: f32, dy: f32) {
    let w = 1.0 / p.zoom;
    p.x = start[0] - dx * w;
    p.y = start[1] - dy * w;
    clamp_centre(p);
}

/// The kept cell of `view`'s level `level` under the point `at` (fractions of the canvas).
pub fn cell_at<'a>(
    view: &'a AtlasView,
    p: &AtlasParams,
    level: usize,
    at: [f32; 2],
) -> Option<&'a AtlasCell> {
    let l = view.levels.get(level)?;
    let [x0, y0, w] = window(p);
    let (u, v) = (x0 + at[0] * w, y0 + at[1] * w);
    if !(0.0..=1.0).contains(&u) || !(0.0..=1.0).contains(&v) {
        return None;
    }
    let f = |t: f32| ((t * l.size as f32) as u32).min(l.size - 1);
    let (col, row) = (f(u), f(v));
    l.cells
        .binary_search_by(|c| (c.row, c.col).cmp(&(row, col)))
        .ok()
        .map(|i| &l.cells[i])
}

/// What the tip says of a cell's icon: not rendered yet, or its objective's value on the
/// cell's direction and how it compares with the level's other cells.
pub fn icon_score_line(has_icon: bool, score: Option<IconScore>) -> String {
    let Some(s) = score.filter(|_| has_icon) else {
        return "icon: not rendered yet".into();
    };
    let value = match s.score {
        Some(v) => format!("icon score {v:.3} (its objective on the cell's direction)"),
        None => "icon score not recorded".into(),
    };
    match s.specificity {
        Some(p) => format!(
            "{value}; closer to this cell's direction than to {:.0} % of the other cells' \
             directions at this level",
            100.0 * p
        ),
        None => value,
    }
}

/// The long survey job running, as the atlas page sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// None.
    Nothing,
    /// Building this atlas (this layer, the link's settings).
    ThisAtlas,
    /// Building another atlas (the page replaces it).
    OtherAtlas,
    /// Something else (a pass, an export): left alone.
    Other,
}

/// What an atlas page opened from a link does first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// Nothing: the atlas is here (built or imported before), or being built.
    Show,
    /// Another long job runs: the user builds when it is done.
    Busy,
    /// Builds the atlas, from the loaded set or from the generated set (count, seed) loaded
    /// first.
    Build {
        /// The generated set to load first.
        generated: Option<(usize, u64)>,
    },
    /// The images the atlas needs are not here: why, and the generated set when it would do.
    NeedImages {
        /// What is missing, in words.
        message: String,
        /// The generated set (count, seed) to offer.
        generated: Option<(usize, u64)>,
    },
}

/// What the atlas page does when it opens: build the atlas at once when the images it needs
/// are here or can be made without the user (the set `link` names is the loaded one; a
/// generated set, unless the user's own set is loaded; without `set=`, the loaded set or, on
/// the built-in model, its generated set), else say which images are missing.
pub fn opening(
    link: Option<&SetKey>,
    loaded: Option<&SetSummary>,
    has_atlas: bool,
    running: Running,
    builtin: bool,
) -> Opening {
    if has_atlas || running == Running::ThisAtlas {
        return Opening::Show;
    }
    if running == Running::Other {
        return Opening::Busy;
    }
    let loaded_key = loaded.and_then(|s| SetKey::parse(&s.key));
    let loaded_is_generated = matches!(loaded_key, Some(SetKey::Generated { .. }));
    match link {
        Some(k) if loaded_key.as_ref() == Some(k) => Opening::Build { generated: None },
        Some(&SetKey::Generated { count, seed }) if loaded.is_none() || loaded_is_generated => {
            Opening::Build {
                generated: Some((count, seed)),
            }
        }
        Some(&SetKey::Generated { count, seed }) => Opening::NeedImages {
            message: format!(
                "This atlas is built from {count} generated images (seed {seed}), not from the \
                 image set loaded now ({}), which using them would replace.",
                loaded.map(|s| s.label.as_str()).unwrap_or_default()
            ),
            generated: Some((count, seed)),
        },
        Some(SetKey::Files(hash)) => Opening::NeedImages {
            message: format!(
                "This atlas was built from its author's own image files (set files:{hash}), \
                 which this page does not have: load the same images on the image-set page, \
                 then build it with the settings below, or build it from another set."
            ),
            generated: None,
        },
        None if loaded.is_some() => Opening::Build { generated: None },
        None if builtin => Opening::Build {
            generated: Some((DEFAULT_GENERATED, GENERATED_SEED)),
        },
        None => Opening::NeedImages {
            message: "This atlas needs an image set: load one on the image-set page (your \
                      images stay in the browser), or use generated images."
                .into(),
            generated: Some((DEFAULT_GENERATED, GENERATED_SEED)),
        },
    }
}

/// The atlas page.
#[component]
pub fn AtlasPage(
    /// The loaded model.
    info: ModelInfo,
    /// The layer.
    layer: String,
    /// The view and the build settings from the link.
    params: AtlasParams,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let s = client.survey;
    let model = info.name.clone();
    let src = info.source.url().map(str::to_string);
    let p = RwSignal::new(params.clone());
    let data = {
        let layer = layer.clone();
        Memo::new(move |_| s.atlases.with(|a| a.get(&layer).cloned()))
    };
    let has_view = Memo::new(move |_| data.with(|d| d.as_ref().is_some_and(|d| d.view.is_some())));
    // The link follows the view (without a new history entry).
    {
        let (model, layer, src) = (model.clone(), layer.clone(), src.clone());
        Effect::new(move |first: Option<()>| {
            let hash = Route::Atlas {
                model: model.clone(),
                layer: layer.clone(),
                params: p.get(),
            }
            .href(src.as_deref());
            if first.is_some() {
                #[cfg(target_arch = "wasm32")]
                crate::browser::replace_hash(&hash);
            }
            let _ = hash;
        });
    }

    // Builds with the link's settings: from the loaded set, or from a generated set loaded
    // first; the link then names the set.
    let need = RwSignal::new(None::<(String, Option<(usize, u64)>)>);
    let build = {
        let (model, layer) = (model.clone(), layer.clone());
        move |generated: Option<(usize, u64)>| {
            let set = match generated {
                Some((count, seed)) => Some(SetKey::Generated { count, seed }),
                None => s
                    .set
                    .with_untracked(|s| s.as_ref().and_then(|s| SetKey::parse(&s.key))),
            };
            need.set(None);
            p.update(|p| p.set = set);
            client.start_survey(SurveyTask::BuildAtlas {
                model: model.clone(),
                layer: layer.clone(),
                spec: p.get_untracked().spec(),
                images: generated.map(|(count, seed)| ImageSource::Generated { count, seed }),
            });
        }
    };
    // Opened from a link: build at once when the images are here (or can be made), else say
    // which are missing.
    {
        let build = build.clone();
        let layer = layer.clone();
        let builtin = info.source == ModelSource::Builtin;
        Effect::new(move |first: Option<()>| {
            if first.is_some() {
                return;
            }
            let running = s.job.with_untracked(|j| match j {
                Some(j) if j.state.is_active() => match &j.kind {
                    SurveyKind::Atlas(l)
                        if *l == layer
                            && s.atlas_spec(j.job).as_ref() == Some(&p.get_untracked().spec()) =>
                    {
                        Running::ThisAtlas
                    }
                    SurveyKind::Atlas(_) => Running::OtherAtlas,
                    _ => Running::Other,
                },
                _ => Running::Nothing,
            });
            let has_atlas = data.with_untracked(Option::is_some);
            let link = p.with_untracked(|p| p.set.clone());
            let plan = s.set.with_untracked(|loaded| {
                opening(link.as_ref(), loaded.as_ref(), has_atlas, running, builtin)
            });
            match plan {
                Opening::Show => {
                    // The link names the set the atlas shown was built from.
                    let built_from = data.with_untracked(|d| {
                        d.as_ref()
                            .and_then(|d| d.set.as_deref())
                            .and_then(SetKey::parse)
                    });
                    if link.is_none() && built_from.is_some() {
                        p.update(|p| p.set = built_from);
                    }
                }
                Opening::Busy => need.set(Some((
                    s.job.with_untracked(|j| {
                        format!(
                            "Another job is running ({}); build the atlas with the settings \
                             below when it is done, or cancel it.",
                            j.as_ref().map(|j| j.kind.describe()).unwrap_or_default()
                        )
                    }),
                    None,
                ))),
                Opening::Build { generated } => build(generated),
                Opening::NeedImages { message, generated } => {
                    need.set(Some((message, generated)));
                }
            }
        });
    }
    let use_generated = {
        let model = model.clone();
        move |_| {
            client.start_survey(SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::Generated {
                    count: DEFAULT_GENERATED,
                    seed: GENERATED_SEED,
                },
            });
        }
    };
    let images_href = Route::Images {
        model: model.clone(),
    }
    .href(src.as_deref());
    let export = {
        let (model, layer) = (model.clone(), layer.clone());
        move |_| {
            client.start_survey(SurveyTask::Export {
                model: model.clone(),
                atlas_layer: Some(layer.clone()),
            });
        }
    };

    let settings = {
        let build = build.clone();
        view! { <BuildForm p on_build=Callback::new(move |()| build(None))/> }
    };
    let need_part = {
        let images_href = images_href.clone();
        move || {
            need.get().map(|(message, generated)| {
                let build = build.clone();
                let offer = generated.map(|(count, seed)| {
                    view! {
                        " or "
                        <button id="atlas-need-generated" disabled=move || s.busy()
                            on:click=move |_| build(Some((count, seed)))>
                            {format!("build it from {count} generated images (seed {seed})")}
                        </button>
                    }
                });
                view! {
                    <div class="message" id="atlas-need-images" role="status">
                        <p>{message}</p>
                        <p>
                            <a id="atlas-need-link" href=images_href.clone()>
                                "Open the image-set page"
                            </a>
                            {offer}
                        </p>
                    </div>
                }
            })
        }
    };
    let set_line = move || match s.set.get() {
        Some(set) => view! {
            <p class="muted" id="atlas-set">
                {format!(
                    "The loaded image set, which the build form uses: {} ({})",
                    set.label, set.summary
                )}
            </p>
        }
        .into_any(),
        None => {
            let use_generated = use_generated.clone();
            view! {
                <p class="muted" id="atlas-set">
                    "No image set is loaded: "
                    <a href=images_href.clone()>"load one"</a>
                    ", or "
                    <button id="atlas-generated" on:click=use_generated disabled=move || s.busy()>
                        {format!("use {DEFAULT_GENERATED} generated images")}
                    </button>
                </p>
            }
            .into_any()
        }
    };
    let canvas_part = {
        let (model, layer, src) = (model.clone(), layer.clone(), src.clone());
        move || {
            has_view.get().then(|| {
                view! {
                    <AtlasCanvas data p model=model.clone() layer=layer.clone() src=src.clone()/>
                }
            })
        }
    };
    view! {
        <section class="card atlas-page" id="atlas-page">
            <Crumbs model=info.name.clone() src=src.clone() layer=layer.clone() here="atlas"/>
            <h1>"Activation atlas of " <code>{layer.clone()}</code></h1>
            <p class="muted">
                "Activation vectors of the layer, sampled over every position of every image of \
                 the set, laid out in 2-D with UMAP (neighbours in the layer stay neighbours) and \
                 binned into grids; each cell's icon is a feature visualization of its mean \
                 direction. Zoom with the wheel or the buttons (finer grids as you zoom in), drag \
                 to pan, hover a cell for its strongest units."
            </p>
            <SurveyProgress/>
            {need_part}
            {set_line}
            {canvas_part}
            {settings}
            <p class="actions">
                <button id="atlas-export" on:click=export
                    disabled=move || s.busy() || !has_view.get()>
                    "Export this atlas and the examples (.zip)"
                </button>
            </p>
        </section>
    }
}

/// How the atlas is built: the link's settings, editable; builds (again) with them.
#[component]
fn BuildForm(
    /// The view and build settings.
    p: RwSignal<AtlasParams>,
    /// Builds with `p`'s settings.
    on_build: Callback<()>,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let s = client.survey;
    let init = p.get_untracked();
    let samples = RwSignal::new(init.samples.to_string());
    let seed = RwSignal::new(init.seed.to_string());
    let levels = RwSignal::new(
        init.levels
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    let steps = RwSignal::new(init.steps.to_string());
    let min = RwSignal::new(init.min_count.to_string());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // The same checks as a link's.
        let query = format!(
            "samples={}&seed={}&levels={}&steps={}&min={}",
            samples.get_untracked().trim(),
            seed.get_untracked().trim(),
            levels.get_untracked().replace(' ', ""),
            steps.get_untracked().trim(),
            min.get_untracked().trim()
        );
        match crate::route::parse_atlas(&query) {
            Ok(new) => {
                problem.set(None);
                p.update(|p| {
                    p.samples = new.samples;
                    p.seed = new.seed;
                    p.levels = new.levels;
                    p.steps = new.steps;
                    p.min_count = new.min_count;
                    p.level = p.level.min(p.levels.len() - 1);
                });
                on_build.run(());
            }
            Err(e) => problem.set(Some(e)),
        }
    };
    let field = |label: &'static str, id: &'static str, value: RwSignal<String>| {
        view! {
            <label>
                {label}
                <input id=id type="text" inputmode="numeric" size="6"
                    prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <form class="settings-form" id="atlas-settings" on:submit=submit>
            {field("samples", "atlas-samples", samples)}
            {field("seed", "atlas-seed", seed)}
            {field("grids", "atlas-levels", levels)}
            {field("icon steps", "atlas-steps", steps)}
            {field("min per cell", "atlas-min", min)}
            <button type="submit" id="atlas-build"
                disabled=move || s.busy() || s.set.with(Option::is_none)>
                "Build the atlas"
            </button>
        </form>
        {move || problem.get().map(|m| view! { <p class="message" id="atlas-problem">{m}</p> })}
    }
}

/// The atlas on a canvas, its controls and the hovered cell's panel.
#[component]
fn AtlasCanvas(
    /// The atlas (with a view).
    data: Memo<Option<AtlasData>>,
    /// The view.
    p: RwSignal<AtlasParams>,
    /// Model name.
    model: String,
    /// Layer.
    layer: String,
    /// The model's source (for links).
    src: Option<String>,
) -> impl IntoView {
    let canvas = NodeRef::<html::Canvas>::new();
    let hovered = RwSignal::new(None::<(usize, u32, u32)>);
    let sizes = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .and_then(|d| d.view.as_ref())
                .map(|v| v.levels.iter().map(|l| l.size).collect::<Vec<u32>>())
                .unwrap_or_default()
        })
    });
    // The level shown: the link's, within the atlas' levels.
    let level = Memo::new(move |_| {
        let n = sizes.with(Vec::len).max(1);
        p.with(|p| p.level.min(n - 1))
    });
    let zoom_by = move |factor: f32| {
        let sizes = sizes.get_untracked();
        p.update(|p| zoom_at(p, factor, [0.5, 0.5], &sizes));
    };
    let reset = move |_| {
        p.update(|p| {
            p.zoom = 1.0;
            p.x = 0.5;
            p.y = 0.5;
            p.level = 0;
        })
    };

    #[cfg(target_arch = "wasm32")]
    {
        let cache = StoredValue::new_local(web::IconCache::default());
        Effect::new(move |_| {
            let Some(c) = canvas.get() else { return };
            let params = p.get();
            let level = level.get();
            let hover = hovered.get();
            data.with(|d| {
                if let Some(d) = d {
                    cache.update_value(|cache| web::draw(&c, d, &params, level, hover, cache));
                }
            });
        });
        web::install_wheel(canvas, p, sizes);
    }

    // Drag to pan; hover for the panel.
    let drag = StoredValue::new(None::<([f32; 2], [f32; 2], bool)>);
    let at = move |ev: &leptos::ev::PointerEvent| -> Option<[f32; 2]> {
        #[cfg(target_arch = "wasm32")]
        {
            let c = canvas.get_untracked()?;
            let r = c.get_bounding_client_rect();
            Some([
                ((ev.client_x() as f64 - r.left()) / r.width()) as f32,
                ((ev.client_y() as f64 - r.top()) / r.height()) as f32,
            ])
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = ev;
            None
        }
    };
    let on_down = move |ev: leptos::ev::PointerEvent| {
        if let Some(a) = at(&ev) {
            let centre = p.with_untracked(|p| [p.x, p.y]);
            drag.set_value(Some((a, centre, false)));
            #[cfg(target_arch = "wasm32")]
            if let Some(c) = canvas.get_untracked() {
                let _ = c.set_pointer_capture(ev.pointer_id());
            }
        }
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        let Some(a) = at(&ev) else { return };
        if let Some((start, centre, _)) = drag.get_value() {
            let (dx, dy) = (a[0] - start[0], a[1] - start[1]);
            if dx.abs() + dy.abs() > 0.004 {
                drag.set_value(Some((start, centre, true)));
                p.update(|p| pan(p, centre, dx, dy));
                return;
            }
        }
        let found = data.with_untracked(|d| {
            let view = d.as_ref()?.view.as_ref()?;
            let l = level.get_untracked();
            p.with_untracked(|p| cell_at(view, p, l, a))
                .map(|c| (l, c.col, c.row))
        });
        if found.is_some() && found != hovered.get_untracked() {
            hovered.set(found);
        }
    };
    let on_up = move |_ev: leptos::ev::PointerEvent| drag.set_value(None);

    let level_buttons = move || {
        let current = level.get();
        sizes
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, size)| {
                view! {
                    <button
                        class="atlas-level"
                        data-level=i
                        aria-pressed=if i == current { "true" } else { "false" }
                        on:click=move |_| p.update(|p| p.level = i)
                    >
                        {format!("{size}×{size}")}
                    </button>
                }
            })
            .collect_view()
    };
    let info_line = move || {
        data.with(|d| {
            let d = d.as_ref()?;
            let view = d.view.as_ref()?;
            let l = level.get();
            let cells = view.levels.get(l).map_or(0, |l| l.cells.len());
            let icons = d.icons.len();
            let mut text = format!(
                "{} activation vectors · level {l}: {cells} cells · {icons} of {} icons · zoom {:.2}",
                view.samples,
                view.cells(),
                p.with(|p| p.zoom)
            );
            if view.imported {
                text.push_str(" · imported");
            }
            Some(text)
        })
    };
    let timings = move || {
        data.with(|d| {
            let summary = d.as_ref()?.summary.as_ref()?;
            let ms = |name: &str| {
                summary
                    .stages
                    .iter()
                    .find(|s| s.0 == name)
                    .map_or(0.0, |s| s.1)
            };
            let pass = ms("pass");
            Some(format!(
                "Built from {} images: pass {:.1} s ({:.0} images/s), layout {:.1} s, labels {:.1} s, \
                 {} icons {:.1} s.",
                summary.images,
                pass / 1000.0,
                summary.images as f64 / (pass / 1000.0).max(1e-9),
                ms("layout") / 1000.0,
                ms("labels") / 1000.0,
                summary.icons,
                ms("icons") / 1000.0
            ))
        })
    };
    let spec_note = move || {
        data.with(|d| {
            let d = d.as_ref()?;
            let spec = d.spec.as_ref()?;
            if !p.with(|p| p.builds(spec)) {
                return Some(format!(
                    "This atlas was built with samples={}, seed={}, grids {:?}, {} icon steps; \
                     build again for the link's settings.",
                    spec.samples, spec.seed, spec.levels, spec.steps
                ));
            }
            let link = p.with(|p| p.set.as_ref().map(SetKey::key));
            (link.is_some() && d.set.is_some() && link != d.set).then(|| {
                format!(
                    "This atlas was built from the image set {}, the link names {}; build \
                     again from that set for the link's atlas.",
                    d.set.clone().unwrap_or_default(),
                    link.unwrap_or_default()
                )
            })
        })
    };
    let tip =
        move || {
            let (l, col, row) = hovered.get()?;
            data.with(|d| {
            let view = d.as_ref()?.view.as_ref()?;
            let cell = view.levels.get(l)?.cells.iter().find(|c| c.col == col && c.row == row)?;
            let units = cell
                .top
                .iter()
                .map(|t| {
                    let href = Route::Neuron {
                        model: model.clone(),
                        layer: layer.clone(),
                        unit: t.unit as usize,
                        params: RenderParams::default(),
                    }
                    .href(src.as_deref());
                    view! {
                        <li>
                            <a class="tip-unit" href=href data-unit=t.unit>
                                {format!("unit {}", t.unit)}
                            </a>
                            <span class="muted">{format!(" {:.3}", t.weight)}</span>
                        </li>
                    }
                })
                .collect_view();
            let words = if cell.labels.is_empty() {
                view! {
                    <p class="muted small" id="atlas-tip-note">
                        {view.label_note.clone().unwrap_or_else(|| "no text labels".into())}
                    </p>
                }
                .into_any()
            } else {
                let text = cell
                    .labels
                    .iter()
                    .map(|w| {
                        if w.score.is_finite() {
                            format!("{} ({:.3})", w.word, w.score)
                        } else {
                            w.word.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                view! {
                    <p id="atlas-tip-words">
                        <span class="muted">"closest words: "</span>
                        {text}
                    </p>
                }
                .into_any()
            };
            let score = d.as_ref()?.scores.get(&(l as u32, col, row)).copied();
            let has_icon = d.as_ref()?.icons.contains_key(&(l as u32, col, row));
            let score_line = icon_score_line(has_icon, score);
            let score_attr = score.and_then(|s| s.score).map(|v| format!("{v}"));
            let spec_attr = score.and_then(|s| s.specificity).map(|v| format!("{v}"));
            Some(view! {
                <p>
                    <strong>{format!("cell {col}, {row}")}</strong>
                    <span class="muted">{format!(" · level {l} · {} vectors", cell.count)}</span>
                </p>
                <p class="small" id="atlas-tip-score" data-score=score_attr
                    data-specificity=spec_attr>{score_line}</p>
                <p class="muted small">"strongest units of its direction:"</p>
                <ol class="tip-units">{units}</ol>
                {words}
            })
        })
        };
    view! {
        <div class="atlas-tools">
            <button id="atlas-zoom-in" on:click=move |_| zoom_by(ZOOM_STEP) title="zoom in">"+"</button>
            <button id="atlas-zoom-out" on:click=move |_| zoom_by(1.0 / ZOOM_STEP) title="zoom out">
                "−"
            </button>
            <button id="atlas-reset" on:click=reset>"whole atlas"</button>
            <span class="muted">" grid: "</span>
            {level_buttons}
        </div>
        <div class="atlas-wrap">
            <canvas
                id="atlas-canvas"
                node_ref=canvas
                width=CANVAS as u32
                height=CANVAS as u32
                on:pointerdown=on_down
                on:pointermove=on_move
                on:pointerup=on_up
                on:pointercancel=on_up
            ></canvas>
            <div class="atlas-tip" id="atlas-tip"
                data-cell=move || hovered.get().map(|(l, c, r)| format!("{l},{c},{r}"))>
                {move || tip().map_or_else(
                    || view! {
                        <p class="muted">"Hover a cell to see its strongest units."</p>
                    }.into_any(),
                    |v| v.into_any(),
                )}
            </div>
        </div>
        <p class="muted small" id="atlas-info">{info_line}</p>
        <p class="muted small" id="atlas-timings">{timings}</p>
        {move || spec_note().map(|n| view! { <p class="muted small" id="atlas-spec-note">{n}</p> })}
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    //! Drawing the atlas and the wheel (wasm only).

    use std::collections::HashMap;

    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::*;
    use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

    use super::*;

    /// Icons as small canvases, ready to be drawn scaled; dropped when the atlas changes (a
    /// build with other icon settings may lay out the same cells).
    #[derive(Default)]
    pub struct IconCache {
        view: Option<AtlasView>,
        job: Option<crate::protocol::JobId>,
        icons: HashMap<(u32, u32, u32), HtmlCanvasElement>,
    }

    /// Draws the cells of `level` in view: icons where they have arrived, grey squares
    /// (darker for fewer vectors) where not; outlines the hovered cell.
    pub fn draw(
        canvas: &HtmlCanvasElement,
        data: &AtlasData,
        p: &AtlasParams,
        level: usize,
        hover: Option<(usize, u32, u32)>,
        cache: &mut IconCache,
    ) {
        let Some(view) = &data.view else { return };
        if cache.view.as_ref() != Some(view) || cache.job != Some(data.job) {
            cache.view = Some(view.clone());
            cache.job = Some(data.job);
            cache.icons.clear();
        }
        let Some(ctx) = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
        else {
            return;
        };
        let w_px = canvas.width() as f64;
        ctx.set_fill_style_str("#101418");
        ctx.fill_rect(0.0, 0.0, w_px, canvas.height() as f64);
        ctx.set_image_smoothing_enabled(true);
        let Some(l) = view.levels.get(level) else {
            return;
        };
        let [x0, y0, w] = window(p);
        let scale = w_px / w as f64;
        let max_count = l.cells.iter().map(|c| c.count).max().unwrap_or(1).max(1) as f64;
        let document = web_sys::window().and_then(|w| w.document());
        let mut drawn = 0;
        for c in &l.cells {
            let size = l.size as f64;
            let sx = (c.col as f64 / size - x0 as f64) * scale;
            let sy = (c.row as f64 / size - y0 as f64) * scale;
            let side = scale / size;
            if sx + side < 0.0 || sy + side < 0.0 || sx > w_px || sy > w_px {
                continue;
            }
            let key = (level as u32, c.col, c.row);
            if !cache.icons.contains_key(&key)
                && let (Some(icon), Some(doc)) = (data.icons.get(&key), &document)
                && let Ok(el) = doc.create_element("canvas")
            {
                let ic: HtmlCanvasElement = el.unchecked_into();
                if crate::browser::paint(&ic, icon).is_ok() {
                    cache.icons.insert(key, ic);
                }
            }
            let gap = if side > 24.0 { 1.0 } else { 0.0 };
            match cache.icons.get(&key) {
                Some(ic) => {
                    let _ = ctx.draw_image_with_html_canvas_element_and_dw_and_dh(
                        ic,
                        sx + gap,
                        sy + gap,
                        side - 2.0 * gap,
                        side - 2.0 * gap,
                    );
                    drawn += 1;
                }
                None => {
                    let a = 0.15 + 0.45 * (c.count as f64 / max_count);
                    ctx.set_fill_style_str(&format!("rgba(150, 160, 170, {a:.3})"));
                    ctx.fill_rect(sx + gap, sy + gap, side - 2.0 * gap, side - 2.0 * gap);
                }
            }
            if hover == Some((level, c.col, c.row)) {
                ctx.set_stroke_style_str("#ffd24a");
                ctx.set_line_width(2.0);
                ctx.stroke_rect(sx + 1.0, sy + 1.0, side - 2.0, side - 2.0);
            }
        }
        let _ = canvas.set_attribute("data-level", &level.to_string());
        let _ = canvas.set_attribute("data-cells", &l.cells.len().to_string());
        let _ = canvas.set_attribute("data-icons", &drawn.to_string());
        let _ = canvas.set_attribute("data-zoom", &format!("{:.3}", p.zoom));
        let _ = canvas.set_attribute("data-all-cells", &view.cells().to_string());
        let _ = canvas.set_attribute("data-all-icons", &data.icons.len().to_string());
    }

    /// Zoom on the wheel, about the cursor. Not through Leptos' delegated handler: a wheel
    /// listener on the document is passive, and the page would scroll as well.
    pub fn install_wheel(
        canvas: NodeRef<html::Canvas>,
        p: RwSignal<AtlasParams>,
        sizes: Memo<Vec<u32>>,
    ) {
        let installed = StoredValue::new_local(None::<Closure<dyn FnMut(web_sys::WheelEvent)>>);
        Effect::new(move |_| {
            let Some(c) = canvas.get() else { return };
            if installed.with_value(Option::is_some) {
                return;
            }
            let target = c.clone();
            let on_wheel =
                Closure::<dyn FnMut(web_sys::WheelEvent)>::new(move |ev: web_sys::WheelEvent| {
                    ev.prevent_default();
                    let r = target.get_bounding_client_rect();
                    let at = [
                        ((ev.client_x() as f64 - r.left()) / r.width()) as f32,
                        ((ev.client_y() as f64 - r.top()) / r.height()) as f32,
                    ];
                    let factor = if ev.delta_y() < 0.0 {
                        ZOOM_STEP
                    } else {
                        1.0 / ZOOM_STEP
                    };
                    let sizes = sizes.get_untracked();
                    p.update(|p| zoom_at(p, factor, at, &sizes));
                });
            let options = web_sys::AddEventListenerOptions::new();
            options.set_passive(false);
            let _ = c.add_event_listener_with_callback_and_add_event_listener_options(
                "wheel",
                on_wheel.as_ref().unchecked_ref(),
                &options,
            );
            installed.set_value(Some(on_wheel));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AtlasLevel, TopUnit};

    fn view() -> AtlasView {
        let cell = |col, row| AtlasCell {
            col,
            row,
            count: 9,
            top: vec![TopUnit {
                unit: col + 10 * row,
                weight: 1.0,
            }],
            labels: vec![],
        };
        AtlasView {
            layer: "l".into(),
            dim: 4,
            samples: 100,
            levels: vec![
                AtlasLevel {
                    size: 2,
                    cells: vec![cell(0, 0), cell(1, 1)],
                },
                AtlasLevel {
                    size: 4,
                    cells: vec![cell(3, 0), cell(0, 2)],
                },
            ],
            label_note: None,
            imported: false,
        }
    }

    fn set(key: &str, label: &str) -> SetSummary {
        SetSummary {
            label: label.into(),
            key: key.into(),
            items: 10,
            images: 10,
            skipped: 0,
            skipped_examples: vec![],
            summary: "10 images".into(),
        }
    }

    #[test]
    fn a_link_builds_at_once_when_its_images_are_here() {
        let generated = SetKey::parse("generated:300:4").unwrap();
        let files = SetKey::parse("files:00112233445566aa").unwrap();
        let loaded_gen = set("generated:300:4", "the generated set (seed 4)");
        let other_gen = set("generated:200:7", "the generated set (seed 7)");
        let mine = set("files:00112233445566aa", "photos/");
        let theirs = set("files:ffffffffffffffff", "holiday.zip");
        let open = |link, loaded, builtin| opening(link, loaded, false, Running::Nothing, builtin);
        // The set the link names is loaded: build from it.
        assert_eq!(
            open(Some(&generated), Some(&loaded_gen), false),
            Opening::Build { generated: None }
        );
        assert_eq!(
            open(Some(&files), Some(&mine), false),
            Opening::Build { generated: None }
        );
        // A generated set is made without the user (on any model), replacing another
        // generated set but not the user's own images.
        for loaded in [None, Some(&other_gen)] {
            assert_eq!(
                open(Some(&generated), loaded, false),
                Opening::Build {
                    generated: Some((300, 4))
                }
            );
        }
        let Opening::NeedImages {
            message,
            generated: offer,
        } = open(Some(&generated), Some(&theirs), true)
        else {
            panic!()
        };
        assert!(
            message.contains("300 generated images (seed 4)") && message.contains("holiday.zip")
        );
        assert_eq!(offer, Some((300, 4)));
        // The author's own files: said so, nothing offered but the image-set page.
        for loaded in [None, Some(&theirs), Some(&loaded_gen)] {
            let Opening::NeedImages { message, generated } = open(Some(&files), loaded, true)
            else {
                panic!()
            };
            assert!(message.contains("own image files") && message.contains("00112233445566aa"));
            assert_eq!(generated, None);
        }
        // No set in the link: the loaded one, else the built-in model's generated set, else
        // ask.
        assert_eq!(
            open(None, Some(&theirs), false),
            Opening::Build { generated: None }
        );
        assert_eq!(
            open(None, None, true),
            Opening::Build {
                generated: Some((DEFAULT_GENERATED, GENERATED_SEED))
            }
        );
        assert!(matches!(
            open(None, None, false),
            Opening::NeedImages {
                generated: Some(_),
                ..
            }
        ));
        // An atlas here or being built is shown; another atlas' build is replaced; other
        // work is left alone.
        assert_eq!(
            opening(Some(&generated), None, true, Running::Nothing, true),
            Opening::Show
        );
        assert_eq!(
            opening(None, None, false, Running::ThisAtlas, true),
            Opening::Show
        );
        assert_eq!(
            opening(None, None, false, Running::OtherAtlas, true),
            Opening::Build {
                generated: Some((DEFAULT_GENERATED, GENERATED_SEED))
            }
        );
        assert_eq!(
            opening(Some(&generated), None, false, Running::Other, true),
            Opening::Busy
        );
    }

    #[test]
    fn the_tip_says_how_far_an_icon_got() {
        assert_eq!(icon_score_line(false, None), "icon: not rendered yet");
        let s = IconScore {
            score: Some(0.0312),
            specificity: Some(0.875),
        };
        let line = icon_score_line(true, Some(s));
        assert!(line.contains("0.031") && line.contains("88 %"), "{line}");
        let imported = IconScore {
            score: None,
            specificity: None,
        };
        assert_eq!(
            icon_score_line(true, Some(imported)),
            "icon score not recorded"
        );
    }

    #[test]
    fn cells_are_found_under_the_pointer() {
        let v = view();
        let whole = AtlasParams::default();
        assert_eq!(cell_at(&v, &whole, 0, [0.25, 0.25]).unwrap().col, 0);
        assert_eq!(cell_at(&v, &whole, 0, [0.75, 0.75]).unwrap().row, 1);
        assert!(cell_at(&v, &whole, 0, [0.75, 0.25]).is_none());
        assert_eq!(cell_at(&v, &whole, 1, [0.9, 0.1]).unwrap().top[0].unit, 3);
        // Zoomed on the top-right quarter: the whole canvas is cell (3, 0)'s neighbourhood.
        let zoomed = AtlasParams {
            zoom: 2.0,
            x: 0.75,
            y: 0.25,
            ..AtlasParams::default()
        };
        assert_eq!(cell_at(&v, &zoomed, 1, [0.75, 0.25]).unwrap().col, 3);
        assert!(cell_at(&v, &zoomed, 1, [0.25, 0.25]).is_none());
        assert!(cell_at(&v, &whole, 5, [0.5, 0.5]).is_none());
    }

    #[test]
    fn zooming_keeps_the_point_under_the_cursor_and_picks_finer_grids() {
        let sizes = [8, 16];
        let mut p = AtlasParams::default();
        zoom_at(&mut p, 2.0, [0.75, 0.75], &sizes);
        assert_eq!(p.zoom, 2.0);
        // The point at (0.75, 0.75) of the canvas is still the atlas' (0.75, 0.75).
        let [x0, y0, w] = window(&p);
        assert!((x0 + 0.75 * w - 0.75).abs() < 1e-6 && (y0 + 0.75 * w - 0.75).abs() < 1e-6);
        assert_eq!(p.level, 1);
        // Never beyond the atlas, never below zoom 1.
        zoom_at(&mut p, 0.1, [0.0, 0.0], &sizes);
        assert_eq!((p.zoom, p.x, p.y, p.level), (1.0, 0.5, 0.5, 0));
        p.zoom = 4.0;
        pan(&mut p, [0.5, 0.5], 10.0, -10.0);
        assert_eq!((p.x, p.y), (0.125, 0.875));
        assert_eq!(level_for(&sizes, 1.0, CANVAS, CELL_PX), 0);
        assert_eq!(level_for(&[], 1.0, CANVAS, CELL_PX), 0);
    }
}
