//! Streaming top-k "dataset examples": for every neuron of a layer, the k images that drive it
//! most, found in one pass over an image set with memory bounded by k per neuron.
//!
//! Entries are ranked by score (descending), then image id (ascending), then position
//! (ascending), so ties are resolved the same way whatever order images arrive in, and merging
//! partial results (one per worker or per shard) gives exactly what a single pass gives.
//! Non-finite scores (NaN, ±inf) are skipped and counted in [`NeuronStats::skipped`].

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Errors from feeding or combining [`TopK`] accumulators.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopKError {
    /// A slice had the wrong length for the accumulator's number of neurons.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        /// Which argument was wrong.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// Two accumulators with different shapes cannot be merged.
    #[error(
        "cannot merge top-k of {a_neurons} neurons (k={a_k}) with {b_neurons} neurons (k={b_k})"
    )]
    Shape {
        /// Neurons of the receiving accumulator.
        a_neurons: usize,
        /// k of the receiving accumulator.
        a_k: usize,
        /// Neurons of the other accumulator.
        b_neurons: usize,
        /// k of the other accumulator.
        b_k: usize,
    },
    /// A deserialized accumulator is inconsistent.
    #[error("invalid top-k data: {0}")]
    Invalid(String),
}

/// One dataset example: an image, its activation score for the neuron and where it peaked.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Caller-chosen image id (an index into the image set).
    pub image: u32,
    /// The neuron's activation for the image (e.g. the spatial maximum).
    pub score: f32,
    /// Spatial position of the peak (token or `y * w + x`); 0 when not spatial.
    pub position: u32,
}

impl Entry {
    /// Rank order: `Less` means `self` is the better example (higher score, then lower image id,
    /// then lower position). Scores compare by `total_cmp`, so -0.0 ranks just below 0.0.
    pub fn rank_cmp(&self, other: &Entry) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.image.cmp(&other.image))
            .then(self.position.cmp(&other.position))
    }
}

/// Running statistics of one neuron's scores over every image pushed (for UI normalisation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NeuronStats {
    count: u64,
    skipped: u64,
    mean: f64,
    m2: f64,
    min: f32,
    max: f32,
}

impl NeuronStats {
    fn add(&mut self, x: f32) {
        if !x.is_finite() {
            self.skipped += 1;
            return;
        }
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        let xd = f64::from(x);
        let delta = xd - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (xd - self.mean);
    }

    fn merge(&mut self, o: &NeuronStats) {
        self.skipped += o.skipped;
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            let skipped = self.skipped;
            *self = o.clone();
            self.skipped = skipped;
            return;
        }
        let n = (self.count + o.count) as f64;
        let delta = o.mean - self.mean;
        self.mean += delta * o.count as f64 / n;
        self.m2 += o.m2 + delta * delta * self.count as f64 * o.count as f64 / n;
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Number of finite scores seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Number of non-finite scores skipped.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Mean score, if any score was seen.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    /// Population variance of the scores, if any score was seen.
    pub fn variance(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.m2 / self.count as f64).max(0.0))
    }

    /// Population standard deviation of the scores, if any score was seen.
    pub fn std(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// Smallest score, if any score was seen.
    pub fn min(&self) -> Option<f32> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest score, if any score was seen.
    pub fn max(&self) -> Option<f32> {
        (self.count > 0).then_some(self.max)
    }
}

/// How a spatial activation map is laid out in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpatialLayout {
    /// `[neurons, positions]`, as a ResNet `[C, H, W]` map of one image.
    NeuronMajor,
    /// `[positions, neurons]`, as ViT tokens `[tokens, width]` of one image.
    PositionMajor,
}

/// Reduces one image's spatial map to a per-neuron maximum and its position (first maximum;
/// non-finite values are ignored, a neuron with none finite gets NaN at position 0).
pub fn reduce_spatial(
    activations: &[f32],
    neurons: usize,
    positions: usize,
    layout: SpatialLayout,
) -> Result<(Vec<f32>, Vec<u32>), TopKError> {
    let expected = neurons * positions;
    if activations.len() != expected {
        return Err(TopKError::Length {
            what: "activations",
            expected,
            got: activations.len(),
        });
    }
    let mut best = vec![f32::NAN; neurons];
    let mut arg = vec![0u32; neurons];
    let mut visit = |n: usize, p: usize, v: f32| {
        if v.is_finite() && (best[n].is_nan() || v > best[n]) {
            best[n] = v;
            arg[n] = p as u32;
        }
    };
    match layout {
        SpatialLayout::NeuronMajor => {
            for (n, row) in activations.chunks_exact(positions.max(1)).enumerate() {
                for (p, &v) in row.iter().enumerate() {
                    visit(n, p, v);
                }
            }
        }
        SpatialLayout::PositionMajor => {
            for (p, row) in activations.chunks_exact(neurons.max(1)).enumerate() {
                for (n, &v) in row.iter().enumerate() {
                    visit(n, p, v);
                }
            }
        }
    }
    Ok((best, arg))
}

