//! Activation atlases end to end (Carter et al. 2019): sampled activation vectors are laid out
//! in 2-D by UMAP, binned into grids at several zoom levels, each cell's mean vector gets its
//! strongest neurons, and its feature visualization (the cell's icon) is rendered in batches.

use burn::tensor::backend::AutodiffBackend;
use modalscope_atlas::{Atlas, AtlasParams, Metric, UmapParams};
use modalscope_model::Clip;
use modalscope_vis::{Objective, RenderConfig, render};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SurveyError};
use crate::pass::Samples;

/// How an atlas is built; `Default` follows the Activation Atlas article where it applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AtlasConfig {
    /// The 2-D layout (cosine metric, 20 neighbours, min_dist 0.01, as the article's code).
    pub umap: UmapParams,
    /// The grids (zoom levels, sparse-cell cut-off).
    pub grid: AtlasParams,
    /// Strongest neurons recorded per cell.
    pub top_neurons: usize,
    /// How icons are rendered.
    pub icons: IconConfig,
}

impl Default for AtlasConfig {
    fn default() -> Self {
        Self {
            umap: UmapParams {
                metric: Metric::Cosine,
                n_neighbors: 20,
                min_dist: 0.01,
                ..UmapParams::default()
            },
            grid: AtlasParams::default(),
            top_neurons: 8,
            icons: IconConfig::default(),
        }
    }
}

/// How cell icons are rendered: a feature visualization of the cell's mean direction at the
/// layer's centre position, weighted by cosine similarity (Lucid's `direction_neuron_cossim`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IconConfig {
    /// Side of each icon in pixels (0: the model's input size).
    pub size: usize,
    /// Optimization steps.
    pub steps: usize,
    /// Icons optimized together in one batch.
    pub batch: usize,
    /// Exponent of the cosine-similarity weight.
    pub cossim_power: f32,
    /// Seed of every icon's render.
    pub seed: u64,
}

impl Default for IconConfig {
    fn default() -> Self {
        Self {
            size: 0,
            steps: 128,
            batch: 8,
            // 1, not a higher power: on GELU layers a cell's mean direction has signs mixed,
            // and with cos^2 an icon that starts misaligned barely moves (measured on the
            // built-in model: one icon of 11 ended at cos -0.22 with power 2, none with 1).
            cossim_power: 1.0,
            seed: 0,
        }
    }
}

/// One rendered cell icon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Icon {
    /// Zoom level index.
    pub level: u32,
    /// Column of the cell.
    pub col: u32,
    /// Row of the cell.
    pub row: u32,
    /// Side in pixels.
    pub size: usize,
    /// RGB bytes, row-major.
    pub rgb: Vec<u8>,
    /// The icon's objective (its cell's direction) on the final image (`None` when unknown,
    /// e.g. read from an export that did not record it).
    pub score: Option<f32>,
    /// The share of the level's other cells whose directions the icon matches less than its
    /// own, by cosine at the centre position (see [`specificity`]).
    pub specificity: Option<f32>,
}

impl Icon {
    /// The file name an export gives the icon.
    pub fn file_name(&self) -> String {
        icon_file(self.level, self.col, self.row)
    }
}

/// The file name of the icon of cell (`col`, `row`) at zoom `level`.
pub fn icon_file(level: u32, col: u32, row: u32) -> String {
    format!("icons/{level}-{col}-{row}.png")
}

/// Lays the samples out with UMAP and grids them; `on_progress(stage, done, total)` returns
/// `false` to cancel.
pub fn build_atlas(
    samples: &Samples,
    config: &AtlasConfig,
    mut on_progress: impl FnMut(&str, usize, usize) -> bool,
) -> Result<Atlas> {
    check_samples(samples)?;
    let layout = modalscope_atlas::umap::fit_with_progress(
        &samples.vectors,
        samples.dim,
        &config.umap,
        &mut on_progress,
    )
    .map_err(|e| match e {
        modalscope_atlas::UmapError::Cancelled => SurveyError::Cancelled,
        other => SurveyError::Atlas(other.to_string()),
    })?;
    atlas_from_layout(samples, config, &layout)
}

/// Refuses a sample too small for an atlas (what [`build_atlas`] checks first, for callers
/// that run the layout themselves).
pub fn check_samples(samples: &Samples) -> Result<()> {
    if samples.len() < 2 {
        return Err(SurveyError::Atlas(format!(
            "an atlas needs at least 2 activation vectors, the sample has {}; use more images",
            samples.len()
        )));
    }
    Ok(())
}

/// The grids of an atlas over a finished layout of the samples (the second half of
/// [`build_atlas`], for callers that step the layout themselves with
/// [`modalscope_atlas::UmapStepper`]).
pub fn atlas_from_layout(
    samples: &Samples,
    config: &AtlasConfig,
    layout: &[[f32; 2]],
) -> Result<Atlas> {
    let mut atlas = Atlas::build(&samples.vectors, samples.dim, layout, &config.grid)
        .map_err(|e| SurveyError::Atlas(e.to_string()))?;
    atlas.fill_top_neurons(config.top_neurons);
    if atlas.levels.iter().all(|l| l.cells.is_empty()) {
        return Err(SurveyError::Atlas(format!(
            "no grid cell holds more than {} vectors; use more images or fewer, larger cells",
            config.grid.min_count
        )));
    }
    Ok(atlas)
}

