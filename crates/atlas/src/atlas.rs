//! Activation-atlas grids (Carter et al. 2019, Lucid's recipe): normalise a 2-D layout to the
//! unit square with robust bounds, bin it into grids at several zoom levels, drop sparse cells
//! and average each remaining cell's vectors (the direction whose feature visualization becomes
//! the cell's icon). The [`Atlas`] serializes to a JSON document an article can embed as is.

use serde::{Deserialize, Serialize};

/// Identifies the JSON export format.
pub const FORMAT: &str = "modalscope-atlas/1";

/// Largest grid size accepted per level.
pub const MAX_GRID: u32 = 4096;

/// Errors from building, validating or reading an atlas.
#[derive(Debug, thiserror::Error)]
pub enum AtlasError {
    /// Inputs or a deserialized document are inconsistent.
    #[error("invalid atlas input: {0}")]
    Invalid(String),
    /// The JSON text could not be parsed or written.
    #[error("atlas JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How to grid a layout; `Default` is Lucid's recipe with three zoom levels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AtlasParams {
    /// Grid size (cells per side) of each zoom level ([10, 20, 40]; Lucid's single grid is 10).
    pub levels: Vec<u32>,
    /// Cells with this many vectors or fewer are dropped (5).
    pub min_count: usize,
    /// Robust bounds: this percentile and its mirror (1 → 1st–99th) per axis (1.0).
    pub percentile: f32,
    /// Extra room around the robust bounds, as a fraction of their range (0.1, as Lucid).
    pub margin: f32,
    /// Keep at most this many member indices per cell, the most central first (`None`: all).
    pub max_members: Option<usize>,
}

impl Default for AtlasParams {
    fn default() -> Self {
        Self {
            levels: vec![10, 20, 40],
            min_count: 5,
            percentile: 1.0,
            margin: 0.1,
            max_members: None,
        }
    }
}

/// The window of the raw layout mapped onto the unit square (points outside are clamped).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Raw coordinates mapped to (0, 0).
    pub min: [f32; 2],
    /// Raw coordinates mapped to (1, 1).
    pub max: [f32; 2],
}

impl Bounds {
    /// Maps a raw layout point into `[0, 1]²` (clamped; a degenerate axis maps to 0.5).
    pub fn normalize(&self, p: [f32; 2]) -> [f32; 2] {
        let f = |a: usize| {
            let range = self.max[a] - self.min[a];
            if range > 0.0 {
                ((p[a] - self.min[a]) / range).clamp(0.0, 1.0)
            } else {
                0.5
            }
        };
        [f(0), f(1)]
    }
}

/// The `q`-th percentile (0–100) of `values` with linear interpolation (numpy's default).
/// Returns NaN for an empty slice. Reorders `values`.
pub fn percentile(values: &mut [f32], q: f32) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    values.sort_by(f32::total_cmp);
    let pos = f64::from(q.clamp(0.0, 100.0)) / 100.0 * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let t = pos - lo as f64;
    (f64::from(values[lo]) * (1.0 - t) + f64::from(values[hi]) * t) as f32
}

/// Robust bounds of a layout as Lucid's `normalize_layout`: per axis the `percentile`-th and
/// `100 - percentile`-th percentiles widened by `margin` of their range, but never beyond the
/// data's own extent.
pub fn layout_bounds(layout: &[[f32; 2]], percentile_q: f32, margin: f32) -> Bounds {
    let mut min = [0.0; 2];
    let mut max = [0.0; 2];
    for a in 0..2 {
        let mut v: Vec<f32> = layout.iter().map(|p| p[a]).collect();
        if v.is_empty() {
            continue;
        }
        let lo = percentile(&mut v, percentile_q);
        let hi = percentile(&mut v, 100.0 - percentile_q);
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let r = hi - lo;
        min[a] = (lo - margin * r).max(v[0]);
        max[a] = (hi + margin * r).min(v[v.len() - 1]);
    }
    Bounds { min, max }
}

