//! The modalscope page.
//!
//! For now a placeholder: what modalscope is and where the project stands. The built-in
//! model and the neuron views replace the status panel when they land.

use leptos::prelude::*;

/// One line of the status panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusItem {
    pub what: &'static str,
    pub state: State,
    pub detail: &'static str,
}

/// Where a part of the project stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ready,
    Coming,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Coming => "coming",
        }
    }

    fn class(self) -> &'static str {
        match self {
            State::Ready => "badge ready",
            State::Coming => "badge coming",
        }
    }
}

/// What the status panel says, in order.
pub const STATUS: &[StatusItem] = &[
    StatusItem {
        what: "Model core",
        state: State::Ready,
        detail: "CLIP in burn (ViT, modified ResNet, text transformer), named activations, \
                 int8 bundles; checked against PyTorch references",
    },
    StatusItem {
        what: "Built-in model",
        state: State::Coming,
        detail: "a CLIP bundle the page downloads and runs on WebGPU or the CPU",
    },
    StatusItem {
        what: "Neuron views",
        state: State::Coming,
        detail: "what each neuron responds to: images, text and feature visualisations",
    },
];

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let rows = STATUS
        .iter()
        .map(|item| {
            view! {
                <li class="status-row">
                    <span class="what">{item.what}</span>
                    <span class=item.state.class()>{item.state.label()}</span>
                    <span class="detail">{item.detail}</span>
                </li>
            }
        })
        .collect_view();

    view! {
        <main class="page">
            <header>
                <h1>"modalscope"</h1>
                <p class="tagline">
                    "a microscope for the neurons of multimodal models, in your browser"
                </p>
            </header>
            <section class="status" aria-labelledby="status-title">
                <h2 id="status-title">"Status"</h2>
                <ul>{rows}</ul>
                <p class="note">
                    "This page is a placeholder: the model runs in the tests and the command \
                     line today; the page gains the model and the neuron views next."
                </p>
            </section>
            <footer>
                "modalscope " {env!("CARGO_PKG_VERSION")} " · Rust, Leptos and burn, compiled to WebAssembly"
            </footer>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_honest_about_what_is_done() {
        let state_of = |what: &str| {
            STATUS
                .iter()
                .find(|item| item.what == what)
                .map(|item| item.state)
        };
        assert_eq!(state_of("Model core"), Some(State::Ready));
        assert_eq!(state_of("Built-in model"), Some(State::Coming));
        assert_eq!(state_of("Neuron views"), Some(State::Coming));
    }
}
