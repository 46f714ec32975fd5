//! Files in and out of the page for image sets and exports (wasm only): files picked in an
//! input (a folder's keep their paths), files and folders dropped on the page (folders walked),
//! and a download of bytes the worker made.

use js_sys::{Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DataTransfer, File, FileList, FileSystemDirectoryEntry, FileSystemDirectoryReader,
    FileSystemEntry, FileSystemFileEntry,
};

use super::describe;
use crate::protocol::NamedFile;

/// The most bytes of files the page reads for one image set.
pub const MAX_SET_BYTES: u64 = 1_500_000_000;

/// What reading files gave: the files, and those that could not be read, `name: why`.
#[derive(Default)]
pub struct ReadFiles {
    /// The files read.
    pub files: Vec<NamedFile>,
    /// Files that could not be read.
    pub failed: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
}

impl ReadFiles {
    async fn add(&mut self, file: File, name: String) {
        let size = file.size() as u64;
        if self.bytes + size > MAX_SET_BYTES {
            self.failed.push(format!(
                "{name}: left out, the set would exceed {} MB",
                MAX_SET_BYTES / 1_000_000
            ));
            return;
        }
        match JsFuture::from(file.array_buffer()).await {
            Ok(buf) => {
                let bytes = Uint8Array::new(&buf).to_vec();
                self.bytes += bytes.len() as u64;
                self.files.push(NamedFile { name, bytes });
            }
            Err(e) => self.failed.push(format!("{name}: {}", describe(&e))),
        }
    }
}

/// The files of a file input (with `webkitdirectory`, their paths inside the folder).
pub async fn read_file_list(list: &FileList) -> ReadFiles {
    let mut out = ReadFiles::default();
    for i in 0..list.length() {
        let Some(file) = list.get(i) else { continue };
        let path = Reflect::get(&file, &"webkitRelativePath".into())
            .ok()
            .and_then(|v| v.as_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| file.name());
        out.add(file, path).await;
    }
    out
}

/// What was dropped: files, and folders walked to their files. The entries must be taken
/// while the drop event is dispatched, so call this from the handler (it awaits afterwards).
pub fn dropped(data: &DataTransfer) -> impl std::future::Future<Output = ReadFiles> + use<> {
    // Entries (folders) where the browser gives them; plain files otherwise (e.g. a
    // DataTransfer made by a script).
    let items = data.items();
    let mut entries: Vec<FileSystemEntry> = Vec::new();
    let mut files: Vec<File> = Vec::new();
    for i in 0..items.length() {
        let Some(item) = items.get(i) else { continue };
        if item.kind() != "file" {
            continue;
        }
        // Folders through the entry API; files as files (also those of a DataTransfer made
        // by a script, which have no entries).
        match item.webkit_get_as_entry() {
            Ok(Some(entry)) if entry.is_directory() => entries.push(entry),
            _ => {
                if let Ok(Some(f)) = item.get_as_file() {
                    files.push(f);
                }
            }
        }
    }
    if entries.is_empty()
        && files.is_empty()
        && let Some(list) = data.files()
    {
        for i in 0..list.length() {
            if let Some(f) = list.get(i) {
                files.push(f);
            }
        }
    }
    async move {
        let mut out = ReadFiles::default();
        for f in files {
            let name = f.name();
            out.add(f, name).await;
        }
        let mut stack: Vec<(FileSystemEntry, String)> =
            entries.into_iter().map(|e| (e, String::new())).collect();
        while let Some((entry, prefix)) = stack.pop() {
            let name = format!("{prefix}{}", entry.name());
            if entry.is_directory() {
                let dir: FileSystemDirectoryEntry = entry.unchecked_into();
                match read_directory(&dir.create_reader()).await {
                    Ok(children) => {
                        stack.extend(children.into_iter().map(|c| (c, format!("{name}/"))))
                    }
                    Err(e) => out.failed.push(format!("{name}/: {e}")),
                }
            } else if entry.is_file() {
                let file_entry: FileSystemFileEntry = entry.unchecked_into();
                match entry_file(&file_entry).await {
                    Ok(f) => out.add(f, name).await,
                    Err(e) => out.failed.push(format!("{name}: {e}")),
                }
            }
        }
        out
    }
}

/// Every entry of a folder (`readEntries` gives them in pieces until an empty one).
async fn read_directory(
    reader: &FileSystemDirectoryReader,
) -> Result<Vec<FileSystemEntry>, String> {
    let mut all = Vec::new();
    loop {
        let promise = Promise::new(&mut |resolve, reject| {
            let _ = reader.read_entries_with_callback_and_callback(&resolve, &reject);
        });
        let batch: js_sys::Array = JsFuture::from(promise)
            .await
            .map_err(|e| describe(&e))?
            .unchecked_into();
        if batch.length() == 0 {
            return Ok(all);
        }
        all.extend(batch.iter().map(JsValue::unchecked_into::<FileSystemEntry>));
    }
}

async fn entry_file(entry: &FileSystemFileEntry) -> Result<File, String> {
    let promise = Promise::new(&mut |resolve, reject| {
        entry.file_with_callback_and_callback(&resolve, &reject);
    });
    JsFuture::from(promise)
        .await
        .map(JsValue::unchecked_into)
        .map_err(|e| describe(&e))
}

/// Saves bytes as a file through the browser's download.
pub fn download_bytes(file_name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|e| describe(&e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| describe(&e))?;
    super::click_download(&url, file_name)?;
    // The download has started from the URL; free it a little later.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
    }
    Ok(())
}
