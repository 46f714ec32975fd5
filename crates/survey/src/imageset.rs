//! Image sets: where the images of a survey come from (files, a zip archive, paths on disk or
//! the built-in model's own generated set), decoded one at a time so a pass never holds the
//! whole set in memory. Files that are not images are skipped and counted, never fatal.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use image::{ImageReader, Limits, RgbImage};
use modalscope_synth::{Generator, GeneratorConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SurveyError};

/// The largest side accepted, in pixels (a bigger image is skipped with a message).
pub const MAX_SIDE: u32 = 16_384;
/// The most bytes one decoded image may take (a bigger image is skipped with a message).
pub const MAX_DECODED_BYTES: u64 = 512 << 20;
/// File names that are not even tried (hidden files, macOS resource forks).
const IGNORED_PREFIXES: [&str; 2] = [".", "__MACOSX"];

/// A file of the set that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Its name in the set.
    pub name: String,
    /// Why it was skipped, e.g. "not an image".
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.reason)
    }
}

/// Where a survey's images come from; items are decoded on demand by [`ImageSet::load`].
#[derive(Debug, Clone)]
enum Source {
    /// In-memory files (a dropped folder in the page), `(name, bytes)`.
    Files(Vec<(String, Vec<u8>)>),
    /// A zip archive in memory and the names of its file entries, in archive order.
    Zip {
        archive: Vec<u8>,
        names: Vec<String>,
    },
    /// Files on disk.
    Paths(Vec<PathBuf>),
    /// The procedural generator's images, `count` of them from `seed`.
    Generated { generator: Generator, count: usize },
}

/// An image set: names and a way to decode each image, in a fixed order (the image id of a
/// dataset example is its index here).
#[derive(Debug, Clone)]
pub struct ImageSet {
    source: Source,
    names: Vec<String>,
}

impl ImageSet {
    /// Files given as `(name, bytes)`, e.g. a folder dropped onto the page; ordered by name.
    pub fn from_files(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let mut files: Vec<(String, Vec<u8>)> = files.into_iter().collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let names = files.iter().map(|f| f.0.clone()).collect();
        Self {
            source: Source::Files(files),
            names,
        }
    }

    /// A zip archive of images (folders inside are walked; directories are not items).
    pub fn from_zip(archive: Vec<u8>) -> Result<Self> {
        let zip = zip::ZipArchive::new(Cursor::new(&archive))
            .map_err(|e| SurveyError::Zip(e.to_string()))?;
        let mut names: Vec<String> = zip
            .file_names()
            .filter(|n| !n.ends_with('/'))
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(Self {
            source: Source::Zip {
                archive,
                names: names.clone(),
            },
            names,
        })
    }