/// Column and row of the cell containing normalised point `p` in a `size x size` grid
/// (half-open cells, the last row and column closed). `None` outside `[0, 1]²`.
pub fn cell_index(size: u32, p: [f32; 2]) -> Option<(u32, u32)> {
    if size == 0 || !(0.0..=1.0).contains(&p[0]) || !(0.0..=1.0).contains(&p[1]) {
        return None;
    }
    let f = |v: f32| ((v * size as f32) as u32).min(size - 1);
    Some((f(p[0]), f(p[1])))
}

/// A neuron and its weight in a cell's mean vector.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeuronWeight {
    /// Neuron (component) index.
    pub neuron: u32,
    /// Its value in the mean vector.
    pub weight: f32,
}

/// One kept grid cell: its place, its vectors' mean and who is in it, plus fields the caller
/// fills later (top neurons, label, icon).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Index of the zoom level in [`Atlas::levels`].
    pub level: u32,
    /// Column (x bin, 0 at the left of the unit square).
    pub col: u32,
    /// Row (y bin, 0 at y = 0).
    pub row: u32,
    /// Number of vectors in the cell.
    pub count: u32,
    /// Mean of the cell's vectors (empty after [`Atlas::clear_means`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mean: Vec<f32>,
    /// Member point indices, the most central (in the layout) first; capped by
    /// [`AtlasParams::max_members`].
    pub members: Vec<u32>,
    /// Strongest neurons of the mean, filled by the caller (see [`Cell::top_neurons`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_neurons: Option<Vec<NeuronWeight>>,
    /// A text label, filled by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The icon's file name, filled by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// The value the icon's feature visualization reached on its objective (the cell's mean
    /// direction), filled by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_score: Option<f32>,
    /// How specific the icon is to its cell: the share of the level's other cells whose
    /// directions it matches less than its own (1: its own cell's best of all), filled by the
    /// caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_specificity: Option<f32>,
}

impl Cell {
    /// The `n` largest components of the mean vector, largest first (ties by index).
    pub fn top_neurons(&self, n: usize) -> Vec<NeuronWeight> {
        let mut v: Vec<NeuronWeight> = self
            .mean
            .iter()
            .enumerate()
            .map(|(i, &w)| NeuronWeight {
                neuron: i as u32,
                weight: w,
            })
            .collect();
        v.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.neuron.cmp(&b.neuron)));
        v.truncate(n);
        v
    }
}

/// One zoom level: a `size x size` grid and its kept cells, sorted by (row, col).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Cells per side.
    pub size: u32,
    /// Kept cells in (row, col) order.
    pub cells: Vec<Cell>,
}

impl Level {
    /// The kept cell at (col, row), if any.
    pub fn cell(&self, col: u32, row: u32) -> Option<&Cell> {
        self.position(col, row).map(|i| &self.cells[i])
    }

    /// Mutable access to the kept cell at (col, row), to fill its optional fields.
    pub fn cell_mut(&mut self, col: u32, row: u32) -> Option<&mut Cell> {
        self.position(col, row).map(|i| &mut self.cells[i])
    }

    /// Rectangle `[x0, y0, x1, y1]` of cell (col, row) in the unit square.
    pub fn cell_rect(&self, col: u32, row: u32) -> [f32; 4] {
        let s = self.size as f32;
        [
            col as f32 / s,
            row as f32 / s,
            (col + 1) as f32 / s,
            (row + 1) as f32 / s,
        ]
    }

    fn position(&self, col: u32, row: u32) -> Option<usize> {
        self.cells
            .binary_search_by(|c| (c.row, c.col).cmp(&(row, col)))
            .ok()
    }
}

/// A multi-level activation atlas and its export format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Atlas {
    /// Always [`FORMAT`].
    pub format: String,
    /// Length of each mean vector.
    pub dim: usize,
    /// Cells with this many vectors or fewer were dropped.
    pub min_count: usize,
    /// Raw-layout window mapped onto the unit square.
    pub bounds: Bounds,
    /// Every point's normalised position in `[0, 1]²`.
    pub layout: Vec<[f32; 2]>,
    /// Zoom levels, coarse to fine as given.
    pub levels: Vec<Level>,
}

