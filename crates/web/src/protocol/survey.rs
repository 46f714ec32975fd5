//! The messages of image sets, dataset examples, activation atlases and their export, in the
//! wire format of [`super`]: the page sends a [`SurveyTask`] (`Request::Survey`), the worker
//! answers with [`SurveyUpdate`]s (`Response::Survey`) ending in `Done`, or with `Cancelled`
//! / `Error`.

use serde::{Deserialize, Serialize};

use super::{Rgba, WordScore};

/// What a survey job does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SurveyTask {
    /// Replaces the image set (examples and atlases of the old set are dropped); done with
    /// [`SurveyResult::SetLoaded`].
    LoadImages {
        /// Model name.
        model: String,
        /// Where the images come from.
        source: ImageSource,
    },
    /// Runs the loaded set through the model and keeps the top-k images of every unit of a
    /// layer; done with [`SurveyResult::Examples`].
    Examples {
        /// Model name.
        model: String,
        /// Image-tower layer.
        layer: String,
        /// Examples kept per unit.
        k: usize,
    },
    /// The dataset examples of one unit (from a pass or an import), with where it fired;
    /// done with [`SurveyResult::UnitExamples`]. Runs beside the other jobs.
    UnitExamples {
        /// Model name.
        model: String,
        /// Image-tower layer.
        layer: String,
        /// The unit.
        unit: usize,
    },
    /// Builds an activation atlas of a layer over the loaded set (first loading `images` when
    /// given and the loaded set is not it, [`SurveyUpdate::SetLoaded`]): a pass that samples
    /// activation vectors (and keeps the layer's examples), the layout and grids
    /// ([`SurveyUpdate::AtlasLayout`]), then the cell icons batch by batch
    /// ([`SurveyUpdate::Icons`]); done with [`SurveyResult::Atlas`].
    BuildAtlas {
        /// Model name.
        model: String,
        /// Image-tower layer.
        layer: String,
        /// How.
        spec: AtlasSpec,
        /// The image set to build from, when not the loaded one (a link's generated set).
        images: Option<ImageSource>,
    },
    /// Packs the dataset examples and an atlas as a zip of JSON + PNG files; done with
    /// [`SurveyResult::Exported`].
    Export {
        /// Model name.
        model: String,
        /// The atlas exported (default: the one built or imported last).
        atlas_layer: Option<String>,
    },
    /// Reads an export back (examples and atlas shown without recomputing); the atlas comes
    /// as `AtlasLayout` and `Icons` updates, then [`SurveyResult::Imported`].
    Import {
        /// Model name.
        model: String,
        /// Where the export is.
        source: ImportSource,
    },
}

impl SurveyTask {
    /// The model the task names.
    pub fn model(&self) -> &str {
        match self {
            Self::LoadImages { model, .. }
            | Self::Examples { model, .. }
            | Self::UnitExamples { model, .. }
            | Self::BuildAtlas { model, .. }
            | Self::Export { model, .. }
            | Self::Import { model, .. } => model,
        }
    }

    /// Whether the task is one of the long ones, of which one runs at a time (a newer one
    /// cancels it); `UnitExamples` is quick and runs beside them.
    pub fn is_long(&self) -> bool {
        !matches!(self, Self::UnitExamples { .. })
    }
}

/// A file with its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFile {
    /// Name (a path inside a dropped folder, e.g. `photos/cat.jpg`).
    pub name: String,
    /// Contents.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// Where an image set comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum ImageSource {
    /// Files dropped or picked (a zip among them is opened and its images taken).
    Files {
        /// What was dropped, in words (e.g. `3 files`, `photos/`).
        label: String,
        /// The files.
        files: Vec<NamedFile>,
    },
    /// A text file (one URL a line) or a JSON list of image URLs, fetched by the worker;
    /// relative URLs are resolved against the list's.
    UrlList {
        /// The list's URL.
        url: String,
    },
    /// The procedural generator's images (drawn, written and mixed concepts).
    Generated {
        /// How many.
        count: usize,
        /// Seed.
        seed: u64,
    },
}

/// Where an export to import is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum ImportSource {
    /// A zip the export button made.
    Zip {
        /// The file's name.
        name: String,
        /// Its bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// The URL of the `manifest.json` of an export served as static files.
    Url {
        /// The manifest's URL.
        url: String,
    },
}