    /// A folder (walked recursively, ordered by path), a zip file or a single image on disk.
    pub fn from_path(path: &Path) -> Result<Self> {
        let io = |e: std::io::Error| SurveyError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            let mut paths = Vec::new();
            walk(path, &mut paths).map_err(io)?;
            paths.sort();
            let names = paths
                .iter()
                .map(|p| {
                    p.strip_prefix(path)
                        .unwrap_or(p)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            return Ok(Self {
                source: Source::Paths(paths),
                names,
            });
        }
        let is_zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if is_zip {
            return Self::from_zip(std::fs::read(path).map_err(io)?);
        }
        Ok(Self {
            names: vec![path.display().to_string()],
            source: Source::Paths(vec![path.to_path_buf()]),
        })
    }

    /// The built-in model's own set: `count` generated images (drawn, written and mixed
    /// concepts) of `size` pixels from `seed`, named by their captions.
    pub fn generated(count: usize, size: u32, seed: u64) -> Result<Self> {
        let config = GeneratorConfig {
            image_size: size,
            ..GeneratorConfig::default()
        };
        let generator =
            Generator::new(config, seed).map_err(|e| SurveyError::Config(e.to_string()))?;
        let names = (0..count)
            .map(|i| format!("{i:05} {}", generator.sample(i as u64).caption))
            .collect();
        Ok(Self {
            source: Source::Generated { generator, count },
            names,
        })
    }

    /// Number of items (images and files that may turn out not to be images).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the set has no items at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of item `index`.
    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// Checks item `index` without decoding its pixels: the format and the size its header
    /// gives. A file that passes may still turn out corrupt when [`ImageSet::load`] decodes
    /// it; one that fails would be skipped by the pass for the reason given.
    pub fn probe(&self, index: usize) -> std::result::Result<(), Skipped> {
        self.read(index, probe_bytes, |_| ())
    }

    /// Decodes item `index` to RGB, or says why it is skipped.
    pub fn load(&self, index: usize) -> std::result::Result<RgbImage, Skipped> {
        self.read(index, decode, |generator| {
            generator.sample(index as u64).image
        })
    }

    /// Item `index` through `file` (its bytes) or `generated` (the set's generator), with
    /// hidden files and unreadable entries skipped under the item's name.
    fn read<T>(
        &self,
        index: usize,
        file: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
        generated: impl FnOnce(&Generator) -> T,
    ) -> std::result::Result<T, Skipped> {
        let skip = |reason: String| Skipped {
            name: self.names[index].clone(),
            reason,
        };
        if is_hidden(&self.names[index]) {
            return Err(skip("hidden or system file".into()));
        }
        match &self.source {
            Source::Files(files) => file(&files[index].1).map_err(skip),
            Source::Zip { archive, names } => {
                let bytes = zip_entry(archive, &names[index]).map_err(skip)?;
                file(&bytes).map_err(skip)
            }
            Source::Paths(paths) => {
                let bytes = std::fs::read(&paths[index]).map_err(|e| skip(e.to_string()))?;
                file(&bytes).map_err(skip)
            }
            Source::Generated { generator, count } => {
                debug_assert!(index < *count);
                Ok(generated(generator))
            }
        }
    }
}

/// The bytes of the entry `name` of a zip archive, refusing one larger than the decoding limit.
fn zip_entry(archive: &[u8], name: &str) -> std::result::Result<Vec<u8>, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("unreadable archive entry: {e}");
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).map_err(|e| unreadable(&e))?;
    let mut entry = zip.by_name(name).map_err(|e| unreadable(&e))?;
    if entry.size() > MAX_DECODED_BYTES {
        return Err(format!("too large ({} bytes)", entry.size()));
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| unreadable(&e))?;
    Ok(bytes)
}

/// Whether a file is hidden or a system file (dot files, macOS resource forks).
fn is_hidden(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .is_some_and(|base| IGNORED_PREFIXES.iter().any(|p| base.starts_with(p)))
        || name.starts_with("__MACOSX")
}

/// The file entries of a zip archive, `(path, bytes)` in archive order (directories are not
/// entries), e.g. to add a dropped archive's images to other files. Entries larger than the
/// decoding limit are refused.
pub fn zip_entries(archive: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(archive)).map_err(|e| SurveyError::Zip(e.to_string()))?;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| SurveyError::Zip(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        if entry.size() > MAX_DECODED_BYTES {
            return Err(SurveyError::Zip(format!(
                "`{name}` is too large ({} bytes)",
                entry.size()
            )));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| SurveyError::Zip(format!("`{name}`: {e}")))?;
        out.push((name, bytes));
    }
    Ok(out)
}

/// Checks bytes as [`ImageSet::probe`] does: a known image format whose header gives a size
/// within the limits.
fn probe_bytes(bytes: &[u8]) -> std::result::Result<(), String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable: {e}"))?;
    let Some(format) = reader.format() else {
        return Err("not an image".into());
    };
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("corrupt {format:?} image: {e}"))?;
    if w == 0 || h == 0 {
        return Err("the image has no pixels".into());
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) * 4 > MAX_DECODED_BYTES {
        return Err(format!(
            "too large to decode (more than {MAX_SIDE} px a side or {} MiB)",
            MAX_DECODED_BYTES >> 20
        ));
    }
    Ok(())
}

/// Decodes PNG, JPEG, GIF, WebP or BMP bytes with size limits, so a huge or hostile image
/// is refused with a message instead of exhausting memory.
pub fn decode(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    decode_limited(bytes, MAX_SIDE, MAX_DECODED_BYTES)
}