/// Renders the icons of the cells of `levels` (all levels when empty) in batches;
/// `on_progress(done, total)` is called after each batch and returns `false` to cancel.
pub fn render_icons<B: AutodiffBackend>(
    clip: &Clip<B>,
    atlas: &Atlas,
    layer: &str,
    levels: &[usize],
    config: &IconConfig,
    mut on_progress: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<Icon>> {
    crate::pass::check_image_layer(clip, layer)?;
    if config.batch == 0 || config.steps == 0 {
        return Err(SurveyError::Config(
            "icons need at least one step and a batch of at least one".into(),
        ));
    }
    let size = if config.size == 0 {
        clip.config().vision.image_size()
    } else {
        config.size
    };
    let cells: Vec<_> = atlas
        .levels
        .iter()
        .enumerate()
        .filter(|(i, _)| levels.is_empty() || levels.contains(i))
        .flat_map(|(_, l)| l.cells.iter())
        .collect();
    if cells.iter().any(|c| c.mean.len() != atlas.dim) {
        return Err(SurveyError::Atlas(
            "the atlas has no cell means (an imported atlas cannot be re-rendered)".into(),
        ));
    }
    let total = cells.len();
    let directions = AtlasDirections::new(atlas);
    let mut icons = Vec::with_capacity(total);
    for chunk in cells.chunks(config.batch) {
        let objective = cell_objective(layer, chunk.iter().map(|c| &c.mean[..]), config);
        let render_config = RenderConfig {
            size,
            batch: chunk.len(),
            steps: config.steps,
            seed: config.seed,
            ..RenderConfig::default()
        };
        let out = render(clip, objective.clone(), render_config, 0, |_| true)?;
        // Each batch element's terms are masked to itself: one value per icon, its own cell.
        let images = images_tensor::<B>(&out.pixels, chunk.len(), size, &clip.device());
        let (scores, cosines) = icon_measures(clip, layer, &objective, images, &directions)?;
        let scores = host(scores)?;
        let cosines = host(cosines)?;
        let m = directions.len();
        for (i, ((cell, rgb), score)) in chunk.iter().zip(out.images).zip(scores).enumerate() {
            icons.push(Icon {
                level: cell.level,
                col: cell.col,
                row: cell.row,
                size,
                rgb,
                score: Some(score),
                specificity: directions.specificity(
                    cell.level,
                    cell.col,
                    cell.row,
                    &cosines[i * m..(i + 1) * m],
                ),
            });
        }
        if !on_progress(icons.len(), total) {
            return Err(SurveyError::Cancelled);
        }
    }
    Ok(icons)
}

fn host<B: burn::tensor::backend::Backend, const D: usize>(
    t: burn::tensor::Tensor<B, D>,
) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| SurveyError::Atlas(format!("{e:?}")))
}

/// The mean directions of every cell of an atlas, all levels in order: what icons are
/// compared with.
pub struct AtlasDirections {
    /// `[cells x dim]` row-major.
    values: Vec<f32>,
    dim: usize,
    /// (level, row, col) of each direction, in order (so sorted).
    keys: Vec<(u32, u32, u32)>,
}

impl AtlasDirections {
    /// The directions of `atlas`' cells (their means; none for an imported atlas).
    pub fn new(atlas: &Atlas) -> Self {
        let cells = atlas
            .levels
            .iter()
            .flat_map(|l| &l.cells)
            .filter(|c| c.mean.len() == atlas.dim);
        let mut values = Vec::new();
        let mut keys = Vec::new();
        for c in cells {
            values.extend_from_slice(&c.mean);
            keys.push((c.level, c.row, c.col));
        }
        Self {
            values,
            dim: atlas.dim,
            keys,
        }
    }

    /// Directions over all levels.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `[len, dim]` on `device`.
    pub fn tensor<B: burn::tensor::backend::Backend>(
        &self,
        device: &B::Device,
    ) -> burn::tensor::Tensor<B, 2> {
        burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(self.values.clone(), [self.len(), self.dim]),
            device,
        )
    }

    /// How specific the icon of cell (`level`, `col`, `row`) is, from its cosines with every
    /// direction (in order, as [`icon_measures`] gives them): see [`specificity`].
    pub fn specificity(&self, level: u32, col: u32, row: u32, cosines: &[f32]) -> Option<f32> {
        let own = self.keys.binary_search(&(level, row, col)).ok()?;
        let start = self.keys.partition_point(|k| k.0 < level);
        let end = self.keys.partition_point(|k| k.0 <= level);
        specificity(cosines.get(start..end)?, own - start)
    }
}