/// Per-neuron top-k accumulator with running statistics; serializes best-first per neuron.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TopKData", into = "TopKData")]
pub struct TopK {
    k: usize,
    /// One binary heap per neuron, worst entry at index 0.
    heaps: Vec<Vec<Entry>>,
    stats: Vec<NeuronStats>,
}

/// Serialized form of [`TopK`]: entries sorted best-first per neuron.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TopKData {
    neurons: usize,
    k: usize,
    entries: Vec<Vec<Entry>>,
    stats: Vec<NeuronStats>,
}

impl From<TopK> for TopKData {
    fn from(t: TopK) -> Self {
        let neurons = t.neurons();
        let entries = (0..neurons).map(|n| t.entries(n)).collect();
        TopKData {
            neurons,
            k: t.k,
            entries,
            stats: t.stats,
        }
    }
}

impl TryFrom<TopKData> for TopK {
    type Error = TopKError;

    fn try_from(d: TopKData) -> Result<Self, TopKError> {
        if d.entries.len() != d.neurons || d.stats.len() != d.neurons {
            return Err(TopKError::Invalid(format!(
                "{} neurons but {} entry lists and {} stats",
                d.neurons,
                d.entries.len(),
                d.stats.len()
            )));
        }
        let mut t = TopK::new(d.neurons, d.k);
        for (n, list) in d.entries.into_iter().enumerate() {
            if list.len() > d.k {
                return Err(TopKError::Invalid(format!(
                    "neuron {n} has {} entries, more than k={}",
                    list.len(),
                    d.k
                )));
            }
            if let Some(e) = list.iter().find(|e| !e.score.is_finite()) {
                return Err(TopKError::Invalid(format!(
                    "neuron {n} has a non-finite score {}",
                    e.score
                )));
            }
            for e in list {
                t.offer(n, e);
            }
        }
        t.stats = d.stats;
        Ok(t)
    }
}

impl TopK {
    /// An empty accumulator for `neurons` neurons keeping the best `k` images of each.
    pub fn new(neurons: usize, k: usize) -> Self {
        Self {
            k,
            heaps: (0..neurons)
                .map(|_| Vec::with_capacity(k.min(1024)))
                .collect(),
            stats: vec![NeuronStats::default(); neurons],
        }
    }

    /// Number of neurons tracked.
    pub fn neurons(&self) -> usize {
        self.heaps.len()
    }

    /// Number of examples kept per neuron.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Records one image: `scores[n]` is neuron n's activation, `positions[n]` (if given) where
    /// it peaked.
    pub fn push(
        &mut self,
        image: u32,
        scores: &[f32],
        positions: Option<&[u32]>,
    ) -> Result<(), TopKError> {
        self.check_len("scores", scores.len())?;
        if let Some(p) = positions {
            self.check_len("positions", p.len())?;
        }
        self.push_with(image, scores, |n| positions.map_or(0, |p| p[n]))
    }

    /// Records one image, asking `position(n)` for the peak position only when neuron n's
    /// score enters its top k (so an expensive argmax is computed rarely).
    pub fn push_with(
        &mut self,
        image: u32,
        scores: &[f32],
        mut position: impl FnMut(usize) -> u32,
    ) -> Result<(), TopKError> {
        self.check_len("scores", scores.len())?;
        for (n, &score) in scores.iter().enumerate() {
            self.stats[n].add(score);
            if score.is_finite() && self.admits(n, score, image) {
                let e = Entry {
                    image,
                    score,
                    position: position(n),
                };
                self.offer(n, e);
            }
        }
        Ok(())
    }

