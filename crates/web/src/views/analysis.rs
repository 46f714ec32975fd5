//! What the analysis views share: running an analysis in the worker (cancelled when the view
//! goes), its progress with cancel and run-again buttons, small images, and the checks of
//! analysis links against the model.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use leptos::html;
use leptos::prelude::*;

use crate::protocol::{AnalysisResult, AnalysisTask, JobId, ModelInfo, Rgba};
use crate::route::LesionParams;
use crate::worker_client::{AnalysisState, WorkerClient};

use super::check_layer;

/// An analysis this view runs in the worker: the latest one started is shown, and the one
/// running is cancelled when the view goes.
#[derive(Clone)]
pub struct AnalysisRun {
    client: WorkerClient,
    /// The job shown.
    pub job: RwSignal<Option<JobId>>,
    /// The same, for the cleanup (which may run after the view's signals are gone).
    current: Arc<AtomicU32>,
    /// Where the job shown stands.
    pub state: Memo<Option<AnalysisState>>,
}

impl AnalysisRun {
    /// A run with nothing started yet; cancels what it started when the view is cleaned up.
    pub fn new() -> Self {
        let client = expect_context::<WorkerClient>();
        let job = RwSignal::new(None::<JobId>);
        let current = Arc::new(AtomicU32::new(0));
        {
            let current = current.clone();
            on_cleanup(move || {
                let job = current.load(Ordering::Relaxed);
                if job != 0 {
                    client.cancel_analysis(job);
                }
            });
        }
        let state = Memo::new(move |_| {
            let job = job.get()?;
            client
                .analysis
                .with(|a| a.as_ref().filter(|a| a.job == job).map(|a| a.state.clone()))
        });
        Self {
            client,
            job,
            current,
            state,
        }
    }

    /// Starts `task` (the worker cancels the analysis running).
    pub fn start(&self, task: AnalysisTask) {
        let job = self.client.start_analysis(task);
        self.current.store(job, Ordering::Relaxed);
        self.job.set(Some(job));
    }

    /// A run that starts `task` now, and the callback that starts it again (the status
    /// line's restart button).
    pub fn started(task: AnalysisTask) -> (Self, Callback<()>) {
        let run = Self::new();
        run.start(task.clone());
        let restart = {
            let run = run.clone();
            Callback::new(move |_| run.start(task.clone()))
        };
        (run, restart)
    }

    /// Asks the worker to stop the analysis shown.
    pub fn cancel(&self) {
        if let Some(job) = self.job.get_untracked() {
            self.client.cancel_analysis(job);
        }
    }

    /// The result, once the analysis is done.
    pub fn result(&self) -> Option<(AnalysisResult, f64)> {
        match self.state.get() {
            Some(AnalysisState::Done { result, elapsed_ms }) => Some((*result, elapsed_ms)),
            _ => None,
        }
    }

    /// Whether the analysis shown may still report.
    pub fn is_active(&self) -> bool {
        self.state
            .with(|s| s.as_ref().is_some_and(AnalysisState::is_active))
    }
}