/// How an atlas is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtlasSpec {
    /// Activation vectors sampled (reservoir over every position of every image).
    pub samples: usize,
    /// Seed of the sampling, the layout and the icons.
    pub seed: u64,
    /// Grid sizes of the zoom levels, coarse to fine.
    pub levels: Vec<u32>,
    /// Cells with this many vectors or fewer are dropped.
    pub min_count: usize,
    /// Optimization steps per icon.
    pub steps: usize,
}

/// What a survey job reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "update", rename_all = "snake_case")]
pub enum SurveyUpdate {
    /// Work advanced.
    Progress {
        /// What it does now, in words (`images`, `layout: knn`, `icons`, ...).
        stage: String,
        /// Work done in this stage.
        done: usize,
        /// Work in all in this stage.
        total: usize,
    },
    /// The image set an atlas job loaded first (as [`SurveyResult::SetLoaded`]).
    SetLoaded(SetSummary),
    /// An atlas' grids and cells, before (or without) its icons.
    AtlasLayout(AtlasView),
    /// Icons of an atlas that are ready.
    Icons {
        /// The atlas' layer.
        layer: String,
        /// The icons.
        icons: Vec<CellIcon>,
    },
    /// The job finished.
    Done(SurveyResult),
}

/// What a finished survey job gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SurveyResult {
    /// An image set is loaded.
    SetLoaded(SetSummary),
    /// A layer's dataset examples are ready.
    Examples(ExamplesSummary),
    /// One unit's examples.
    UnitExamples(UnitExamples),
    /// An atlas is built.
    Atlas(AtlasSummary),
    /// An export is packed.
    Exported {
        /// A file name for the download.
        file_name: String,
        /// The zip.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        /// Files in it.
        files: usize,
    },
    /// An export is read back.
    Imported(ImportSummary),
}

/// A loaded image set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSummary {
    /// Where it came from, in words.
    pub label: String,
    /// What identifies the set in an atlas link (`set=`): `generated:{count}:{seed}` for the
    /// generated set, `files:{hash}` for files (dropped, picked or fetched from a list).
    pub key: String,
    /// Items (images and files that are not).
    pub items: usize,
    /// Images among them.
    pub images: usize,
    /// Files skipped.
    pub skipped: usize,
    /// A few skipped files, `name: reason`.
    pub skipped_examples: Vec<String>,
    /// One line: images used and files skipped (as `Survey::summary`).
    pub summary: String,
}

/// A layer's dataset examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamplesSummary {
    /// The layer.
    pub layer: String,
    /// Examples per unit.
    pub k: usize,
    /// Units of the layer.
    pub units: usize,
    /// Images seen in the pass.
    pub images: usize,
    /// One line: images used and files skipped.
    pub summary: String,
    /// Wall time of the pass in milliseconds (0 when imported).
    pub elapsed_ms: f64,
    /// Whether the examples come from an import.
    pub imported: bool,
}

/// One unit's dataset examples, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitExamples {
    /// The layer.
    pub layer: String,
    /// The unit.
    pub unit: usize,
    /// Grid `[rows, cols]` of the activation maps.
    pub grid: [usize; 2],
    /// The examples.
    pub examples: Vec<ExampleImage>,
    /// Where they come from, in words.
    pub source: String,
}

/// A dataset example: the image the model saw, the unit's score and where it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleImage {
    /// The image's name in the set.
    pub name: String,
    /// The unit's spatial maximum on it.
    pub score: f32,
    /// Where the maximum is (`row * cols + col`).
    pub position: u32,
    /// The crop the model saw.
    pub image: Rgba,
    /// The unit's activation map, `grid` row-major, 255 = `score` (negative values 0).
    #[serde(with = "serde_bytes")]
    pub map: Vec<u8>,
}

/// An atlas as the page draws it (the cell means stay in the worker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtlasView {
    /// The layer.
    pub layer: String,
    /// Length of the cell directions (the layer's units).
    pub dim: usize,
    /// Vectors laid out.
    pub samples: usize,
    /// Zoom levels, coarse to fine.
    pub levels: Vec<AtlasLevel>,
    /// Why cells have no text labels, when they have none.
    pub label_note: Option<String>,
    /// Whether the atlas comes from an import.
    pub imported: bool,
}