fn decode_limited(
    bytes: &[u8],
    max_side: u32,
    max_bytes: u64,
) -> std::result::Result<RgbImage, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable: {e}"))?;
    let Some(format) = reader.format() else {
        return Err("not an image".into());
    };
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(max_bytes);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => format!(
            "too large to decode (more than {max_side} px a side or {} MiB)",
            max_bytes >> 20
        ),
        image::ImageError::Unsupported(_) => format!("unsupported {format:?} image"),
        other => format!("corrupt {format:?} image: {other}"),
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err("the image has no pixels".into());
    }
    Ok(img.to_rgb8())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn files_that_are_not_images_are_skipped_with_a_reason() {
        let mut truncated = png(20, 20);
        truncated.truncate(truncated.len() / 2);
        let set = ImageSet::from_files([
            ("b.png".to_string(), png(10, 12)),
            ("a.txt".to_string(), b"hello".to_vec()),
            ("c.png".to_string(), truncated),
            (".DS_Store".to_string(), png(2, 2)),
        ]);
        assert_eq!(set.len(), 4);
        assert_eq!(set.name(0), ".DS_Store");
        assert!(set.load(0).unwrap_err().reason.contains("hidden"));
        assert_eq!(set.load(1).unwrap_err().reason, "not an image");
        let ok = set.load(2).unwrap();
        assert_eq!(ok.dimensions(), (10, 12));
        assert!(set.load(3).unwrap_err().reason.contains("corrupt"));
    }

    #[test]
    fn a_zip_archive_is_read_entry_by_entry() {
        let mut buf = Vec::new();
        {
            let mut w = zip::ZipWriter::new(Cursor::new(&mut buf));
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.add_directory("imgs/", opts).unwrap();
            w.start_file("imgs/one.png", opts).unwrap();
            std::io::Write::write_all(&mut w, &png(5, 6)).unwrap();
            w.start_file("notes.md", opts).unwrap();
            std::io::Write::write_all(&mut w, b"# not an image").unwrap();
            w.finish().unwrap();
        }
        let set = ImageSet::from_zip(buf).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.load(0).unwrap().dimensions(), (5, 6));
        assert_eq!(set.load(1).unwrap_err().reason, "not an image");
        let err = ImageSet::from_zip(b"PK not really".to_vec()).unwrap_err();
        assert!(err.to_string().contains("zip"), "{err}");
    }

    #[test]
    fn probing_reads_headers_only_and_agrees_with_loading() {
        let mut truncated = png(20, 20);
        truncated.truncate(40);
        let set = ImageSet::from_files([
            ("a.png".to_string(), png(3, 4)),
            ("b.txt".to_string(), b"hello".to_vec()),
            ("c.png".to_string(), truncated),
            ("._d.png".to_string(), png(2, 2)),
        ]);
        // Ordered by name: the hidden file first.
        assert!(set.probe(0).unwrap_err().reason.contains("hidden"));
        assert_eq!(set.probe(1), Ok(()));
        assert_eq!(set.probe(2).unwrap_err().reason, "not an image");
        assert!(set.probe(3).is_err() && set.load(3).is_err());
        assert_eq!(ImageSet::generated(2, 16, 1).unwrap().probe(1), Ok(()));
    }

    #[test]
    fn zip_entries_are_read_whole() {
        let mut buf = Vec::new();
        {
            let mut w = zip::ZipWriter::new(Cursor::new(&mut buf));
            let opts = zip::write::SimpleFileOptions::default();
            w.add_directory("d/", opts).unwrap();
            w.start_file("d/x.png", opts).unwrap();
            std::io::Write::write_all(&mut w, &png(2, 3)).unwrap();
            w.start_file("y.txt", opts).unwrap();
            std::io::Write::write_all(&mut w, b"text").unwrap();
            w.finish().unwrap();
        }
        let entries = zip_entries(&buf).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["d/x.png", "y.txt"]);
        assert_eq!(entries[1].1, b"text");
        assert!(
            zip_entries(b"PK nothing")
                .unwrap_err()
                .to_string()
                .contains("zip")
        );
    }

    #[test]
    fn an_image_over_the_limits_is_refused() {
        let err = decode_limited(&png(64, 8), 32, MAX_DECODED_BYTES).unwrap_err();
        assert!(err.starts_with("too large"), "{err}");
        assert!(decode_limited(&png(32, 8), 32, MAX_DECODED_BYTES).is_ok());
    }

    #[test]
    fn the_generated_set_is_deterministic_and_named_by_captions() {
        let a = ImageSet::generated(3, 32, 9).unwrap();
        let b = ImageSet::generated(3, 32, 9).unwrap();
        assert_eq!(a.load(2).unwrap(), b.load(2).unwrap());
        assert!(a.name(1).starts_with("00001 "), "{}", a.name(1));
        assert_eq!(a.load(0).unwrap().dimensions(), (32, 32));
    }
}