    /// Records a batch: `scores` is `[images.len() x neurons]` row-major, `positions` (if
    /// given) the matching peak positions.
    pub fn push_batch(
        &mut self,
        images: &[u32],
        scores: &[f32],
        positions: Option<&[u32]>,
    ) -> Result<(), TopKError> {
        let neurons = self.neurons();
        let expected = images.len() * neurons;
        if scores.len() != expected {
            return Err(TopKError::Length {
                what: "scores",
                expected,
                got: scores.len(),
            });
        }
        if let Some(p) = positions
            && p.len() != expected
        {
            return Err(TopKError::Length {
                what: "positions",
                expected,
                got: p.len(),
            });
        }
        if neurons == 0 {
            return Ok(());
        }
        for (i, (&image, row)) in images.iter().zip(scores.chunks_exact(neurons)).enumerate() {
            let base = i * neurons;
            self.push_with(image, row, |n| positions.map_or(0, |p| p[base + n]))?;
        }
        Ok(())
    }

    /// Records one image from its spatial map: each neuron scores its maximum over positions and
    /// remembers where (see [`reduce_spatial`]).
    pub fn push_spatial(
        &mut self,
        image: u32,
        activations: &[f32],
        positions: usize,
        layout: SpatialLayout,
    ) -> Result<(), TopKError> {
        let (scores, arg) = reduce_spatial(activations, self.neurons(), positions, layout)?;
        self.push(image, &scores, Some(&arg))
    }

    /// Folds another accumulator (e.g. another worker's share of the images) into this one.
    pub fn merge(&mut self, other: &TopK) -> Result<(), TopKError> {
        if other.neurons() != self.neurons() || other.k != self.k {
            return Err(TopKError::Shape {
                a_neurons: self.neurons(),
                a_k: self.k,
                b_neurons: other.neurons(),
                b_k: other.k,
            });
        }
        for n in 0..self.neurons() {
            for &e in &other.heaps[n] {
                if self.admits(n, e.score, e.image) {
                    self.offer(n, e);
                }
            }
            self.stats[n].merge(&other.stats[n]);
        }
        Ok(())
    }

    /// The best examples of `neuron`, best first. Panics if `neuron >= self.neurons()`.
    pub fn entries(&self, neuron: usize) -> Vec<Entry> {
        let mut v = self.heaps[neuron].clone();
        v.sort_by(Entry::rank_cmp);
        v
    }

    /// Running statistics of `neuron`. Panics if `neuron >= self.neurons()`.
    pub fn stats(&self, neuron: usize) -> &NeuronStats {
        &self.stats[neuron]
    }

    /// The score an image must beat to enter `neuron`'s top k (`None` while fewer than k are
    /// kept). Panics if `neuron >= self.neurons()`.
    pub fn threshold(&self, neuron: usize) -> Option<f32> {
        let h = &self.heaps[neuron];
        (self.k > 0 && h.len() == self.k).then(|| h[0].score)
    }

    fn check_len(&self, what: &'static str, got: usize) -> Result<(), TopKError> {
        if got != self.neurons() {
            return Err(TopKError::Length {
                what,
                expected: self.neurons(),
                got,
            });
        }
        Ok(())
    }

    /// Cheap test whether an entry with this score and image could enter the heap (positions
    /// only break exact (score, image) ties, which [`TopK::offer`] settles).
    fn admits(&self, n: usize, score: f32, image: u32) -> bool {
        let h = &self.heaps[n];
        if h.len() < self.k {
            return true;
        }
        if self.k == 0 {
            return false;
        }
        let worst = &h[0];
        match worst.score.total_cmp(&score) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => image <= worst.image,
        }
    }

    /// Inserts `e` into neuron n's heap if it ranks above the current worst.
    fn offer(&mut self, n: usize, e: Entry) {
        let k = self.k;
        let h = &mut self.heaps[n];
        if h.len() < k {
            h.push(e);
            let last = h.len() - 1;
            sift_up(h, last);
        } else if k > 0 && e.rank_cmp(&h[0]) == Ordering::Less {
            h[0] = e;
            sift_down(h, 0);
        }
    }
}

/// `a` should sit above `b` in the heap: `a` ranks worse.
fn worse(a: &Entry, b: &Entry) -> bool {
    a.rank_cmp(b) == Ordering::Greater
}

fn sift_up(h: &mut [Entry], mut i: usize) {
    while i > 0 {
        let parent = (i - 1) / 2;
        if worse(&h[i], &h[parent]) {
            h.swap(i, parent);
            i = parent;
        } else {
            break;
        }
    }
}

