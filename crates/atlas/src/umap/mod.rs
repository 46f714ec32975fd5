//! UMAP (McInnes, Healy & Melville 2018) to two dimensions, following umap-learn's defaults
//! and algorithm step by step: kNN graph (exact below 4096 points, NN-descent above), smooth
//! kNN distances, fuzzy union, `a, b` fitted from `min_dist`/`spread`, spectral initialisation
//! and SGD with negative sampling. Single-threaded and deterministic: the same input, parameters
//! and seed give bit-identical output on the same platform. [`UmapStepper`] runs the same
//! computation a bounded piece at a time, for callers that must give control back in between
//! (a browser worker that answers a cancel); however it is split, the layout is the same.

mod graph;
mod init;
mod knn;
mod layout;
mod trust;

use serde::{Deserialize, Serialize};

pub use graph::{FuzzyGraph, fuzzy_simplicial_set, smooth_knn_dist};
pub use init::Init;
pub use knn::{EXACT_LIMIT, KnnGraph, KnnMethod, nearest_neighbors};
pub use layout::find_ab_params;
pub use trust::trustworthiness;

use crate::rng::Rng;

/// Errors from UMAP and its quality measures.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UmapError {
    /// The data slice does not fit the stated dimension, or is otherwise unusable.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A parameter is out of range.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// A precomputed neighbour graph is inconsistent.
    #[error("invalid neighbour graph: {0}")]
    InvalidGraph(String),
    /// PCA initialisation was asked for without the raw vectors.
    #[error("PCA initialisation needs the data vectors; use spectral or random with a graph")]
    InitNeedsData,
    /// The progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,
}

/// Distance between input vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// Euclidean distance.
    #[default]
    Euclidean,
    /// Cosine distance `1 - cos(u, v)` (a zero vector is 0.5 from every non-zero vector).
    Cosine,
}

/// UMAP settings; `Default` gives umap-learn's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UmapParams {
    /// Neighbourhood size, counting the point itself as umap-learn does (15).
    pub n_neighbors: usize,
    /// Smallest distance between points in the layout (0.1).
    pub min_dist: f32,
    /// Scale of the layout's spread (1.0).
    pub spread: f32,
    /// Input metric (euclidean).
    pub metric: Metric,
    /// SGD epochs; `None` is 500 up to 10,000 points and 200 above, as umap-learn.
    pub n_epochs: Option<usize>,
    /// Initial SGD learning rate, decayed linearly to 0 (1.0).
    pub learning_rate: f32,
    /// Negative samples per positive sample (5).
    pub negative_sample_rate: usize,
    /// Weight of the repulsive term (1.0).
    pub repulsion_strength: f32,
    /// 1 = fuzzy union of the directed graphs, 0 = intersection (1.0).
    pub set_op_mix_ratio: f32,
    /// Nearest neighbours assumed locally connected (1.0).
    pub local_connectivity: f32,
    /// Initial layout (spectral).
    pub init: Init,
    /// Exact or approximate neighbours (auto).
    pub knn: KnnMethod,
    /// Seed of every random choice (42).
    pub seed: u64,
}

impl Default for UmapParams {
    fn default() -> Self {
        Self {
            n_neighbors: 15,
            min_dist: 0.1,
            spread: 1.0,
            metric: Metric::Euclidean,
            n_epochs: None,
            learning_rate: 1.0,
            negative_sample_rate: 5,
            repulsion_strength: 1.0,
            set_op_mix_ratio: 1.0,
            local_connectivity: 1.0,
            init: Init::Spectral,
            knn: KnnMethod::Auto,
            seed: 42,
        }
    }
}

impl UmapParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), UmapError> {
        let bad = |m: String| Err(UmapError::InvalidParams(m));
        if self.n_neighbors < 2 {
            return bad(format!("n_neighbors = {} (needs >= 2)", self.n_neighbors));
        }
        if !(self.spread > 0.0 && self.spread.is_finite()) {
            return bad(format!("spread = {} (needs > 0)", self.spread));
        }
        if !(self.min_dist >= 0.0 && self.min_dist <= self.spread) {
            return bad(format!(
                "min_dist = {} (needs 0 <= min_dist <= spread = {})",
                self.min_dist, self.spread
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!("learning_rate = {}", self.learning_rate));
        }
        if self.negative_sample_rate == 0 {
            return bad("negative_sample_rate = 0".into());
        }
        if !(self.repulsion_strength >= 0.0 && self.repulsion_strength.is_finite()) {
            return bad(format!("repulsion_strength = {}", self.repulsion_strength));
        }
        if !(0.0..=1.0).contains(&self.set_op_mix_ratio) {
            return bad(format!("set_op_mix_ratio = {}", self.set_op_mix_ratio));
        }
        if !(self.local_connectivity >= 0.0 && self.local_connectivity.is_finite()) {
            return bad(format!("local_connectivity = {}", self.local_connectivity));
        }
        Ok(())
    }