/// Progress of an analysis: a bar, what it does now, cancel and run again; how long it took
/// once done, or why it failed.
#[component]
pub fn AnalysisStatus(
    /// The run shown.
    run: AnalysisRun,
    /// Starts it again.
    restart: Callback<()>,
) -> impl IntoView {
    let state = run.state;
    // Which job the line shows, so a script that starts a new one can tell its status from the
    // last one's while the view is being replaced.
    let job = run.job;
    let job_attr = move || job.get().map(|j| j.to_string());
    let attr = move || state.with(|s| s.as_ref().map_or("starting", AnalysisState::attr));
    let (done, total) = (
        move || match state.get() {
            Some(AnalysisState::Running { done, .. }) => done as f64,
            Some(AnalysisState::Done { .. }) => 1.0,
            _ => 0.0,
        },
        move || match state.get() {
            Some(AnalysisState::Running { total, .. }) => total.max(1) as f64,
            _ => 1.0,
        },
    );
    let text = move || match state.get() {
        None | Some(AnalysisState::Starting) => "starting…".to_string(),
        Some(AnalysisState::Running { stage, done, total }) => {
            format!("{stage} · {done} / {total} images")
        }
        Some(AnalysisState::Done { elapsed_ms, .. }) => {
            format!("done in {:.1} s", elapsed_ms / 1000.0)
        }
        Some(AnalysisState::Cancelled) => "cancelled".to_string(),
        Some(AnalysisState::Failed(_)) => "failed".to_string(),
    };
    let elapsed = move || match state.get() {
        Some(AnalysisState::Done { elapsed_ms, .. }) => Some(format!("{elapsed_ms:.0}")),
        _ => None,
    };
    let error = move || match state.get() {
        Some(AnalysisState::Failed(message)) => Some(view! {
            <p class="message" id="analysis-error" role="alert">{message}</p>
        }),
        _ => None,
    };
    let active = {
        let run = run.clone();
        move || run.is_active()
    };
    let cancel = {
        let run = run.clone();
        move |_| run.cancel()
    };
    view! {
        <div class="analysis-status" id="analysis-status" data-state=attr data-job=job_attr
            data-elapsed-ms=elapsed>
            <div class="progress">
                <progress id="analysis-progress" max=total value=done></progress>
                <span id="analysis-stage">{text}</span>
            </div>
            <div class="actions">
                <button id="analysis-cancel" on:click=cancel disabled={
                    let active = active.clone();
                    move || !active()
                }>"Cancel"</button>
                <button id="analysis-restart" on:click=move |_| restart.run(()) disabled=active>
                    "Run again"
                </button>
            </div>
            {error}
        </div>
    }
}

/// An image on a canvas at its own size (CSS scales it).
#[component]
pub fn ImageCanvas(
    /// The pixels.
    image: Rgba,
    /// CSS class.
    #[prop(into)]
    class: String,
    /// Tooltip (none when empty).
    #[prop(into, optional)]
    title: String,
) -> impl IntoView {
    let canvas = NodeRef::<html::Canvas>::new();
    let (w, h) = (image.width, image.height);
    #[cfg(target_arch = "wasm32")]
    Effect::new(move |_| {
        if let Some(c) = canvas.get()
            && let Err(e) = crate::browser::paint(&c, &image)
        {
            leptos::logging::error!("modalscope: cannot paint an image: {e}");
        }
    });
    #[cfg(not(target_arch = "wasm32"))]
    let _ = &image;
    // No title attribute at all when there is none: an empty one would hide the tooltip of
    // the element around the canvas (a layer grid's "unit 7").
    let title = (!title.is_empty()).then_some(title);
    view! { <canvas class=class title=title node_ref=canvas width=w height=h></canvas> }
}

/// Checks that a link names the loaded model; `Err` says what is wrong.
pub fn check_model(info: &ModelInfo, model: &str) -> Result<(), String> {
    if model == info.name {
        Ok(())
    } else {
        Err(format!(
            "There is no model `{model}` here: this page runs `{}`.",
            info.name
        ))
    }
}

/// Checks units of a layer link against the model; `Err` says what is wrong.
pub fn check_units(
    info: &ModelInfo,
    model: &str,
    layer: &str,
    units: &[usize],
) -> Result<(), String> {
    check_layer(info, model, layer)?;
    let count = info.layer(layer).map_or(0, |l| l.units);
    match units.iter().find(|&&u| u >= count) {
        Some(unit) => Err(format!(
            "Layer `{layer}` has {count} units (0 to {}); there is no unit {unit}.",
            count.saturating_sub(1)
        )),
        None => Ok(()),
    }
}

/// Checks a lesion link against the model: its units exist, or the layer has as many units as
/// `needed=` asks a concept to need.
pub fn check_lesion(info: &ModelInfo, model: &str, params: &LesionParams) -> Result<(), String> {
    check_units(info, model, &params.layer, &params.units)?;
    let units = info.layer(&params.layer).map_or(0, |l| l.units);
    match params.needed {
        Some(k) if k > units => Err(format!(
            "Layer `{}` has {units} units; `needed={k}` asks for more of them than there are.",
            params.layer
        )),
        _ => Ok(()),
    }
}