fn sift_down(h: &mut [Entry], mut i: usize) {
    let len = h.len();
    loop {
        let l = 2 * i + 1;
        let r = l + 1;
        let mut top = i;
        if l < len && worse(&h[l], &h[top]) {
            top = l;
        }
        if r < len && worse(&h[r], &h[top]) {
            top = r;
        }
        if top == i {
            break;
        }
        h.swap(i, top);
        i = top;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Random activations `[images x neurons]` with ties and a few planted strong responses.
    fn dataset(images: usize, neurons: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let mut scores: Vec<f32> = (0..images * neurons)
            .map(|_| {
                // Quantised so equal scores are common and tie-breaking is exercised.
                (rng.normal() * 4.0).round() as f32 / 4.0
            })
            .collect();
        let positions: Vec<u32> = (0..images * neurons)
            .map(|_| rng.below(49) as u32)
            .collect();
        for n in 0..neurons {
            for j in 0..3.min(images) {
                let i = (n * 7 + j * 13) % images;
                scores[i * neurons + n] = 100.0 + j as f32;
            }
        }
        (scores, positions)
    }

    fn full_sort(
        images: &[u32],
        scores: &[f32],
        positions: &[u32],
        neurons: usize,
        n: usize,
        k: usize,
    ) -> Vec<Entry> {
        let mut all: Vec<Entry> = images
            .iter()
            .enumerate()
            .map(|(i, &image)| Entry {
                image,
                score: scores[i * neurons + n],
                position: positions[i * neurons + n],
            })
            .collect();
        all.sort_by(Entry::rank_cmp);
        all.truncate(k);
        all
    }

    #[test]
    fn streaming_equals_full_sort_for_many_k() {
        let neurons = 12;
        for &images in &[0usize, 1, 5, 40, 300] {
            let (scores, positions) = dataset(images, neurons, images as u64 + 1);
            // Shuffled, non-contiguous image ids.
            let ids: Vec<u32> = (0..images as u32).map(|i| (i * 7919) % 100_003).collect();
            for &k in &[0usize, 1, 2, 3, 10, 299, 300, 1000] {
                let mut t = TopK::new(neurons, k);
                for (i, &id) in ids.iter().enumerate() {
                    let row = &scores[i * neurons..(i + 1) * neurons];
                    let pos = &positions[i * neurons..(i + 1) * neurons];
                    t.push(id, row, Some(pos)).unwrap();
                }
                for n in 0..neurons {
                    let want = full_sort(&ids, &scores, &positions, neurons, n, k);
                    assert_eq!(t.entries(n), want, "images={images} k={k} n={n}");
                    assert_eq!(t.stats(n).count(), images as u64);
                }
                if images >= 3 && k >= 1 {
                    // The planted responses are on top.
                    for n in 0..neurons {
                        assert_eq!(t.entries(n)[0].score, 102.0);
                    }
                }
            }
        }
    }

    #[test]
    fn merge_of_halves_equals_one_pass_and_batch_equals_single() {
        let (neurons, images) = (9, 257);
        let (scores, positions) = dataset(images, neurons, 99);
        let ids: Vec<u32> = (0..images as u32).rev().collect();
        for &k in &[1usize, 4, 17, 400] {
            let mut one = TopK::new(neurons, k);
            one.push_batch(&ids, &scores, Some(&positions)).unwrap();
            let split = 100 * neurons;
            let mut a = TopK::new(neurons, k);
            let mut b = TopK::new(neurons, k);
            a.push_batch(&ids[..100], &scores[..split], Some(&positions[..split]))
                .unwrap();
            b.push_batch(&ids[100..], &scores[split..], Some(&positions[split..]))
                .unwrap();
            // Merge in both directions.
            let mut ab = a.clone();
            ab.merge(&b).unwrap();
            let mut ba = b.clone();
            ba.merge(&a).unwrap();
            for n in 0..neurons {
                let want = full_sort(&ids, &scores, &positions, neurons, n, k);
                assert_eq!(one.entries(n), want);
                assert_eq!(ab.entries(n), want);
                assert_eq!(ba.entries(n), want);
                let (s1, s2) = (one.stats(n), ab.stats(n));
                assert_eq!(s1.count(), s2.count());
                assert_eq!(s1.max(), s2.max());
                assert_eq!(s1.min(), s2.min());
                assert!((s1.mean().unwrap() - s2.mean().unwrap()).abs() < 1e-9);
                assert!((s1.variance().unwrap() - s2.variance().unwrap()).abs() < 1e-7);
            }
        }
        let mut wrong = TopK::new(neurons, 3);
        assert!(matches!(
            wrong.merge(&TopK::new(neurons + 1, 3)),
            Err(TopKError::Shape { .. })
        ));
    }

    #[test]
    fn stats_match_direct_computation_and_skip_non_finite() {
        let mut t = TopK::new(2, 2);
        let rows = [
            [1.0f32, f32::NAN],
            [3.0, 2.0],
            [-2.0, f32::INFINITY],
            [6.0, 4.0],
        ];
        for (i, r) in rows.iter().enumerate() {
            t.push(i as u32, r, None).unwrap();
        }
        let s = t.stats(0);
        assert_eq!(s.count(), 4);
        assert_eq!(s.mean(), Some(2.0));
        assert!((s.variance().unwrap() - 8.5).abs() < 1e-12); // values 1,3,-2,6
        assert_eq!((s.min(), s.max()), (Some(-2.0), Some(6.0)));
        let s = t.stats(1);
        assert_eq!((s.count(), s.skipped()), (2, 2));
        assert_eq!(s.mean(), Some(3.0));
        assert_eq!(
            t.entries(1).iter().map(|e| e.image).collect::<Vec<_>>(),
            vec![3, 1]
        );
        assert_eq!(t.threshold(0), Some(3.0));
        assert_eq!(TopK::new(1, 0).threshold(0), None);
        assert_eq!(NeuronStats::default().mean(), None);
    }

    #[test]
    fn push_with_asks_positions_only_for_admitted_entries() {
        let mut t = TopK::new(1, 2);
        let mut asked = 0;
        for (i, s) in [5.0f32, 4.0, 1.0, 0.5, 6.0].iter().enumerate() {
            t.push_with(i as u32, &[*s], |_| {
                asked += 1;
                i as u32 * 10
            })
            .unwrap();
        }
        assert_eq!(asked, 3); // 5, 4 fill the heap; 1 and 0.5 are rejected; 6 enters
        let e = t.entries(0);
        assert_eq!((e[0].image, e[0].position, e[1].image), (4, 40, 0));
    }

    #[test]
    fn spatial_reduction_both_layouts() {
        // 2 neurons x 3 positions.
        let nm = [1.0f32, 5.0, 5.0, -1.0, f32::NAN, -3.0];
        let (s, p) = reduce_spatial(&nm, 2, 3, SpatialLayout::NeuronMajor).unwrap();
        assert_eq!((s, p), (vec![5.0, -1.0], vec![1, 0]));
        let pm = [1.0f32, -1.0, 5.0, f32::NAN, 5.0, -3.0];
        let (s, p) = reduce_spatial(&pm, 2, 3, SpatialLayout::PositionMajor).unwrap();
        assert_eq!((s, p), (vec![5.0, -1.0], vec![1, 0]));
        let mut t = TopK::new(2, 1);
        t.push_spatial(9, &pm, 3, SpatialLayout::PositionMajor)
            .unwrap();
        assert_eq!(
            t.entries(0),
            vec![Entry {
                image: 9,
                score: 5.0,
                position: 1
            }]
        );
        assert!(reduce_spatial(&pm, 2, 2, SpatialLayout::NeuronMajor).is_err());
    }

    #[test]
    fn length_errors_and_serde_round_trip() {
        let mut t = TopK::new(3, 2);
        assert_eq!(
            t.push(0, &[1.0, 2.0], None),
            Err(TopKError::Length {
                what: "scores",
                expected: 3,
                got: 2
            })
        );
        assert!(t.push(0, &[1.0, 2.0, 3.0], Some(&[1])).is_err());
        assert!(t.push_batch(&[0, 1], &[0.0; 5], None).is_err());
        let (scores, positions) = dataset(20, 3, 5);
        let ids: Vec<u32> = (0..20).collect();
        t.push_batch(&ids, &scores, Some(&positions)).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        let back: TopK = serde_json::from_str(&json).unwrap();
        assert_eq!(back.k(), 2);
        for n in 0..3 {
            assert_eq!(back.entries(n), t.entries(n));
            let (a, b) = (back.stats(n), t.stats(n));
            assert_eq!((a.count(), a.min(), a.max()), (b.count(), b.min(), b.max()));
            // serde_json's default float parsing may differ from the written f64 in the last bit.
            assert!((a.mean().unwrap() - b.mean().unwrap()).abs() < 1e-12);
            assert!((a.variance().unwrap() - b.variance().unwrap()).abs() < 1e-9);
        }
        // The serialized lists are best-first.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["entries"][0][0]["score"], 102.0);
        let bad = json.replace("\"k\":2", "\"k\":1");
        assert!(serde_json::from_str::<TopK>(&bad).is_err());
    }
}