    /// The epoch count used for `n` points.
    pub fn epochs_for(&self, n: usize) -> usize {
        self.n_epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 })
    }
}

/// Calls `progress`, turning a `false` answer into [`UmapError::Cancelled`].
pub(crate) fn check_progress(
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
    stage: &str,
    done: usize,
    total: usize,
) -> Result<(), UmapError> {
    if progress(stage, done, total) {
        Ok(())
    } else {
        Err(UmapError::Cancelled)
    }
}

/// Number of rows of `data` with `dim` columns, refusing ragged or non-finite input.
pub(crate) fn check_data(data: &[f32], dim: usize) -> Result<usize, UmapError> {
    if dim == 0 {
        return Err(UmapError::InvalidData("dimension 0".into()));
    }
    if !data.len().is_multiple_of(dim) {
        return Err(UmapError::InvalidData(format!(
            "{} values do not split into rows of {dim}",
            data.len()
        )));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(UmapError::InvalidData(format!(
            "value {} at row {}, column {} is not finite",
            data[i],
            i / dim,
            i % dim
        )));
    }
    if data.len() / dim > u32::MAX as usize {
        return Err(UmapError::InvalidData("more than 2^32 points".into()));
    }
    Ok(data.len() / dim)
}

/// 2-D UMAP layout of the `data.len() / dim` vectors in `data` (row-major).
pub fn fit(data: &[f32], dim: usize, params: &UmapParams) -> Result<Vec<[f32; 2]>, UmapError> {
    fit_with_progress(data, dim, params, &mut |_, _, _| true)
}

