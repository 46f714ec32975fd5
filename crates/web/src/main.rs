//! Entry point of the page: trunk builds this binary for wasm32 and calls `main` on load.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(modalscope_web::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "modalscope-web is a browser app: build it with `bash scripts/build-page.sh` \
         or open it with `bash scripts/setup-and-open.sh`"
    );
    std::process::exit(2);
}