impl Atlas {
    /// Bins `layout` (one raw 2-D point per vector) and averages `vectors` (`[n x dim]`
    /// row-major) per cell at every level of `params`.
    pub fn build(
        vectors: &[f32],
        dim: usize,
        layout: &[[f32; 2]],
        params: &AtlasParams,
    ) -> Result<Atlas, AtlasError> {
        let bad = |m: String| Err(AtlasError::Invalid(m));
        let n = layout.len();
        if dim == 0 {
            return bad("dimension 0".into());
        }
        if vectors.len() != n * dim {
            return bad(format!(
                "{} values for {n} layout points of dimension {dim}",
                vectors.len()
            ));
        }
        if n > u32::MAX as usize {
            return bad("more than 2^32 points".into());
        }
        if let Some(i) = layout
            .iter()
            .position(|p| !(p[0].is_finite() && p[1].is_finite()))
        {
            return bad(format!("layout point {i} is not finite"));
        }
        if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
            return bad(format!("vector {} has a non-finite value", i / dim));
        }
        if let Some(s) = params.levels.iter().find(|&&s| s == 0 || s > MAX_GRID) {
            return bad(format!("grid size {s} (needs 1..={MAX_GRID})"));
        }
        if !(0.0..50.0).contains(&params.percentile)
            || params.margin.is_nan()
            || params.margin < 0.0
        {
            return bad(format!(
                "percentile {} (needs 0..50) / margin {} (needs >= 0)",
                params.percentile, params.margin
            ));
        }
        let bounds = layout_bounds(layout, params.percentile, params.margin);
        let norm: Vec<[f32; 2]> = layout.iter().map(|&p| bounds.normalize(p)).collect();
        let mut levels = Vec::with_capacity(params.levels.len());
        for (li, &size) in params.levels.iter().enumerate() {
            let key = |i: usize| {
                let (c, r) = cell_index(size, norm[i]).expect("normalised points lie in [0, 1]");
                (r, c)
            };
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.sort_by_key(|&i| (key(i as usize), i));
            let mut cells = Vec::new();
            for group in order.chunk_by(|&a, &b| key(a as usize) == key(b as usize)) {
                if group.len() <= params.min_count {
                    continue;
                }
                let (row, col) = key(group[0] as usize);
                let mut acc = vec![0f64; dim];
                for &i in group {
                    let v = &vectors[i as usize * dim..(i as usize + 1) * dim];
                    acc.iter_mut().zip(v).for_each(|(a, &x)| *a += f64::from(x));
                }
                let mean = acc
                    .iter()
                    .map(|a| (a / group.len() as f64) as f32)
                    .collect();
                let s = size as f32;
                let centre = [(col as f32 + 0.5) / s, (row as f32 + 0.5) / s];
                let dist = |i: u32| {
                    let p = norm[i as usize];
                    (p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2)
                };
                let mut members = group.to_vec();
                members.sort_by(|&a, &b| dist(a).total_cmp(&dist(b)).then(a.cmp(&b)));
                if let Some(m) = params.max_members {
                    members.truncate(m);
                }
                cells.push(Cell {
                    level: li as u32,
                    col,
                    row,
                    count: group.len() as u32,
                    mean,
                    members,
                    top_neurons: None,
                    label: None,
                    icon: None,
                    icon_score: None,
                    icon_specificity: None,
                });
            }
            levels.push(Level { size, cells });
        }
        Ok(Atlas {
            format: FORMAT.to_string(),
            dim,
            min_count: params.min_count,
            bounds,
            layout: norm,
            levels,
        })
    }

    /// The kept cell under normalised point `(x, y)` at zoom `level`, if any.
    pub fn cell_at(&self, level: usize, x: f32, y: f32) -> Option<&Cell> {
        let l = self.levels.get(level)?;
        let (c, r) = cell_index(l.size, [x, y])?;
        l.cell(c, r)
    }

    /// The kept cell containing point `point` at zoom `level`, if any.
    pub fn cell_of_point(&self, level: usize, point: usize) -> Option<&Cell> {
        let p = self.layout.get(point)?;
        self.cell_at(level, p[0], p[1])
    }

    /// Fills every cell's `top_neurons` with the `n` largest components of its mean.
    pub fn fill_top_neurons(&mut self, n: usize) {
        for c in self.levels.iter_mut().flat_map(|l| l.cells.iter_mut()) {
            c.top_neurons = Some(c.top_neurons(n));
        }
    }

    /// Drops the mean vectors (e.g. once icons are rendered) to shrink the export.
    pub fn clear_means(&mut self) {
        for c in self.levels.iter_mut().flat_map(|l| l.cells.iter_mut()) {
            c.mean = Vec::new();
        }
    }

    /// Serializes to the JSON export format.
    pub fn to_json(&self) -> Result<String, AtlasError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Reads and [`validate`](Atlas::validate)s a JSON export.
    pub fn from_json(text: &str) -> Result<Atlas, AtlasError> {
        let a: Atlas = serde_json::from_str(text)?;
        a.validate()?;
        Ok(a)
    }

    /// Checks the invariants lookups rely on: format tag, cells sorted and in range, vector
    /// lengths, member indices.
    pub fn validate(&self) -> Result<(), AtlasError> {
        let bad = |m: String| Err(AtlasError::Invalid(m));
        if self.format != FORMAT {
            return bad(format!("format {:?}, expected {FORMAT:?}", self.format));
        }
        let n = self.layout.len();
        if let Some(i) = self
            .layout
            .iter()
            .position(|p| !((0.0..=1.0).contains(&p[0]) && (0.0..=1.0).contains(&p[1])))
        {
            return bad(format!("layout point {i} is outside the unit square"));
        }
        for (li, l) in self.levels.iter().enumerate() {
            if l.size == 0 || l.size > MAX_GRID {
                return bad(format!("level {li} has size {}", l.size));
            }
            for (ci, c) in l.cells.iter().enumerate() {
                if c.level as usize != li || c.col >= l.size || c.row >= l.size {
                    return bad(format!("level {li} cell {ci} is out of place"));
                }
                if ci > 0 && (l.cells[ci - 1].row, l.cells[ci - 1].col) >= (c.row, c.col) {
                    return bad(format!("level {li} cells are not sorted by (row, col)"));
                }
                if !c.mean.is_empty() && c.mean.len() != self.dim {
                    return bad(format!(
                        "level {li} cell {ci} mean has length {}",
                        c.mean.len()
                    ));
                }
                if c.members.len() > c.count as usize || c.members.iter().any(|&m| m as usize >= n)
                {
                    return bad(format!("level {li} cell {ci} has bad members"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random_input(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<[f32; 2]>) {
        let mut rng = Rng::new(seed);
        let v = (0..n * dim).map(|_| rng.normal() as f32).collect();
        // A dense core plus a few far outliers that robust bounds must not let stretch the map.
        let l = (0..n)
            .map(|i| {
                if i % 97 == 0 {
                    [1000.0 * rng.normal() as f32, -500.0]
                } else {
                    [rng.normal() as f32 * 3.0, rng.normal() as f32 + 7.0]
                }
            })
            .collect();
        (v, l)
    }

    #[test]
    fn percentiles_follow_numpy() {
        let mut v = [4.0f32, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(percentile(&mut v, 0.0), 1.0);
        assert_eq!(percentile(&mut v, 50.0), 3.0);
        assert_eq!(percentile(&mut v, 100.0), 5.0);
        assert!((percentile(&mut v, 10.0) - 1.4).abs() < 1e-6); // numpy: 1.4
        assert!((percentile(&mut v, 99.0) - 4.96).abs() < 1e-6); // numpy: 4.96
        assert!(percentile(&mut [], 5.0).is_nan());
    }

    #[test]
    fn counts_add_up_means_are_right_and_sparse_cells_dropped() {
        let (dim, n) = (7, 3000);
        let (v, l) = random_input(n, dim, 1);
        let params = AtlasParams {
            levels: vec![4, 10, 33],
            ..Default::default()
        };
        let a = Atlas::build(&v, dim, &l, &params).unwrap();
        assert_eq!(a.levels.len(), 3);
        assert!(a.layout.iter().flatten().all(|x| (0.0..=1.0).contains(x)));
        for (li, level) in a.levels.iter().enumerate() {
            // Recount every cell independently from the normalised layout.
            let mut bins = std::collections::BTreeMap::<(u32, u32), Vec<usize>>::new();
            for (i, p) in a.layout.iter().enumerate() {
                bins.entry(cell_index(level.size, *p).unwrap())
                    .or_default()
                    .push(i);
            }
            let kept: usize = bins.values().filter(|m| m.len() > 5).map(Vec::len).sum();
            let counted: usize = level.cells.iter().map(|c| c.count as usize).sum();
            assert_eq!(counted, kept, "level {li}");
            let dropped = bins.values().filter(|m| m.len() <= 5).count();
            assert_eq!(level.cells.len() + dropped, bins.len());
            if li == 2 {
                assert!(dropped > 0, "the finest grid should have sparse cells");
            }
            for c in &level.cells {
                let m = &bins[&(c.col, c.row)];
                assert_eq!(c.count as usize, m.len());
                let mut members = c.members.iter().map(|&x| x as usize).collect::<Vec<_>>();
                members.sort_unstable();
                assert_eq!(&members, m);
                for d in 0..dim {
                    let want =
                        m.iter().map(|&i| f64::from(v[i * dim + d])).sum::<f64>() / m.len() as f64;
                    assert!((f64::from(c.mean[d]) - want).abs() < 1e-6);
                }
            }
        }
        // Outliers are clamped to the border, not allowed to squash the core.
        let core_span = a
            .layout
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 97 != 0)
            .map(|(_, p)| p[0])
            .fold((1f32, 0f32), |(lo, hi), x| (lo.min(x), hi.max(x)));
        assert!(core_span.1 - core_span.0 > 0.8, "{core_span:?}");
    }

    #[test]
    fn min_count_filters_exactly() {
        // Level 2x2: 3 points bottom-left, 6 top-right, 5 bottom-right, 1 top-left.
        let pts: Vec<[f32; 2]> = [
            ([0.1f32, 0.1f32], 3),
            ([0.9, 0.9], 6),
            ([0.9, 0.1], 5),
            ([0.1, 0.9], 1),
        ]
        .iter()
        .flat_map(|&(p, k)| std::iter::repeat_n(p, k))
        .chain([[0.0, 0.0], [1.0, 1.0]]) // pin the bounds to the unit square
        .collect();
        let v: Vec<f32> = (0..pts.len()).map(|i| i as f32).collect();
        let build = |min_count| {
            Atlas::build(
                &v,
                1,
                &pts,
                &AtlasParams {
                    levels: vec![2],
                    min_count,
                    percentile: 0.0,
                    margin: 0.0,
                    max_members: Some(2),
                },
            )
            .unwrap()
        };
        let counts = |a: &Atlas| {
            a.levels[0]
                .cells
                .iter()
                .map(|c| (c.col, c.row, c.count))
                .collect::<Vec<_>>()
        };
        // Bottom-left holds 3 + the pinned (0,0); top-right 6 + the pinned (1,1).
        assert_eq!(counts(&build(5)), vec![(1, 1, 7)]);
        assert_eq!(counts(&build(4)), vec![(1, 0, 5), (1, 1, 7)]);
        assert_eq!(
            counts(&build(0)),
            vec![(0, 0, 4), (1, 0, 5), (0, 1, 1), (1, 1, 7)]
        );
        let a = build(0);
        // Members are capped, most central first: the (0.9, 0.1) points sit 0.15 from the centre
        // of cell (1, 0) and tie, so the lowest indices come first.
        assert_eq!(a.levels[0].cell(1, 0).unwrap().members, vec![9, 10]);
        assert_eq!(
            a.levels[0].cell(0, 0).unwrap().mean,
            vec![(1 + 2 + 15) as f32 / 4.0]
        );
    }

    #[test]
    fn lookups_are_consistent_and_json_round_trips() {
        let (dim, n) = (5, 1500);
        let (v, l) = random_input(n, dim, 2);
        let mut a = Atlas::build(&v, dim, &l, &AtlasParams::default()).unwrap();
        for (li, level) in a.levels.iter().enumerate() {
            for c in &level.cells {
                let r = level.cell_rect(c.col, c.row);
                let mid = [(r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0];
                assert_eq!(a.cell_at(li, mid[0], mid[1]), Some(c));
                for &m in &c.members {
                    assert_eq!(a.cell_of_point(li, m as usize), Some(c));
                }
            }
            for i in 0..n {
                match a.cell_of_point(li, i) {
                    Some(c) => assert!(c.members.contains(&(i as u32))),
                    None => {
                        let (col, row) = cell_index(level.size, a.layout[i]).unwrap();
                        assert!(level.cell(col, row).is_none());
                    }
                }
            }
        }
        assert!(a.cell_at(0, 1.5, 0.5).is_none());
        assert!(a.cell_at(9, 0.5, 0.5).is_none());
        assert_eq!(cell_index(10, [1.0, 0.0]), Some((9, 0)));
        assert_eq!(cell_index(10, [0.0999, 0.1]), Some((0, 1)));

        a.fill_top_neurons(3);
        let c = &mut a.levels[0].cells[0];
        let top = c.top_neurons.clone().unwrap();
        assert_eq!(top.len(), 3);
        assert!(top[0].weight >= top[1].weight && top[1].weight >= top[2].weight);
        assert!(c.mean.iter().all(|&w| w <= top[0].weight));
        c.label = Some("dogs".into());
        c.icon = Some("icons/0-0-0.png".into());
        c.icon_score = Some(0.75);
        c.icon_specificity = Some(0.5);
        let json = a.to_json().unwrap();
        let back = Atlas::from_json(&json).unwrap();
        assert_eq!(back, a);
        a.clear_means();
        let small = a.to_json().unwrap();
        assert!(small.len() < json.len());
        assert_eq!(Atlas::from_json(&small).unwrap(), a);
        // Unsorted cells and foreign formats are refused.
        let mut broken = back.clone();
        broken.levels[0].cells.reverse();
        assert!(Atlas::from_json(&broken.to_json().unwrap()).is_err());
        assert!(Atlas::from_json(&json.replace(FORMAT, "other/9")).is_err());
        assert!(Atlas::from_json("{").is_err());
    }

    #[test]
    fn input_errors_and_empty_input() {
        let p = AtlasParams::default();
        assert!(Atlas::build(&[1.0; 3], 2, &[[0.0, 0.0]], &p).is_err());
        assert!(Atlas::build(&[1.0; 2], 0, &[[0.0, 0.0]], &p).is_err());
        assert!(Atlas::build(&[1.0; 2], 2, &[[f32::NAN, 0.0]], &p).is_err());
        assert!(Atlas::build(&[f32::INFINITY, 1.0], 2, &[[0.0, 0.0]], &p).is_err());
        let zero = AtlasParams {
            levels: vec![0],
            ..AtlasParams::default()
        };
        assert!(Atlas::build(&[1.0; 2], 2, &[[0.0, 0.0]], &zero).is_err());
        let empty = Atlas::build(&[], 4, &[], &p).unwrap();
        assert!(empty.levels.iter().all(|l| l.cells.is_empty()));
        // All points on one spot: a degenerate axis maps to the centre.
        let a = Atlas::build(&[1.0; 20], 2, &[[3.0, 3.0]; 10], &p).unwrap();
        assert!(a.layout.iter().all(|q| *q == [0.5, 0.5]));
        assert_eq!(a.levels[0].cells.len(), 1);
        assert_eq!(a.levels[0].cells[0].count, 10);
    }
}