impl AtlasView {
    /// Cells over all levels.
    pub fn cells(&self) -> usize {
        self.levels.iter().map(|l| l.cells.len()).sum()
    }
}

/// One zoom level of an atlas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtlasLevel {
    /// Cells per side.
    pub size: u32,
    /// Kept cells, by (row, col).
    pub cells: Vec<AtlasCell>,
}

/// One kept cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtlasCell {
    /// Column (0 at the left).
    pub col: u32,
    /// Row (0 at the top).
    pub row: u32,
    /// Vectors in the cell.
    pub count: u32,
    /// The strongest units of the cell's mean direction.
    pub top: Vec<TopUnit>,
    /// Vocabulary words closest to the direction (joint-space layers only).
    pub labels: Vec<WordScore>,
}

/// A unit and its weight in a cell's direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopUnit {
    /// The unit.
    pub unit: u32,
    /// Its value in the cell's mean vector.
    pub weight: f32,
}

/// A rendered cell icon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellIcon {
    /// Zoom level.
    pub level: u32,
    /// Column.
    pub col: u32,
    /// Row.
    pub row: u32,
    /// Pixels.
    pub image: Rgba,
    /// The value the icon reached on its objective, its cell's direction (`None` when unknown,
    /// as in an export that did not record it).
    pub score: Option<f32>,
    /// The share of the level's other cells whose directions the icon matches less than its
    /// own (1: its own cell's best of all).
    pub specificity: Option<f32>,
}

/// A built atlas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtlasSummary {
    /// The layer.
    pub layer: String,
    /// Cells over all levels.
    pub cells: usize,
    /// Icons rendered.
    pub icons: usize,
    /// Images in the pass.
    pub images: usize,
    /// Vectors laid out.
    pub samples: usize,
    /// Wall time per stage in milliseconds: `pass`, `layout`, `labels`, `icons`.
    pub stages: Vec<(String, f64)>,
    /// The layer's dataset examples the pass found, when the worker keeps them (it keeps
    /// examples found before).
    pub examples: Option<ExamplesSummary>,
}

