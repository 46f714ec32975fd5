//! The page's browser glue (wasm only): the worker connection, the location, the canvas.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    CanvasRenderingContext2d, ErrorEvent, HtmlCanvasElement, ImageData, MessageEvent, Worker,
};

use crate::protocol::{self, Request, Response, Rgba};
use crate::route::Location;

mod survey;
pub use survey::*;

/// The worker's script, next to `index.html`: trunk writes it for the `data-type="worker"`
/// link with `data-loader-shim`, under the binary's name (no hash). Relative, so it resolves
/// against the page's address and works from any sub-path.
pub const WORKER_SCRIPT: &str = "./modalscope-worker_loader.js";

/// How long the worker may take to say it runs before the page reports it missing.
const START_TIMEOUT_MS: i32 = 60_000;

/// A running worker and the handlers that must live as long as it.
pub struct Connection {
    worker: Worker,
    /// Requests sent before the worker listens (it says so with `Alive`).
    queue: Rc<RefCell<Option<Vec<Request>>>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
    _on_message_error: Closure<dyn FnMut(MessageEvent)>,
    _start_timeout: Closure<dyn FnMut()>,
}

impl Connection {
    /// Starts the worker; responses go to `on_response`, a dead worker to `on_failure`.
    pub fn open(
        on_response: impl Fn(Response) + 'static,
        on_failure: impl Fn(String) + 'static,
    ) -> Result<Self, String> {
        let worker = Worker::new(WORKER_SCRIPT)
            .map_err(|e| format!("the model worker could not be started: {}", describe(&e)))?;
        let queue: Rc<RefCell<Option<Vec<Request>>>> = Rc::new(RefCell::new(Some(Vec::new())));
        let on_failure = Rc::new(on_failure);
        let alive = Rc::new(std::cell::Cell::new(false));

        let on_message = {
            let (worker, queue, on_failure, alive) = (
                worker.clone(),
                queue.clone(),
                on_failure.clone(),
                alive.clone(),
            );
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let bytes = Uint8Array::new(&ev.data()).to_vec();
                match protocol::decode::<Response>(&bytes) {
                    Ok(response) => {
                        if response == Response::Alive {
                            alive.set(true);
                            for request in queue.borrow_mut().take().unwrap_or_default() {
                                post(&worker, &request);
                            }
                        }
                        on_response(response);
                    }
                    Err(e) => on_failure(e.to_string()),
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let on_error = {
            let on_failure = on_failure.clone();
            Closure::<dyn FnMut(ErrorEvent)>::new(move |ev: ErrorEvent| {
                let what = ev.message();
                let what = if what.is_empty() {
                    "its script could not be loaded or it ran out of memory".to_string()
                } else {
                    what
                };
                on_failure(format!(
                    "The model worker stopped ({what}). Reload the page to start it again."
                ));
            })
        };
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        let on_message_error = {
            let on_failure = on_failure.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| {
                on_failure("a message from the model worker could not be read".into());
            })
        };
        worker.set_onmessageerror(Some(on_message_error.as_ref().unchecked_ref()));

        let start_timeout = {
            let on_failure = on_failure.clone();
            Closure::<dyn FnMut()>::new(move || {
                if !alive.get() {
                    on_failure(format!(
                        "The model worker did not start within {} s ({WORKER_SCRIPT} or its \
                         WebAssembly may be missing or blocked).",
                        START_TIMEOUT_MS / 1000
                    ));
                }
            })
        };
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                start_timeout.as_ref().unchecked_ref(),
                START_TIMEOUT_MS,
            );
        }

        Ok(Self {
            worker,
            queue,
            _on_message: on_message,
            _on_error: on_error,
            _on_message_error: on_message_error,
            _start_timeout: start_timeout,
        })
    }

    /// Sends a request now, or once the worker listens.
    pub fn send(&self, request: &Request) {
        if let Some(queue) = self.queue.borrow_mut().as_mut() {
            queue.push(request.clone());
            return;
        }
        post(&self.worker, request);
    }
}

fn post(worker: &Worker, request: &Request) {
    let bytes = Uint8Array::from(protocol::encode(request).as_slice());
    let transfer = js_sys::Array::of1(&bytes.buffer());
    if let Err(e) = worker.post_message_with_transfer(&bytes, &transfer) {
        web_sys::console::error_2(&"modalscope: postMessage to the worker failed".into(), &e);
    }
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// The page's current location.
pub fn location() -> Location {
    let loc = web_sys::window().map(|w| w.location());
    let get = |f: fn(&web_sys::Location) -> Result<String, JsValue>| {
        loc.as_ref().and_then(|l| f(l).ok()).unwrap_or_default()
    };
    Location::parse(
        &get(web_sys::Location::search),
        &get(web_sys::Location::hash),
    )
}

/// The absolute address of the full page for this hash: the current origin and path without
/// the query (which holds `embed=true`).
pub fn full_page_href(hash: &str) -> String {
    let loc = web_sys::window().map(|w| w.location());
    let origin = loc
        .as_ref()
        .and_then(|l| l.origin().ok())
        .unwrap_or_default();
    let path = loc
        .as_ref()
        .and_then(|l| l.pathname().ok())
        .unwrap_or_else(|| "/".into());
    format!("{origin}{path}{hash}")
}

/// `url` resolved against the page's address (so `models/m.msb` works too); `Err` says why it
/// is not a URL.
pub fn absolute_url(url: &str) -> Result<String, String> {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let parsed =
        web_sys::Url::new_with_base(url, &base).map_err(|_| format!("`{url}` is not a URL"))?;
    match parsed.protocol().as_str() {
        "http:" | "https:" => Ok(parsed.href()),
        other => Err(format!(
            "`{url}` is a {other} address; only http and https URLs can be opened"
        )),
    }
}

/// Goes to a hash of this page (a new history entry).
pub fn navigate(hash: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(hash);
    }
}