/// The share of the other directions of `cosines` that are less aligned with an icon than its
/// own (`own`): 1 when the icon matches its own cell best of all; `None` without others.
pub fn specificity(cosines: &[f32], own: usize) -> Option<f32> {
    let mine = *cosines.get(own)?;
    let others = cosines.len() - 1;
    if others == 0 {
        return None;
    }
    let beaten = cosines
        .iter()
        .enumerate()
        .filter(|&(j, &c)| j != own && c < mine)
        .count();
    Some(beaten as f32 / others as f32)
}

/// Per icon of a batch, on the device (for callers that read back asynchronously): the value
/// of `objective` (one term per batch element, as [`cell_objective`] makes it) and the cosine
/// of its centre activation with every direction of `directions`, `[batch, len]`.
pub fn icon_measures<B: burn::tensor::backend::Backend>(
    clip: &Clip<B>,
    layer: &str,
    objective: &Objective,
    images: burn::tensor::Tensor<B, 4>,
    directions: &AtlasDirections,
) -> Result<(burn::tensor::Tensor<B, 1>, burn::tensor::Tensor<B, 2>)> {
    let scores = objective.scores(clip, images.clone());
    let cosines = centre_cosines(clip, layer, images, directions.tensor(&clip.device()))?;
    Ok((scores, cosines))
}

/// One icon per direction, each batch element ascending its own cell's direction (the
/// objective [`render_icons`] optimizes, for callers that step the render themselves).
pub fn cell_objective<'a>(
    layer: &str,
    means: impl Iterator<Item = &'a [f32]>,
    config: &IconConfig,
) -> Objective {
    Objective::sum(means.enumerate().map(|(i, m)| {
        Objective::direction_cossim(layer, m.to_vec(), config.cossim_power).at_batch(i)
    }))
}

/// `cos[i][j]`: cosine similarity of image i's activation at the layer's centre position
/// with direction j (scale-free, so directions of different norms compare fairly), for
/// checking that each icon matches its own cell better than the others.
pub fn centre_alignment<'a, B: burn::tensor::backend::Backend>(
    clip: &Clip<B>,
    layer: &str,
    images: burn::tensor::Tensor<B, 4>,
    directions: impl Iterator<Item = &'a [f32]>,
) -> Result<Vec<Vec<f32>>> {
    let dirs: Vec<&[f32]> = directions.collect();
    let dim = dirs.first().map_or(0, |d| d.len());
    let n = images.dims()[0];
    let values: Vec<f32> = dirs.iter().flat_map(|d| d.iter().copied()).collect();
    let dirs = burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(values, [dirs.len(), dim]),
        &clip.device(),
    );
    let m = dirs.dims()[0];
    let cos = host(centre_cosines(clip, layer, images, dirs)?)?;
    Ok((0..n).map(|i| cos[i * m..(i + 1) * m].to_vec()).collect())
}

/// `[n, m]` cosines of the `n` images' activations at the layer's centre position with the
/// `m` directions, on the device (images of another size than the model's input are resized).
pub fn centre_cosines<B: burn::tensor::backend::Backend>(
    clip: &Clip<B>,
    layer: &str,
    images: burn::tensor::Tensor<B, 4>,
    directions: burn::tensor::Tensor<B, 2>,
) -> Result<burn::tensor::Tensor<B, 2>> {
    crate::pass::check_image_layer(clip, layer)?;
    let size = clip.config().vision.image_size();
    let images = if images.dims()[2] == size {
        images
    } else {
        modalscope_vis::Affine::identity().apply(images, size, 0.5)
    };
    let x = modalscope_vis::normalize_input(clip, images);
    let mut cap = modalscope_model::Capture::only([layer]);
    clip.encode_image_with(x, &mut cap);
    let act = cap
        .get(layer)
        .ok_or_else(|| SurveyError::Layer(format!("the model did not record `{layer}`")))?;
    let [rows, cols] = act.grid().unwrap_or([1, 1]);
    let centre = (rows / 2) * cols + cols / 2;
    let pos = act.positions();
    let [n, _, c] = pos.dims();
    let at = pos.slice([0..n, centre..centre + 1, 0..c]).reshape([n, c]);
    let unit = |t: burn::tensor::Tensor<B, 2>| {
        let norm = t
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        t / norm
    };
    let d = directions.dims()[1];
    if d != c {
        return Err(SurveyError::Atlas(format!(
            "directions of length {d} for `{layer}`'s {c} units"
        )));
    }
    Ok(unit(at).matmul(unit(directions).transpose()))
}

/// `[n, 3, size, size]` images in [0, 1] from floats.
pub fn images_tensor<B: burn::tensor::backend::Backend>(
    pixels: &[f32],
    n: usize,
    size: usize,
    device: &B::Device,
) -> burn::tensor::Tensor<B, 4> {
    burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(pixels.to_vec(), [n, 3, size, size]),
        device,
    )
}