/// An export read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// The model the export was made with.
    pub model: String,
    /// Layers with dataset examples.
    pub examples_layers: Vec<String>,
    /// The atlas' layer, when there is one.
    pub atlas_layer: Option<String>,
    /// Example images.
    pub images: usize,
    /// Atlas icons.
    pub icons: usize,
    /// What to know about it (e.g. another model made it).
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::super::{Request, Response, decode, encode};
    use super::*;

    fn rgba() -> Rgba {
        Rgba {
            width: 1,
            height: 1,
            bytes: vec![1, 2, 3, 255],
        }
    }

    #[test]
    fn survey_requests_round_trip() {
        let tasks = vec![
            SurveyTask::LoadImages {
                model: "m".into(),
                source: ImageSource::Files {
                    label: "2 files".into(),
                    files: vec![NamedFile {
                        name: "a/b.png".into(),
                        bytes: vec![0x89, b'P', 0, 255],
                    }],
                },
            },
            SurveyTask::LoadImages {
                model: "m".into(),
                source: ImageSource::UrlList {
                    url: "http://h/list.txt".into(),
                },
            },
            SurveyTask::LoadImages {
                model: "m".into(),
                source: ImageSource::Generated {
                    count: 200,
                    seed: 7,
                },
            },
            SurveyTask::Examples {
                model: "m".into(),
                layer: "vision.blocks.3.mlp".into(),
                k: 8,
            },
            SurveyTask::UnitExamples {
                model: "m".into(),
                layer: "l".into(),
                unit: 3,
            },
            SurveyTask::BuildAtlas {
                model: "m".into(),
                layer: "l".into(),
                spec: AtlasSpec {
                    samples: 300,
                    seed: 1,
                    levels: vec![4, 8],
                    min_count: 2,
                    steps: 16,
                },
                images: Some(ImageSource::Generated {
                    count: 200,
                    seed: 7,
                }),
            },
            SurveyTask::Export {
                model: "m".into(),
                atlas_layer: Some("l".into()),
            },
            SurveyTask::Import {
                model: "m".into(),
                source: ImportSource::Zip {
                    name: "x.zip".into(),
                    bytes: b"PK".to_vec(),
                },
            },
            SurveyTask::Import {
                model: "m".into(),
                source: ImportSource::Url {
                    url: "http://h/e/manifest.json".into(),
                },
            },
        ];
        for (job, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.model(), "m");
            assert_eq!(
                task.is_long(),
                !matches!(task, SurveyTask::UnitExamples { .. })
            );
            let req = Request::Survey {
                job: job as u32,
                task,
            };
            assert_eq!(decode::<Request>(&encode(&req)).unwrap(), req);
        }
        // Files stay bytes on the wire.
        let big = Request::Survey {
            job: 1,
            task: SurveyTask::LoadImages {
                model: "m".into(),
                source: ImageSource::Files {
                    label: "x".into(),
                    files: vec![NamedFile {
                        name: "x.jpg".into(),
                        bytes: vec![7; 50_000],
                    }],
                },
            },
        };
        assert!(encode(&big).len() < 50_000 + 200);
    }

    #[test]
    fn survey_updates_round_trip() {
        let view = AtlasView {
            layer: "vision.embeds".into(),
            dim: 96,
            samples: 300,
            levels: vec![AtlasLevel {
                size: 4,
                cells: vec![AtlasCell {
                    col: 1,
                    row: 2,
                    count: 12,
                    top: vec![TopUnit {
                        unit: 5,
                        weight: 0.7,
                    }],
                    labels: vec![WordScore {
                        word: "star".into(),
                        score: 0.3,
                    }],
                }],
            }],
            label_note: None,
            imported: false,
        };
        assert_eq!(view.cells(), 1);
        let examples = ExamplesSummary {
            layer: "l".into(),
            k: 8,
            units: 384,
            images: 200,
            summary: "200 images".into(),
            elapsed_ms: 1500.0,
            imported: false,
        };
        let updates = vec![
            SurveyUpdate::Progress {
                stage: "layout: knn".into(),
                done: 3,
                total: 10,
            },
            SurveyUpdate::SetLoaded(SetSummary {
                label: "the generated set (seed 7)".into(),
                key: "generated:200:7".into(),
                items: 200,
                images: 200,
                skipped: 0,
                skipped_examples: vec![],
                summary: "200 images".into(),
            }),
            SurveyUpdate::AtlasLayout(view),
            SurveyUpdate::Icons {
                layer: "l".into(),
                icons: vec![CellIcon {
                    level: 0,
                    col: 1,
                    row: 2,
                    image: rgba(),
                    score: Some(0.5),
                    specificity: None,
                }],
            },
            SurveyUpdate::Done(SurveyResult::SetLoaded(SetSummary {
                label: "set.zip".into(),
                key: "files:0123456789abcdef".into(),
                items: 3,
                images: 2,
                skipped: 1,
                skipped_examples: vec!["notes.txt: not an image".into()],
                summary: "2 images; 1 file skipped (notes.txt: not an image)".into(),
            })),
            SurveyUpdate::Done(SurveyResult::Examples(examples.clone())),
            SurveyUpdate::Done(SurveyResult::UnitExamples(UnitExamples {
                layer: "l".into(),
                unit: 3,
                grid: [8, 8],
                examples: vec![ExampleImage {
                    name: "00001 a red star".into(),
                    score: 2.5,
                    position: 9,
                    image: rgba(),
                    map: vec![0; 64],
                }],
                source: "generated".into(),
            })),
            SurveyUpdate::Done(SurveyResult::Atlas(AtlasSummary {
                layer: "l".into(),
                cells: 20,
                icons: 20,
                images: 200,
                samples: 300,
                stages: vec![("pass".into(), 900.0), ("icons".into(), 5000.0)],
                examples: Some(examples),
            })),
            SurveyUpdate::Done(SurveyResult::Exported {
                file_name: "m-survey.zip".into(),
                bytes: vec![1, 2, 3],
                files: 4,
            }),
            SurveyUpdate::Done(SurveyResult::Imported(ImportSummary {
                model: "m".into(),
                examples_layers: vec!["l".into()],
                atlas_layer: None,
                images: 9,
                icons: 0,
                note: Some("another model".into()),
            })),
        ];
        for (job, update) in updates.into_iter().enumerate() {
            let resp = Response::Survey {
                job: job as u32,
                update,
            };
            assert_eq!(resp.job(), Some(job as u32));
            assert_eq!(decode::<Response>(&encode(&resp)).unwrap(), resp);
        }
    }
}