/// Replaces the hash of this page without a new history entry and without a `hashchange`
/// (the view that calls it keeps its state; the address bar gets the link to it).
pub fn replace_hash(hash: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(hash));
    }
}

/// The name and bytes of the file picked in a file input; `None` when none is picked.
pub async fn read_file(
    input: &web_sys::HtmlInputElement,
) -> Option<Result<(String, Vec<u8>), String>> {
    let file = input.files()?.get(0)?;
    let name = file.name();
    Some(
        wasm_bindgen_futures::JsFuture::from(file.array_buffer())
            .await
            .map(|buf| (name.clone(), js_sys::Uint8Array::new(&buf).to_vec()))
            .map_err(|e| format!("`{name}` could not be read: {}", describe(&e))),
    )
}

/// Saves the canvas as a PNG file through the browser's download.
pub fn download_png(canvas: &HtmlCanvasElement, file_name: &str) -> Result<(), String> {
    let url = canvas
        .to_data_url_with_type("image/png")
        .map_err(|e| describe(&e))?;
    click_download(&url, file_name)
}

/// Starts the browser's download of `url` as `file_name` (a link clicked for the user).
fn click_download(url: &str, file_name: &str) -> Result<(), String> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| describe(&e))?
        .unchecked_into();
    a.set_href(url);
    a.set_download(file_name);
    a.click();
    Ok(())
}

/// Puts text on the clipboard; `Err` when the browser refuses (no permission, no focus).
pub async fn copy_text(text: &str) -> Result<(), String> {
    let clipboard = web_sys::window()
        .map(|w| w.navigator().clipboard())
        .ok_or("no window")?;
    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(text))
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Tells which cells of a grid (elements with a `data-unit` attribute) are in or near view.
pub struct CellObserver {
    observer: web_sys::IntersectionObserver,
    _callback: Closure<dyn FnMut(js_sys::Array, web_sys::IntersectionObserver)>,
}

impl CellObserver {
    /// Observes the elements under `root` that match `selector`; `on_change(unit, visible)`
    /// runs when one comes within 200 px of the viewport or leaves it.
    pub fn new(
        root: &web_sys::Element,
        selector: &str,
        on_change: impl Fn(usize, bool) + 'static,
    ) -> Result<Self, String> {
        let callback = Closure::<dyn FnMut(js_sys::Array, web_sys::IntersectionObserver)>::new(
            move |entries: js_sys::Array, _: web_sys::IntersectionObserver| {
                for entry in entries.iter() {
                    let entry: web_sys::IntersectionObserverEntry = entry.unchecked_into();
                    let unit = entry
                        .target()
                        .get_attribute("data-unit")
                        .and_then(|u| u.parse::<usize>().ok());
                    if let Some(unit) = unit {
                        on_change(unit, entry.is_intersecting());
                    }
                }
            },
        );
        let init = web_sys::IntersectionObserverInit::new();
        init.set_root_margin("200px");
        let observer = web_sys::IntersectionObserver::new_with_options(
            callback.as_ref().unchecked_ref(),
            &init,
        )
        .map_err(|e| describe(&e))?;
        let cells = root
            .query_selector_all(selector)
            .map_err(|e| describe(&e))?;
        for i in 0..cells.length() {
            if let Some(cell) = cells
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
            {
                observer.observe(&cell);
            }
        }
        Ok(Self {
            observer,
            _callback: callback,
        })
    }

    /// Stops observing.
    pub fn disconnect(&self) {
        self.observer.disconnect();
    }
}

/// Draws RGBA pixels onto a canvas, resizing it to the image.
pub fn paint(canvas: &HtmlCanvasElement, image: &Rgba) -> Result<(), String> {
    let (w, h) = (image.width as u32, image.height as u32);
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    let ctx = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
        .ok_or("the canvas has no 2d context")?;
    let data =
        ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(&image.bytes), w, h)
            .map_err(|e| describe(&e))?;
    ctx.put_image_data(&data, 0.0, 0.0)
        .map_err(|e| describe(&e))
}
