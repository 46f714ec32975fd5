//! Export and import of a survey as static files (JSON + PNG), so an article can show dataset
//! examples and an atlas without the model or the images: `manifest.json` names the parts,
//! `examples.json` + `images/*.png` hold the top-k examples with their activation maps,
//! `atlas.json` + `icons/*.png` the atlas.

use std::collections::BTreeMap;
use std::io::Cursor;

use burn::tensor::backend::Backend;
use image::RgbImage;
use modalscope_atlas::Atlas;
use modalscope_model::{Capture, Clip, Preprocessor};
use serde::{Deserialize, Serialize};

use crate::atlas::Icon;
use crate::error::{Result, SurveyError};
use crate::imageset::ImageSet;
use crate::pass::Survey;

/// Format tag of `manifest.json`.
pub const MANIFEST_FORMAT: &str = "modalscope-export/1";
/// Format tag of `examples.json`.
pub const EXAMPLES_FORMAT: &str = "modalscope-examples/1";

/// One file of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportFile {
    /// Path relative to the export's folder, with `/` separators.
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// `manifest.json`: what an export holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The model surveyed (a name or the URL of its weights).
    pub model: String,
    /// Examples file, if exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<String>,
    /// Atlas file, if exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atlas: Option<String>,
    /// The layer of the atlas, if exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atlas_layer: Option<String>,
}

/// `examples.json`: the top-k images of every unit of some layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamplesDoc {
    /// Always [`EXAMPLES_FORMAT`].
    pub format: String,
    /// Images used in the pass.
    pub images_seen: usize,
    /// Files skipped in the pass.
    pub skipped: usize,
    /// The images the examples refer to (only those), as exported thumbnails.
    pub images: Vec<ImageRef>,
    /// One entry per layer.
    pub layers: Vec<LayerDoc>,
}

/// An exported image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRef {
    /// Its name in the image set.
    pub name: String,
    /// The thumbnail file (the crop the model saw).
    pub file: String,
}

/// The examples of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDoc {
    /// Layer name.
    pub layer: String,
    /// Grid `[rows, cols]` of the activation maps.
    pub grid: [usize; 2],
    /// Per unit, its examples best first.
    pub units: Vec<Vec<ExampleDoc>>,
}

/// One dataset example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleDoc {
    /// Index into [`ExamplesDoc::images`].
    pub image: u32,
    /// The unit's spatial maximum on the image.
    pub score: f32,
    /// Where the maximum is (`row * cols + col`).
    pub position: u32,
    /// The unit's activation map, `grid` row-major, scaled so 255 is `score` (negative
    /// values are 0).
    pub map: Vec<u8>,
}

/// Writes the dataset examples of `survey` (all its layers): thumbnails of every image an
/// example refers to and each example's activation map, recomputed from the set.
pub fn export_examples<B: Backend>(
    clip: &Clip<B>,
    set: &ImageSet,
    survey: &Survey,
) -> Result<Vec<ExportFile>> {
    let pre = Preprocessor::for_config(clip.config());
    let crops = example_images(&pre, set, survey)?;
    let layer_names: Vec<String> = survey.layers.iter().map(|l| l.layer.clone()).collect();
    let mut acts = Vec::with_capacity(crops.len());
    for (_, crop) in &crops {
        let x = pre.batch::<B>(std::slice::from_ref(crop), &clip.device());
        let mut cap = Capture::only(layer_names.clone());
        clip.encode_image_with(x, &mut cap);
        let mut per_layer = Vec::with_capacity(layer_names.len());
        for name in &layer_names {
            let act = cap
                .get(name)
                .ok_or_else(|| SurveyError::Export(format!("the model did not record `{name}`")))?;
            per_layer.push(
                act.positions()
                    .into_data()
                    .convert::<f32>()
                    .into_vec()
                    .map_err(|e| SurveyError::Export(format!("{e:?}")))?,
            );
        }
        acts.push(per_layer);
    }
    examples_files(survey, &crops, &acts)
}

/// Every image some example of `survey` refers to, in id order: its id and the crop the
/// model saw (the first half of [`export_examples`], for callers that run the model
/// themselves).
pub fn example_images(
    pre: &Preprocessor,
    set: &ImageSet,
    survey: &Survey,
) -> Result<Vec<(u32, RgbImage)>> {
    let mut used = std::collections::BTreeSet::new();
    for l in &survey.layers {
        for u in 0..l.top.neurons() {
            used.extend(l.examples(u).into_iter().map(|e| e.image));
        }
    }
    used.into_iter()
        .map(|id| {
            let img = set.load(id as usize).map_err(|s| {
                SurveyError::Export(format!("the image set changed since the pass: {s}"))
            })?;
            Ok((id, pre.resize_and_crop(&img)))
        })
        .collect()
}

