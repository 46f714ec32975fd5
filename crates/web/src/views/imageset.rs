//! The image-set page (`#/{model}/images`): load a set (drop a folder, images or a zip, pick
//! files, a URL of a list of image URLs, or the built-in model's generated set), find the
//! dataset examples of a layer, open atlases, export everything as a zip and import an export.
//! All the work runs in the worker; [`SurveyProgress`] shows it with a progress bar and cancel.

use leptos::prelude::*;

use crate::protocol::{ImageSource, ImportSource, ModelInfo, SurveyTask};
use crate::route::{AtlasParams, Route};
use crate::worker_client::{SurveyJobState, SurveyKind, WorkerClient};

use super::crumbs::Crumbs;

/// Images of the generated set unless the user says.
pub const DEFAULT_GENERATED: usize = 200;
/// Seed of the generated set the page loads.
pub const GENERATED_SEED: u64 = 7;
/// Examples per unit unless the user says.
pub const DEFAULT_K: usize = 8;

/// The long survey job: what it does, a progress bar, cancel; why it failed.
#[component]
pub fn SurveyProgress(
    /// Show only a job of this kind (`None`: any).
    #[prop(optional)]
    kind: Option<SurveyKind>,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let s = client.survey;
    let shown = Memo::new(move |_| {
        s.job.with(|j| {
            j.as_ref()
                .filter(|j| kind.as_ref().is_none_or(|k| &j.kind == k))
                .cloned()
        })
    });
    move || {
        shown.get().map(|job| {
            let attr = job.state.attr();
            let (done, total) = match &job.state {
                SurveyJobState::Running { done, total, .. } => {
                    (*done as f64, (*total).max(1) as f64)
                }
                SurveyJobState::Done => (1.0, 1.0),
                _ => (0.0, 1.0),
            };
            let stage = match &job.state {
                SurveyJobState::Running { stage, .. } => stage.clone(),
                _ => String::new(),
            };
            let error = match &job.state {
                SurveyJobState::Failed(m) => Some(view! {
                    <p class="message" id="survey-error" role="alert">{m.clone()}</p>
                }),
                _ => None,
            };
            let active = job.state.is_active();
            view! {
                <div class="survey-status" id="survey-status" data-state=attr data-stage=stage
                    data-job=job.job>
                    <div class="progress">
                        <progress id="survey-progress" max=total value=done></progress>
                        <span id="survey-stage">{job.status()}</span>
                        <button
                            id="survey-cancel"
                            on:click=move |_| client.cancel_survey()
                            disabled=!active
                        >
                            "Cancel"
                        </button>
                    </div>
                    {error}
                </div>
            }
        })
    }
}