/// [`fit`] reporting `(stage, done, total)` for stages `"knn"`, `"init"` and `"optimize"`;
/// when `progress` returns false the run stops promptly with [`UmapError::Cancelled`].
///
/// Fewer than `n_neighbors` points use all other points as neighbours; 0 points give an empty
/// layout and 1 point the origin.
pub fn fit_with_progress(
    data: &[f32],
    dim: usize,
    params: &UmapParams,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<Vec<[f32; 2]>, UmapError> {
    UmapStepper::new(data, dim, params)?.run_with_progress(progress)
}

/// UMAP layout from a precomputed neighbour graph (e.g. from an external index); `params`'
/// `n_neighbors`, `metric` and `knn` are not used, and `init` must not be [`Init::Pca`].
pub fn fit_graph(
    knn: &KnnGraph,
    params: &UmapParams,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<Vec<[f32; 2]>, UmapError> {
    UmapStepper::from_graph(knn.clone(), params)?.run_with_progress(progress)
}

/// A UMAP run that advances a bounded piece at a time, for callers that must give control back
/// between pieces (a browser worker answering a cancel): [`step`](Self::step) does at most
/// about 4M multiply-adds of the neighbour search, ten power iterations of the spectral
/// initialisation, or one SGD epoch. However the run is split, the layout is bit-identical to
/// [`fit_with_progress`]'s for the same input and parameters (which runs one).
pub struct UmapStepper<'a> {
    params: UmapParams,
    data: Option<(&'a [f32], usize)>,
    n: usize,
    stage: Stage<'a>,
}

enum Stage<'a> {
    Knn(knn::KnnSearch<'a>),
    /// The neighbours are known: the fuzzy graph is next.
    Graph(KnnGraph),
    Init {
        graph: FuzzyGraph,
        init: init::Initializer,
        rng: Rng,
    },
    Optimize {
        sgd: layout::Optimizer,
        emb: Vec<[f32; 2]>,
        rng: Rng,
    },
    Done(Vec<[f32; 2]>),
}

impl<'a> UmapStepper<'a> {
    /// Checks the parameters and the data (`[n x dim]` row-major) and prepares the run; no
    /// work is done until [`step`](Self::step).
    pub fn new(data: &'a [f32], dim: usize, params: &UmapParams) -> Result<Self, UmapError> {
        params.validate()?;
        let n = check_data(data, dim)?;
        let stage = if n <= 1 {
            Stage::Done(vec![[0.0, 0.0]; n])
        } else {
            let k = (params.n_neighbors - 1).min(n - 1);
            Stage::Knn(knn::KnnSearch::new(
                data,
                dim,
                k,
                params.metric,
                params.knn,
                params.seed,
            )?)
        };
        Ok(Self {
            params: params.clone(),
            data: Some((data, dim)),
            n,
            stage,
        })
    }

    /// A run from a precomputed neighbour graph, as [`fit_graph`].
    pub fn from_graph(knn: KnnGraph, params: &UmapParams) -> Result<Self, UmapError> {
        params.validate()?;
        if params.init == Init::Pca {
            return Err(UmapError::InitNeedsData);
        }
        let n = knn.n();
        let stage = if n <= 1 {
            Stage::Done(vec![[0.0, 0.0]; n])
        } else {
            Stage::Graph(knn)
        };
        Ok(Self {
            params: params.clone(),
            data: None,
            n,
            stage,
        })
    }

    /// The stage (`"knn"`, `"init"` or `"optimize"`), the work done in it and its total.
    pub fn progress(&self) -> (&'static str, usize, usize) {
        match &self.stage {
            Stage::Knn(s) => {
                let (done, total) = s.progress();
                ("knn", done, total)
            }
            Stage::Graph(_) => ("init", 0, self.n),
            Stage::Init { graph, init, .. } => {
                let (done, total) = init.progress(graph);
                ("init", done, total)
            }
            Stage::Optimize { sgd, .. } => ("optimize", sgd.epoch(), sgd.n_epochs()),
            Stage::Done(_) => {
                let epochs = self.params.epochs_for(self.n);
                ("optimize", epochs, epochs)
            }
        }
    }

    /// Whether the layout is ready.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// Does one bounded piece of the run (nothing once it is done).
    pub fn step(&mut self) {
        let stage = std::mem::replace(&mut self.stage, Stage::Done(Vec::new()));
        self.stage = match stage {
            Stage::Knn(mut search) => {
                search.step();
                if search.is_done() {
                    Stage::Graph(search.finish())
                } else {
                    Stage::Knn(search)
                }
            }
            Stage::Graph(knn) => Stage::Init {
                graph: fuzzy_simplicial_set(
                    &knn,
                    f64::from(self.params.local_connectivity),
                    f64::from(self.params.set_op_mix_ratio),
                ),
                init: init::Initializer::new(self.params.init),
                rng: Rng::new(self.params.seed),
            },
            Stage::Init {
                graph,
                mut init,
                mut rng,
            } => {
                if init.is_done() {
                    self.start_sgd(&graph, init.finish(), rng)
                } else {
                    init.step(&graph, self.data, &mut rng);
                    Stage::Init { graph, init, rng }
                }
            }
            Stage::Optimize {
                mut sgd,
                mut emb,
                mut rng,
            } => {
                sgd.run(&mut emb, &mut rng, 1);
                if sgd.is_done() {
                    Stage::Done(emb)
                } else {
                    Stage::Optimize { sgd, emb, rng }
                }
            }
            done @ Stage::Done(_) => done,
        };
    }

    /// Runs up to `steps` more steps; returns whether the layout is ready.
    pub fn run(&mut self, steps: usize) -> bool {
        for _ in 0..steps {
            if self.is_done() {
                break;
            }
            self.step();
        }
        self.is_done()
    }

    /// The layout once [`is_done`](Self::is_done).
    pub fn layout(&self) -> Option<&[[f32; 2]]> {
        match &self.stage {
            Stage::Done(emb) => Some(emb),
            _ => None,
        }
    }

    /// The layout, once [`is_done`](Self::is_done).
    pub fn into_layout(self) -> Option<Vec<[f32; 2]>> {
        match self.stage {
            Stage::Done(emb) => Some(emb),
            _ => None,
        }
    }

    /// Runs to the end, reporting progress before every step; `progress` returning false
    /// stops the run with [`UmapError::Cancelled`].
    pub fn run_with_progress(
        mut self,
        progress: &mut dyn FnMut(&str, usize, usize) -> bool,
    ) -> Result<Vec<[f32; 2]>, UmapError> {
        if let Stage::Done(emb) = self.stage {
            // Nothing to lay out (0 or 1 point).
            return Ok(emb);
        }
        loop {
            let (stage, done, total) = self.progress();
            check_progress(progress, stage, done, total)?;
            if self.is_done() {
                return Ok(self.into_layout().unwrap_or_default());
            }
            self.step();
        }
    }

    /// The initial layout rescaled to [0, 10] per axis (as umap-learn before SGD) and the SGD
    /// prepared.
    fn start_sgd(&self, graph: &FuzzyGraph, coords: Vec<[f64; 2]>, mut rng: Rng) -> Stage<'a> {
        let n = self.n;
        let params = &self.params;
        let mut emb = vec![[0f32; 2]; n];
        for axis in 0..2 {
            let (lo, hi) = coords
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), c| {
                    (l.min(c[axis]), h.max(c[axis]))
                });
            let range = hi - lo;
            for (e, c) in emb.iter_mut().zip(&coords) {
                e[axis] = if range > 0.0 && range.is_finite() {
                    (10.0 * (c[axis] - lo) / range) as f32
                } else {
                    rng.unit_f32() * 10.0
                };
            }
        }
        let (a, b) = find_ab_params(params.spread, params.min_dist);
        let sgd = layout::SgdParams {
            a,
            b,
            gamma: params.repulsion_strength,
            learning_rate: params.learning_rate,
            negative_sample_rate: params.negative_sample_rate,
            n_epochs: params.epochs_for(n),
        };
        let sgd = layout::Optimizer::new(graph, n, &sgd);
        if sgd.is_done() {
            Stage::Done(emb)
        } else {
            Stage::Optimize { sgd, emb, rng }
        }
    }
}

#[cfg(test)]
mod tests;
