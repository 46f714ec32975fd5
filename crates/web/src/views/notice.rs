//! Notes and messages: which backend runs, how a model loads, and what is wrong.

use leptos::prelude::*;

use crate::protocol::{BackendKind, ModelSource};
use crate::worker_client::{LoadState, WorkerClient, WorkerState};

/// A message about a link or a failure, with a way back home.
#[component]
pub fn Message(
    /// What is wrong, in words.
    text: String,
) -> impl IntoView {
    view! {
        <div class="message" id="page-message" role="alert">
            <p>{text}</p>
            <p><a href="#/">"Back to the built-in model"</a></p>
        </div>
    }
}

/// Which backend runs the model, and why when it is the CPU fallback.
#[component]
pub fn BackendNote() -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    move || match (client.worker.get(), client.backend.get()) {
        (WorkerState::Dead(text), _) => view! {
            <p class="note backend failed" id="backend-note" data-backend="failed" role="alert">
                {text}
            </p>
        }
        .into_any(),
        (_, Some(b)) => {
            let kind = match b.kind {
                BackendKind::WebGpu => "webgpu",
                BackendKind::Cpu => "cpu",
            };
            let reason = b.fallback_reason.map(|r| {
                view! { <span class="reason">" WebGPU is not used: " {r} "."</span> }
            });
            let check = b
                .check
                .map(|c| view! { <span class="check">" Start-up check: " {c} "."</span> });
            view! {
                <p class="note backend" id="backend-note" data-backend=kind>
                    <span class="runs">"The model runs on " <strong>{b.name}</strong> "."</span>
                    {reason}
                    {check}
                </p>
            }
            .into_any()
        }
        (WorkerState::Starting, None) => view! {
            <p class="note backend" id="backend-note" data-backend="starting">
                "Starting the model worker…"
            </p>
        }
        .into_any(),
        (WorkerState::Alive, None) => view! {
            <p class="note backend" id="backend-note" data-backend="loading">
                "Choosing a backend and loading the model…"
            </p>
        }
        .into_any(),
    }
}

/// Bytes for people: `12.3 MB`.
pub fn megabytes(n: u64) -> String {
    if n < 100_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

/// How the wanted model loads: a note, a download's progress with a cancel button, or why it
/// failed with a way to try again.
#[component]
pub fn LoadPanel(
    /// Whether the panel is the whole (embedded) page.
    embed: bool,
) -> impl IntoView {
    let client = expect_context::<WorkerClient>();
    move || {
        if let WorkerState::Dead(text) = client.worker.get() {
            // The full page says what failed in its backend note already.
            let text = if embed {
                text
            } else {
                "This view needs the model, which is not available (see above).".to_string()
            };
            return view! { <Message text/> }.into_any();
        }
        match client.load.get() {
            LoadState::Loading {
                source: ModelSource::Url(url),
                received,
                total,
                cached,
                ..
            } => {
                let what = if cached {
                    "Reading from this browser's cache"
                } else {
                    "Downloading"
                };
                let amount = match total {
                    Some(t) if t > 0 => format!(
                        "{} of {} ({:.0} %)",
                        megabytes(received),
                        megabytes(t),
                        100.0 * received as f64 / t as f64
                    ),
                    _ => megabytes(received),
                };
                let (value, max) = match total {
                    Some(t) if t > 0 => (received as f64, t as f64),
                    _ => (0.0, 1.0),
                };
                let finished = total.is_some_and(|t| received >= t);
                view! {
                    <section class="card loading" id="load-panel" data-load="loading">
                        <p class="load-what">
                            {what} " " <code class="url">{url}</code>
                        </p>
                        <div class="progress">
                            <progress id="load-progress" max=max value=value></progress>
                            <span id="load-status">
                                {amount}
                                {finished.then_some(" · building the model…")}
                            </span>
                        </div>
                        <div class="actions">
                            <button id="load-cancel" on:click=move |_| client.cancel_load()>
                                "Cancel"
                            </button>
                        </div>
                    </section>
                }
                .into_any()
            }
            LoadState::Failed { source, message } => view! {
                <div class="message" id="page-message" role="alert" data-load="failed">
                    <p>
                        {match source {
                            ModelSource::Builtin => "The built-in model could not be loaded: ",
                            ModelSource::Url(_) => "The model could not be opened: ",
                        }}
                        {message}
                    </p>
                    <p class="message-actions">
                        <button id="load-retry" on:click=move |_| client.retry()>"Try again"</button>
                        <a href="#/">"Back to the built-in model"</a>
                    </p>
                </div>
            }
            .into_any(),
            LoadState::Cancelled { source } => view! {
                <div class="message neutral" id="page-message" data-load="cancelled">
                    <p>
                        "Loading was cancelled"
                        {source.url().map(|u| format!(" ({u})"))}
                        "."
                    </p>
                    <p class="message-actions">
                        <button id="load-retry" on:click=move |_| client.retry()>"Try again"</button>
                        <a href="#/">"Back to the built-in model"</a>
                    </p>
                </div>
            }
            .into_any(),
            LoadState::Loading {
                source: ModelSource::Builtin,
                ..
            }
            | LoadState::Idle => view! {
                <p class="waiting" id="waiting">"Loading the model…"</p>
            }
            .into_any(),
        }
    }
}
