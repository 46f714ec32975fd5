//! The rendered-text probe on a neuron page: the vocabulary's words written in images, and
//! the ones that drive the unit most, each with the rendering it liked best.

use leptos::prelude::*;

use crate::analyses::READ_WORDS;
use crate::protocol::{AnalysisResult, AnalysisTask, ReadWord, ReadingSpec};

use super::analysis::{AnalysisRun, AnalysisStatus, ImageCanvas};

/// Words the neuron page lists.
pub const READ_TOP: usize = 12;

/// "Written words that drive this unit": starts once `ready` (the feature visualization is
/// done, so the two do not share the worker), with progress and cancel.
#[component]
pub fn WrittenWords(
    /// Model name.
    model: String,
    /// Image-tower layer.
    layer: String,
    /// The unit.
    unit: usize,
    /// Whether to start (once true, it starts once).
    #[prop(into)]
    ready: Signal<bool>,
) -> impl IntoView {
    let run = AnalysisRun::new();
    let task = AnalysisTask::Reading(ReadingSpec {
        model,
        layer,
        unit,
        top: READ_TOP,
    });
    let start = {
        let (run, task) = (run.clone(), task.clone());
        Callback::new(move |()| run.start(task.clone()))
    };
    let started = StoredValue::new(false);
    Effect::new(move |_| {
        if ready.get() && !started.get_value() {
            started.set_value(true);
            start.run(());
        }
    });
    let body = {
        let run = run.clone();
        move || match run.result() {
            Some((AnalysisResult::Reading(r), _)) => Some(word_list(r.words, r.vocabulary)),
            _ => None,
        }
    };
    let status = {
        let run = run.clone();
        move || {
            run.job
                .get()
                .map(|_| view! { <AnalysisStatus run=run.clone() restart=start/> })
        }
    };
    view! {
        <section class="reading-section" id="reading">
            <h2>"Written words that drive this unit (rendered-text probe)"</h2>
            {move || {
                run.job
                    .get()
                    .is_none()
                    .then(|| {
                        view! {
                            <p class="muted" id="reading-waiting">
                                "The words are written once the image is done."
                            </p>
                        }
                    })
            }}
            {status}
            {body}
        </section>
    }
}

/// The ranked words with their best rendering, a bar and their z-score.
fn word_list(words: Vec<ReadWord>, vocabulary: usize) -> AnyView {
    let best = words.first().map_or(1.0, |w| w.z).max(1e-6);
    let items = words
        .into_iter()
        .map(|w| {
            let width = format!("{:.0}%", 100.0 * (w.z / best).clamp(0.05, 1.0));
            let title = format!("mean response {:.3}", w.mean);
            view! {
                <li>
                    <ImageCanvas image=w.image class="read-image" title=title.clone()/>
                    <span class="word">{w.word}</span>
                    <span class="bar"><span style:width=width></span></span>
                    <span class="score" title=title>{format!("{:+.1} σ", w.z)}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <ol class="words read-words" id="read-words" data-vocabulary=vocabulary>{items}</ol>
        <p class="muted small">
            {format!(
                "Each of {vocabulary} vocabulary words (at most {READ_WORDS}) written in several \
                 random letterings; the unit's mean response over a word's letterings, in \
                 standard deviations above the mean word. The image is the lettering it liked \
                 best."
            )}
        </p>
    }
    .into_any()
}