/// The image-set page.
#[component]
pub fn ImagesPage(
    /// The loaded model.
    info: ModelInfo,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    let s = client.survey;
    let model = info.name.clone();
    let src = info.source.url().map(str::to_string);
    let busy = move || s.busy();
    // What the page itself could not do (read files), in words.
    let problem = RwSignal::new(None::<String>);
    let reading = RwSignal::new(false);

    let send_files = {
        let model = model.clone();
        move |label: String, files: Vec<crate::protocol::NamedFile>, failed: Vec<String>| {
            reading.set(false);
            problem.set((!failed.is_empty()).then(|| {
                format!(
                    "{} file{} could not be read: {}",
                    failed.len(),
                    if failed.len() == 1 { "" } else { "s" },
                    failed
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }));
            if files.is_empty() {
                problem.set(Some(
                    "Nothing to load: no files came with the drop or the pick.".into(),
                ));
                return;
            }
            client.start_survey(SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::Files { label, files },
            });
        }
    };

    // Drop zone and file inputs.
    let over = RwSignal::new(false);
    let on_drop = {
        let send_files = send_files.clone();
        move |ev: leptos::ev::DragEvent| {
            ev.prevent_default();
            over.set(false);
            #[cfg(target_arch = "wasm32")]
            if let Some(data) = ev.data_transfer() {
                reading.set(true);
                let read = crate::browser::dropped(&data);
                let send_files = send_files.clone();
                leptos::task::spawn_local(async move {
                    let r = read.await;
                    let label = files_label(&r.files);
                    send_files(label, r.files, r.failed);
                });
            }
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (&ev, &send_files);
        }
    };
    let on_pick = {
        let send_files = send_files.clone();
        move |ev: leptos::ev::Event| {
            #[cfg(target_arch = "wasm32")]
            {
                use wasm_bindgen::JsCast;
                let Some(input) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                else {
                    return;
                };
                let Some(list) = input.files() else { return };
                reading.set(true);
                let send_files = send_files.clone();
                leptos::task::spawn_local(async move {
                    let r = crate::browser::read_file_list(&list).await;
                    input.set_value("");
                    let label = files_label(&r.files);
                    send_files(label, r.files, r.failed);
                });
            }
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (&ev, &send_files);
        }
    };

    // Folder picking is an attribute only Chromium and WebKit name (`webkitdirectory`).
    let folder = NodeRef::<leptos::html::Input>::new();
    #[cfg(target_arch = "wasm32")]
    Effect::new(move |_| {
        if let Some(input) = folder.get() {
            let _ = input.set_attribute("webkitdirectory", "");
        }
    });

    // A URL list.
    let list_url = RwSignal::new(String::new());
    let load_list = {
        let model = model.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let typed = list_url.get_untracked().trim().to_string();
            if typed.is_empty() {
                problem.set(Some(
                    "Type the URL of a text file (one image URL a line) or of a JSON list.".into(),
                ));
                return;
            }
            #[cfg(target_arch = "wasm32")]
            let typed = match crate::browser::absolute_url(&typed) {
                Ok(u) => u,
                Err(e) => {
                    problem.set(Some(e));
                    return;
                }
            };
            problem.set(None);
            client.start_survey(SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::UrlList { url: typed },
            });
        }
    };

    // The generated set.
    let count = RwSignal::new(DEFAULT_GENERATED.to_string());
    let generated = {
        let model = model.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let Ok(n) = count.get_untracked().trim().parse::<usize>() else {
                problem.set(Some(
                    "The number of generated images is a whole number.".into(),
                ));
                return;
            };
            problem.set(None);
            client.start_survey(SurveyTask::LoadImages {
                model: model.clone(),
                source: ImageSource::Generated {
                    count: n,
                    seed: GENERATED_SEED,
                },
            });
        }
    };

    let set_line = move || match s.set.get() {
        Some(set) => view! {
            <p class="set-summary" id="set-summary" data-images=set.images data-skipped=set.skipped>
                <strong>{set.label.clone()}</strong>
                ": "
                {set.summary.clone()}
            </p>
        }
        .into_any(),
        None => view! {
            <p class="set-summary muted" id="set-summary" data-images="0">
                "No image set is loaded yet."
            </p>
        }
        .into_any(),
    };

    // Dataset examples.
    let layer_names: Vec<String> = info.layers.iter().map(|l| l.name.clone()).collect();
    let default = super::default_layer(&info).unwrap_or_default();
    let layer = RwSignal::new(default.clone());
    let k = RwSignal::new(DEFAULT_K.to_string());
    let find = {
        let model = model.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let k = k.get_untracked().trim().parse().unwrap_or(DEFAULT_K);
            client.start_survey(SurveyTask::Examples {
                model: model.clone(),
                layer: layer.get_untracked(),
                k,
            });
        }
    };
    let options = {
        let default = default.clone();
        move || {
            layer_names
                .iter()
                .map(|n| {
                    view! { <option value=n.clone() selected=*n == default>{n.clone()}</option> }
                })
                .collect_view()
        }
    };
    let examples_list = {
        let (model, src) = (model.clone(), src.clone());
        move || {
            let examples = s.examples.get();
            if examples.is_empty() {
                return view! {
                    <p class="muted" id="examples-none">"No dataset examples yet."</p>
                }
                .into_any();
            }
            let rows = examples
                .into_values()
                .map(|e| {
                    let layer_href = Route::Layer {
                        model: model.clone(),
                        layer: e.layer.clone(),
                    }
                    .href(src.as_deref());
                    let atlas_href = Route::Atlas {
                        model: model.clone(),
                        layer: e.layer.clone(),
                        params: AtlasParams::default(),
                    }
                    .href(src.as_deref());
                    let timing = (!e.imported && e.elapsed_ms > 0.0).then(|| {
                        format!(
                            " · {} images in {:.1} s ({:.0} images/s)",
                            e.images,
                            e.elapsed_ms / 1000.0,
                            e.images as f64 / (e.elapsed_ms / 1000.0).max(1e-9)
                        )
                    });
                    view! {
                        <li data-layer=e.layer.clone() data-images=e.images
                            data-ms=format!("{:.0}", e.elapsed_ms)>
                            <a class="layer-link" href=layer_href>{e.layer.clone()}</a>
                            <span class="muted">
                                {if e.imported {
                                    format!(" · {}", e.summary)
                                } else {
                                    format!(" · top {} per unit of {} units", e.k, e.units)
                                }}
                                {timing}
                            </span>
                            " · "
                            <a href=atlas_href>"atlas"</a>
                        </li>
                    }
                })
                .collect_view();
            view! { <ul class="survey-list" id="examples-layers">{rows}</ul> }.into_any()
        }
    };
    let atlas_link = {
        let (model, src) = (model.clone(), src.clone());
        move || {
            Route::Atlas {
                model: model.clone(),
                layer: layer.get(),
                params: AtlasParams::default(),
            }
            .href(src.as_deref())
        }
    };
    let atlases = {
        let (model, src) = (model.clone(), src.clone());
        move || {
            let mut layers: Vec<(String, usize, usize, bool)> = s.atlases.with(|a| {
                a.iter()
                    .filter_map(|(l, d)| {
                        d.view
                            .as_ref()
                            .map(|v| (l.clone(), v.cells(), d.icons.len(), v.imported))
                    })
                    .collect()
            });
            layers.sort();
            layers
                .into_iter()
                .map(|(l, cells, icons, imported)| {
                    let href = Route::Atlas {
                        model: model.clone(),
                        layer: l.clone(),
                        params: AtlasParams::default(),
                    }
                    .href(src.as_deref());
                    view! {
                        <li data-layer=l.clone()>
                            <a href=href>{l.clone()}</a>
                            <span class="muted">
                                {format!(
                                    " · {cells} cells, {icons} icons{}",
                                    if imported { " · imported" } else { "" }
                                )}
                            </span>
                        </li>
                    }
                })
                .collect_view()
        }
    };

    // Export and import.
    let has_results = move || {
        !s.examples.with(|e| e.is_empty())
            || s.atlases.with(|a| a.values().any(|d| d.view.is_some()))
    };
    let export = {
        let model = model.clone();
        move |_| {
            client.start_survey(SurveyTask::Export {
                model: model.clone(),
                atlas_layer: None,
            });
        }
    };
    let on_import_file = {
        let model = model.clone();
        move |ev: leptos::ev::Event| {
            #[cfg(target_arch = "wasm32")]
            {
                use wasm_bindgen::JsCast;
                let Some(input) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                else {
                    return;
                };
                let model = model.clone();
                leptos::task::spawn_local(async move {
                    match crate::browser::read_file(&input).await {
                        Some(Ok((name, bytes))) => {
                            problem.set(None);
                            client.start_survey(SurveyTask::Import {
                                model,
                                source: ImportSource::Zip { name, bytes },
                            });
                        }
                        Some(Err(e)) => problem.set(Some(e)),
                        None => {}
                    }
                    input.set_value("");
                });
            }
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (&ev, &model);
        }
    };
    let import_url = RwSignal::new(String::new());
    let import_from_url = {
        let model = model.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let typed = import_url.get_untracked().trim().to_string();
            if typed.is_empty() {
                problem.set(Some(
                    "Type the URL of an export's manifest.json (a folder served as static files)."
                        .into(),
                ));
                return;
            }
            #[cfg(target_arch = "wasm32")]
            let typed = match crate::browser::absolute_url(&typed) {
                Ok(u) => u,
                Err(e) => {
                    problem.set(Some(e));
                    return;
                }
            };
            problem.set(None);
            client.start_survey(SurveyTask::Import {
                model: model.clone(),
                source: ImportSource::Url { url: typed },
            });
        }
    };
    let exported = move || {
        s.exported.get().map(|(name, bytes, files)| {
            view! {
                <p class="muted" id="export-note">
                    {format!(
                        "Saved {name}: {files} files, {}.",
                        super::notice::megabytes(bytes as u64)
                    )}
                </p>
            }
        })
    };
    let imported = {
        let (model, src) = (model.clone(), src.clone());
        move || {
            s.imported.get().map(|i| {
                let atlas = i.atlas_layer.clone().map(|l| {
                    let href = Route::Atlas {
                        model: model.clone(),
                        layer: l.clone(),
                        params: AtlasParams::default(),
                    }
                    .href(src.as_deref());
                    view! {
                        " · " <a id="import-atlas" href=href>{format!("the atlas of {l}")}</a>
                        {format!(" ({} icons)", i.icons)}
                    }
                });
                let note = i
                    .note
                    .clone()
                    .map(|n| view! { <span class="warn">" · " {n}</span> });
                view! {
                    <p class="import-summary" id="import-summary"
                        data-atlas=i.atlas_layer.clone().unwrap_or_default()>
                        {format!(
                            "Imported from `{}`: dataset examples of {} ({} images)",
                            i.model,
                            if i.examples_layers.is_empty() {
                                "no layer".to_string()
                            } else {
                                i.examples_layers.join(", ")
                            },
                            i.images
                        )}
                        {atlas}
                        {note}
                    </p>
                }
            })
        }
    };

    view! {
        <section class="card survey-page" id="images-page">
            <Crumbs model=info.name.clone() src=src.clone() here="image sets"/>
            <h1>"Image sets, dataset examples and atlases"</h1>
            <p class="muted">
                "Run a set of images through the model (in the page's worker: nothing is \
                 uploaded) to find the images that drive each unit most, with where in them it \
                 fired, and to lay the layer's activations out as an activation atlas."
            </p>
            <SurveyProgress/>
            {move || problem.get().map(|p| view! {
                <p class="message" id="images-problem" role="alert">{p}</p>
            })}

            <h2>"1. Images"</h2>
            <div
                class="drop-zone"
                class:over=move || over.get()
                id="drop-zone"
                on:dragenter=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    over.set(true);
                }
                on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
                on:dragleave=move |_| over.set(false)
                on:drop=on_drop
            >
                <p>
                    <strong>"Drop a folder, images or a .zip of images here"</strong>
                    {move || reading.get().then_some(" · reading files…")}
                </p>
                <p class="pickers">
                    <label>
                        "or pick files: "
                        <input type="file" id="images-files" multiple
                            accept="image/*,.zip,application/zip" on:change=on_pick.clone()/>
                    </label>
                    <label>
                        "or a folder: "
                        <input type="file" id="images-folder" node_ref=folder on:change=on_pick/>
                    </label>
                </p>
            </div>
            <form class="open-form" id="images-url-form" on:submit=load_list>
                <input
                    id="images-url"
                    type="text"
                    inputmode="url"
                    spellcheck="false"
                    placeholder="or the URL of a list of image URLs (text, one a line, or JSON)"
                    prop:value=move || list_url.get()
                    on:input=move |ev| list_url.set(event_target_value(&ev))
                />
                <button id="images-url-load" type="submit" disabled=busy>"Fetch"</button>
            </form>
            <form class="settings-form" id="images-generated-form" on:submit=generated>
                <label>
                    "or the built-in model's generated images: "
                    <input id="images-count" type="number" min="1"
                        prop:value=move || count.get()
                        on:input=move |ev| count.set(event_target_value(&ev))/>
                </label>
                <button id="images-generated" type="submit" disabled=busy>"Use generated images"</button>
            </form>
            {set_line}

            <h2>"2. Dataset examples"</h2>
            <form class="settings-form" id="examples-form" on:submit=find>
                <label>
                    "layer "
                    <select id="examples-layer" on:change=move |ev| layer.set(event_target_value(&ev))>
                        {options}
                    </select>
                </label>
                <label>
                    "per unit "
                    <input id="examples-k" type="number" min="1"
                        prop:value=move || k.get()
                        on:input=move |ev| k.set(event_target_value(&ev))/>
                </label>
                <button id="examples-run" type="submit"
                    disabled=move || busy() || s.set.with(Option::is_none)>
                    "Find dataset examples"
                </button>
            </form>
            {examples_list}
            <p class="muted small">
                "Each neuron page of a layer with examples shows its best images with the \
                 unit's activation map over them."
            </p>

            <h2>"3. Activation atlases"</h2>
            <p>
                <a id="atlas-link" href=atlas_link>
                    {move || format!("Open the activation atlas of {}", layer.get())}
                </a>
                <span class="muted">" (the layer chosen above; built from the loaded set)"</span>
            </p>
            <ul class="survey-list" id="atlas-list">{atlases}</ul>

            <h2>"4. Export and import"</h2>
            <p class="actions">
                <button id="survey-export" on:click=export disabled=move || busy() || !has_results()>
                    "Export examples and atlas (.zip)"
                </button>
            </p>
            {exported}
            <p class="pickers">
                <label>
                    "Import an export: "
                    <input type="file" id="import-file" accept=".zip,application/zip"
                        on:change=on_import_file/>
                </label>
            </p>
            <form class="open-form" id="import-url-form" on:submit=import_from_url>
                <input
                    id="import-url"
                    type="text"
                    inputmode="url"
                    spellcheck="false"
                    placeholder="or the URL of an export's manifest.json"
                    prop:value=move || import_url.get()
                    on:input=move |ev| import_url.set(event_target_value(&ev))
                />
                <button id="import-url-load" type="submit" disabled=busy>"Import"</button>
            </form>
            {imported}
            <p class="muted small">
                "An export is static JSON + PNG files (manifest.json, examples.json with \
                 images/, atlas.json with icons/): unzip it next to an article and import its \
                 manifest's URL to show the examples and the atlas without the model's work."
            </p>
        </section>
    }
}

/// What was read, in words: `3 files`, `photos/`, `set.zip`.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn files_label(files: &[crate::protocol::NamedFile]) -> String {
    match files {
        [one] => one.name.clone(),
        many => {
            let first = many
                .first()
                .and_then(|f| f.name.split_once('/'))
                .map(|(d, _)| d);
            match first {
                Some(dir) if many.iter().all(|f| f.name.starts_with(&format!("{dir}/"))) => {
                    format!("{dir}/ ({} files)", many.len())
                }
                _ => format!("{} files", many.len()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NamedFile;

    fn f(name: &str) -> NamedFile {
        NamedFile {
            name: name.into(),
            bytes: vec![],
        }
    }

    #[test]
    fn what_was_dropped_is_named() {
        assert_eq!(files_label(&[f("set.zip")]), "set.zip");
        assert_eq!(files_label(&[f("a/x.png"), f("a/b/y.png")]), "a/ (2 files)");
        assert_eq!(files_label(&[f("x.png"), f("y.png"), f("z")]), "3 files");
        assert_eq!(files_label(&[f("a/x.png"), f("b/y.png")]), "2 files");
    }
}
