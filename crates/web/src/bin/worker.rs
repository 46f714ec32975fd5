//! Entry point of the model worker: trunk builds this binary as a web worker
//! (`modalscope-worker_loader.js`), which the page starts; it holds the built-in model.

/// The built-in model, a modalscope bundle embedded in the worker's wasm.
#[cfg(target_arch = "wasm32")]
static BUILTIN: &[u8] = include_bytes!("../../../../web/builtin.msb");

#[cfg(target_arch = "wasm32")]
fn main() {
    modalscope_web::worker::run(BUILTIN);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "modalscope-worker is the page's web worker: build the page with \
         `bash scripts/build-page.sh`"
    );
    std::process::exit(2);
}
