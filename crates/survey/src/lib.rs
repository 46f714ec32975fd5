//! Surveys a CLIP over an image set, generic over burn's `Backend`: one streaming pass records
//! each neuron's dataset examples (top-k images and where they fired) and samples activation
//! vectors, from which an activation atlas is laid out, gridded and rendered. Results export
//! as static JSON + PNG files and import back, for the page, the CLI and articles.

pub mod atlas;
pub mod error;
pub mod export;
pub mod imageset;
pub mod pass;

pub use atlas::{
    AtlasConfig, AtlasDirections, Icon, IconConfig, atlas_from_layout, build_atlas, cell_objective,
    centre_alignment, centre_cosines, check_samples, icon_measures, render_icons, specificity,
};
pub use error::{Result, SurveyError};
pub use export::{
    ExamplesDoc, ExportFile, Imported, Manifest, example_images, examples_files, export_atlas,
    export_examples, import, manifest_file, map_bytes, write_dir, zip_files,
};
pub use imageset::{ImageSet, Skipped, decode, zip_entries};
pub use pass::{
    Batch, HostActivation, LayerExamples, Pass, PassConfig, PassProgress, Samples, Sampling,
    Survey, activation_map, check_image_layer, summary_line, survey,
};