/// A unit's activation map on one image as bytes, scaled so 255 is `score` (negative values
/// are 0): `acts` holds the image's `[positions x channels]` values, positions-major.
pub fn map_bytes(acts: &[f32], channels: usize, unit: usize, score: f32) -> Vec<u8> {
    let p = acts.len() / channels.max(1);
    (0..p)
        .map(|q| {
            let v = acts[q * channels + unit];
            if score > 0.0 {
                (v / score * 255.0).round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        })
        .collect()
}

/// The second half of [`export_examples`]: the files from the crops of
/// [`example_images`] and, per crop and per layer of `survey` (in order), the image's
/// activations `[positions x channels]`, positions-major.
pub fn examples_files(
    survey: &Survey,
    crops: &[(u32, RgbImage)],
    acts: &[Vec<Vec<f32>>],
) -> Result<Vec<ExportFile>> {
    if acts.len() != crops.len() || acts.iter().any(|a| a.len() != survey.layers.len()) {
        return Err(SurveyError::Export(format!(
            "activations of {} images for {} crops and {} layers",
            acts.len(),
            crops.len(),
            survey.layers.len()
        )));
    }
    // New index of each used image id.
    let index: BTreeMap<u32, u32> = crops
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i as u32))
        .collect();
    let mut files = Vec::with_capacity(crops.len() + 1);
    let mut images = Vec::with_capacity(crops.len());
    for (i, (id, crop)) in crops.iter().enumerate() {
        let file = format!("images/{i}.png");
        files.push(ExportFile {
            path: file.clone(),
            bytes: png(crop)?,
        });
        images.push(ImageRef {
            name: survey
                .names
                .get(*id as usize)
                .cloned()
                .unwrap_or_else(|| format!("image {id}")),
            file,
        });
    }
    let mut layers = Vec::with_capacity(survey.layers.len());
    for (li, l) in survey.layers.iter().enumerate() {
        let c = l.top.neurons();
        let units = (0..c)
            .map(|u| {
                l.examples(u)
                    .into_iter()
                    .map(|e| {
                        let i = *index.get(&e.image).ok_or_else(|| {
                            SurveyError::Export(format!("no crop of image {}", e.image))
                        })?;
                        Ok(ExampleDoc {
                            image: i,
                            score: e.score,
                            position: e.position,
                            map: map_bytes(&acts[i as usize][li], c, u, e.score),
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        layers.push(LayerDoc {
            layer: l.layer.clone(),
            grid: l.grid,
            units,
        });
    }
    let doc = ExamplesDoc {
        format: EXAMPLES_FORMAT.into(),
        images_seen: survey.images,
        skipped: survey.skipped.len(),
        images,
        layers,
    };
    files.push(json_file("examples.json", &doc)?);
    Ok(files)
}

/// Writes an atlas and its icons; cell means are dropped (the icons stand for them) and each
/// cell names its icon file, with the icon's score and specificity when known.
pub fn export_atlas(atlas: &Atlas, icons: &[Icon]) -> Result<Vec<ExportFile>> {
    let mut atlas = atlas.clone();
    atlas.clear_means();
    let mut files = Vec::with_capacity(icons.len() + 1);
    for icon in icons {
        let level = atlas
            .levels
            .get_mut(icon.level as usize)
            .ok_or_else(|| SurveyError::Export(format!("icon of level {}", icon.level)))?;
        let cell = level.cell_mut(icon.col, icon.row).ok_or_else(|| {
            SurveyError::Export(format!(
                "icon of a missing cell ({}, {})",
                icon.col, icon.row
            ))
        })?;
        cell.icon = Some(icon.file_name());
        cell.icon_score = icon.score;
        cell.icon_specificity = icon.specificity;
        let img = RgbImage::from_raw(icon.size as u32, icon.size as u32, icon.rgb.clone())
            .ok_or_else(|| SurveyError::Export("an icon has the wrong number of bytes".into()))?;
        files.push(ExportFile {
            path: icon.file_name(),
            bytes: png(&img)?,
        });
    }
    files.push(ExportFile {
        path: "atlas.json".into(),
        bytes: atlas
            .to_json()
            .map_err(|e| SurveyError::Export(e.to_string()))?
            .into_bytes(),
    });
    Ok(files)
}

/// The manifest of an export holding `examples` and/or an atlas of `atlas_layer`.
pub fn manifest_file(model: &str, examples: bool, atlas_layer: Option<&str>) -> Result<ExportFile> {
    json_file(
        "manifest.json",
        &Manifest {
            format: MANIFEST_FORMAT.into(),
            model: model.into(),
            examples: examples.then(|| "examples.json".into()),
            atlas: atlas_layer.map(|_| "atlas.json".into()),
            atlas_layer: atlas_layer.map(str::to_string),
        },
    )
}

/// Writes files under `dir` (created as needed).
pub fn write_dir(files: &[ExportFile], dir: &std::path::Path) -> Result<()> {
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| SurveyError::Export(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, &f.bytes)
            .map_err(|e| SurveyError::Export(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Packs files into one zip archive (the page's download button).
pub fn zip_files(files: &[ExportFile]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w = zip::ZipWriter::new(Cursor::new(&mut buf));
        // PNGs are already compressed; JSON is small enough stored.
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for f in files {
            w.start_file(f.path.as_str(), opts)
                .map_err(|e| SurveyError::Export(e.to_string()))?;
            std::io::Write::write_all(&mut w, &f.bytes)
                .map_err(|e| SurveyError::Export(e.to_string()))?;
        }
        w.finish().map_err(|e| SurveyError::Export(e.to_string()))?;
    }
    Ok(buf)
}

/// An export read back: what the page shows without recomputing.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The manifest.
    pub manifest: Manifest,
    /// The examples, when exported.
    pub examples: Option<ExamplesDoc>,
    /// The atlas, when exported.
    pub atlas: Option<Atlas>,
}

/// Reads an export through `read(path)` (a folder, a zip, fetched URLs), checking formats and
/// that every referenced image and icon exists.
pub fn import(read: impl Fn(&str) -> Option<Vec<u8>>) -> Result<Imported> {
    let get =
        |p: &str| read(p).ok_or_else(|| SurveyError::Export(format!("the export has no `{p}`")));
    let manifest: Manifest = parse(&get("manifest.json")?, "manifest.json")?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(SurveyError::Export(format!(
            "manifest.json has format `{}`, expected `{MANIFEST_FORMAT}`",
            manifest.format
        )));
    }
    let examples = match &manifest.examples {
        Some(p) => {
            let doc: ExamplesDoc = parse(&get(p)?, p)?;
            if doc.format != EXAMPLES_FORMAT {
                return Err(SurveyError::Export(format!(
                    "{p} has format `{}`, expected `{EXAMPLES_FORMAT}`",
                    doc.format
                )));
            }
            for l in &doc.layers {
                for e in l.units.iter().flatten() {
                    if e.image as usize >= doc.images.len() || e.map.len() != l.grid[0] * l.grid[1]
                    {
                        return Err(SurveyError::Export(format!(
                            "{p}: an example of `{}` refers to a missing image or has a map \
                             of the wrong size",
                            l.layer
                        )));
                    }
                }
            }
            if let Some(missing) = doc.images.iter().find(|i| read(&i.file).is_none()) {
                return Err(SurveyError::Export(format!(
                    "the export has no `{}`",
                    missing.file
                )));
            }
            Some(doc)
        }
        None => None,
    };
    let atlas = match &manifest.atlas {
        Some(p) => {
            let text = String::from_utf8(get(p)?)
                .map_err(|_| SurveyError::Export(format!("{p} is not UTF-8 text")))?;
            let atlas =
                Atlas::from_json(&text).map_err(|e| SurveyError::Export(format!("{p}: {e}")))?;
            let missing = atlas
                .levels
                .iter()
                .flat_map(|l| &l.cells)
                .filter_map(|c| c.icon.as_deref())
                .find(|f| read(f).is_none());
            if let Some(f) = missing {
                return Err(SurveyError::Export(format!("the export has no `{f}`")));
            }
            Some(atlas)
        }
        None => None,
    };
    Ok(Imported {
        manifest,
        examples,
        atlas,
    })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| SurveyError::Export(format!("{what}: {e}")))
}

fn json_file<T: Serialize>(path: &str, value: &T) -> Result<ExportFile> {
    Ok(ExportFile {
        path: path.into(),
        bytes: serde_json::to_vec(value).map_err(|e| SurveyError::Export(e.to_string()))?,
    })
}

fn png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| SurveyError::Export(e.to_string()))?;
    Ok(out)
}
