//! The modalscope page: a Leptos (CSR) app and the web worker that runs the model.
//!
//! The page (`src/main.rs`) never runs the model: it parses the link ([`route`]), talks to the
//! worker ([`worker_client`]) in the messages of [`protocol`] and shows what comes back
//! ([`views`]).
//! The worker (`src/bin/worker.rs`) owns the model and renders with [`engine`], on WebGPU when
//! the browser has it and on burn's CPU backend otherwise; it runs the neuron analyses of the
//! concept study (multimodal neurons, lesions, typographic attacks, families) with
//! [`analyses`].

#![warn(missing_docs)]

pub mod analyses;
pub mod app;
pub mod engine;
pub mod protocol;
pub mod route;
pub mod survey_jobs;
pub mod views;
pub mod worker_client;

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod worker;

pub use app::App;