/// The layer analyses default to: the image tower's last MLP (transformer) or bottleneck
/// (ResNet), else its last layer.
pub fn default_layer(info: &ModelInfo) -> Option<String> {
    let names = || info.layers.iter().map(|l| &l.name);
    names()
        .rfind(|n| modalscope_model::is_neuron_layer(n))
        .or_else(|| names().next_back())
        .cloned()
}

/// `0.731` as `73 %`.
pub fn percent(v: f64) -> String {
    format!("{:.0} %", 100.0 * v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Ablation;
    use crate::protocol::{LayerInfo, ModelSource};
    use crate::route::AttackParams;
    use crate::views::check_attack;

    fn info(layers: &[&str]) -> ModelInfo {
        ModelInfo {
            source: ModelSource::Builtin,
            name: "m".into(),
            bytes: 0,
            vocabulary: 0,
            architecture: "ViT".into(),
            image_size: 64,
            layers: layers
                .iter()
                .map(|n| LayerInfo {
                    name: n.to_string(),
                    units: 8,
                    grid: [2, 2],
                })
                .collect(),
        }
    }

    #[test]
    fn analysis_links_are_checked_against_the_model() {
        let i = info(&[
            "vision.blocks.0.mlp",
            "vision.blocks.1.mlp",
            "vision.embeds",
        ]);
        assert_eq!(check_units(&i, "m", "vision.blocks.1.mlp", &[0, 7]), Ok(()));
        let e = check_units(&i, "m", "vision.blocks.1.mlp", &[1, 8]).unwrap_err();
        assert!(
            e.contains("8 units (0 to 7)") && e.contains("no unit 8"),
            "{e}"
        );
        let e = check_units(&i, "m", "vision.blocks.9.mlp", &[1]).unwrap_err();
        assert!(e.contains("no image-tower layer"), "{e}");
        let e = check_units(&i, "other", "vision.blocks.1.mlp", &[1]).unwrap_err();
        assert!(e.contains("no model `other`"), "{e}");
        assert_eq!(check_attack(&i, "m", &AttackParams::default()), Ok(()));
        let bad = AttackParams {
            layer: Some("text.blocks.0.mlp".into()),
            ..AttackParams::default()
        };
        assert!(
            check_attack(&i, "m", &bad)
                .unwrap_err()
                .contains("text tower")
        );
        assert!(check_model(&i, "x").unwrap_err().contains("runs `m`"));
        let needed = |k| LesionParams {
            layer: "vision.blocks.1.mlp".into(),
            units: vec![],
            ablation: Ablation::Mean,
            per_concept: 1,
            concept: Some(0),
            needed: Some(k),
        };
        assert_eq!(check_lesion(&i, "m", &needed(8)), Ok(()));
        let e = check_lesion(&i, "m", &needed(9)).unwrap_err();
        assert!(e.contains("has 8 units; `needed=9`"), "{e}");
    }

    #[test]
    fn analyses_default_to_the_last_mlp() {
        let vit = info(&[
            "vision.blocks.0.mlp",
            "vision.blocks.1.mlp",
            "vision.embeds",
        ]);
        assert_eq!(default_layer(&vit).as_deref(), Some("vision.blocks.1.mlp"));
        let rn = info(&[
            "vision.stem",
            "vision.layer1.0",
            "vision.layer4.2",
            "vision.embeds",
        ]);
        assert_eq!(default_layer(&rn).as_deref(), Some("vision.layer4.2"));
        assert_eq!(
            default_layer(&info(&["vision.embeds"])).as_deref(),
            Some("vision.embeds")
        );
        assert_eq!(default_layer(&info(&[])), None);
        assert_eq!(percent(0.731), "73 %");
    }
}
