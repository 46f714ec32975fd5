//! The page: starts the worker, follows `location.hash` and shows the view of the route.

use leptos::prelude::*;

use crate::protocol::ModelSource;
use crate::route::Location;
use crate::views::{self, BackendNote};
use crate::worker_client::WorkerClient;

/// The current location, following `hashchange`.
fn location_signal() -> RwSignal<Location> {
    #[cfg(target_arch = "wasm32")]
    {
        let location = RwSignal::new(crate::browser::location());
        let handle =
            leptos::leptos_dom::helpers::window_event_listener_untyped("hashchange", move |_| {
                location.set(crate::browser::location())
            });
        on_cleanup(move || handle.remove());
        location
    }
    #[cfg(not(target_arch = "wasm32"))]
    RwSignal::new(Location::parse("", ""))
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let client = WorkerClient::start();
    provide_context(client);
    let location = location_signal();
    let embed = Memo::new(move |_| location.with(|l| l.embed));
    let route = Memo::new(move |_| location.with(|l| l.route.clone()));
    // The model the link names: the built-in one, or the weights at `src=`.
    let src = Memo::new(move |_| location.with(|l| l.src.clone()));
    Effect::new(move |_| {
        let source = match src.get() {
            None => ModelSource::Builtin,
            #[cfg(target_arch = "wasm32")]
            Some(url) => ModelSource::Url(crate::browser::absolute_url(&url).unwrap_or(url)),
            #[cfg(not(target_arch = "wasm32"))]
            Some(url) => ModelSource::Url(url),
        };
        client.want(source);
    });

    move || {
        if embed.get() {
            view! { <main class="embed">{move || views::embedded(route.get())}</main> }.into_any()
        } else {
            view! {
                <main class="page">
                    <header class="top">
                        <a class="brand" href="#/">"modalscope"</a>
                        <span class="tagline">
                            "a microscope for the neurons of multimodal models, in your browser"
                        </span>
                    </header>
                    <BackendNote/>
                    {move || views::full(route.get())}
                    <footer>
                        "modalscope " {env!("CARGO_PKG_VERSION")}
                        " · Rust, Leptos and burn, compiled to WebAssembly"
                    </footer>
                </main>
            }
            .into_any()
        }
    }
}
