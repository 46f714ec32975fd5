//! Structured starting weights for a ViT trained from scratch: attention that starts out as
//! trained ViTs' attention looks (mimetic initialization) and position embeddings that start
//! out smooth over the grid, so that a small tower on little data need not learn both first.

use modalscope_model::{ClipConfig, HostTensor, SeededRng, VisionConfig, WeightStore};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// How a fresh ViT's attention and position embeddings start (see [`crate::TrainConfig::structured_init`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StructuredInit {
    /// Mimetic initialization of every image-tower attention layer (Trockman and Kolter,
    /// 2023): `None` keeps CLIP's random one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mimetic: Option<Mimetic>,
    /// 2D sine-cosine position embeddings (as MAE and MoCo v3 use) times this scale, in
    /// place of random ones: nearby patches start out alike. `None` keeps random ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sincos_positions: Option<f32>,
}

/// The products mimetic initialization gives each attention layer: `W_q^T W_k ≈ α Z + β I`
/// (a token attends to tokens like itself) and `W_o W_v ≈ α Z - β I`, with `Z` a random
/// matrix of unit-variance entries over the width's square root.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mimetic {
    /// `(α, β)` of the query-key product (the paper's ViT values: 0.7, 0.7).
    #[serde(default = "default_qk")]
    pub qk: [f32; 2],
    /// `(α, β)` of the value-output product (the paper's ViT values: 0.4, 0.4).
    #[serde(default = "default_vo")]
    pub vo: [f32; 2],
}

fn default_qk() -> [f32; 2] {
    [0.7, 0.7]
}

fn default_vo() -> [f32; 2] {
    [0.4, 0.4]
}

impl Default for Mimetic {
    fn default() -> Self {
        Self {
            qk: default_qk(),
            vo: default_vo(),
        }
    }
}

/// Factors `α Z + sign β I` (width × width) as `L R` with `L = U √S`, `R = √S Vᵀ`, so that
/// each head, which takes a slice of `L`'s columns and `R`'s rows, gets the strongest part.
fn factor(
    rng: &mut SeededRng,
    width: usize,
    alpha: f32,
    beta: f32,
) -> (DMatrix<f32>, DMatrix<f32>) {
    let scale = alpha / (width as f32).sqrt();
    let a = DMatrix::from_fn(width, width, |r, c| {
        rng.normal() * scale + if r == c { beta } else { 0.0 }
    });
    let svd = a.svd(true, true);
    let root = svd.singular_values.map(f32::sqrt);
    let u = svd.u.expect("svd asked for U");
    let v_t = svd.v_t.expect("svd asked for Vt");
    let l = DMatrix::from_fn(width, width, |r, c| u[(r, c)] * root[c]);
    let rt = DMatrix::from_fn(width, width, |r, c| root[r] * v_t[(r, c)]);
    (l, rt)
}

fn put(store: &mut WeightStore, name: &str, m: &DMatrix<f32>) {
    let (rows, cols) = m.shape();
    let data = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .map(|(r, c)| m[(r, c)])
        .collect();
    store.insert(name, HostTensor::new(vec![rows, cols], data));
}

/// Rewrites a fresh ViT's attention and position weights in `store` as `init` asks (a ResNet
/// tower, which has neither, is left alone). Deterministic for a seed.
pub fn apply_init(store: &mut WeightStore, cfg: &ClipConfig, init: &StructuredInit, seed: u64) {
    let VisionConfig::Vit(v) = &cfg.vision else {
        return;
    };
    let w = v.width;
    let mut rng = SeededRng::new(seed ^ 0x006D_696D_6574_6963);
    if let Some(m) = init.mimetic {
        for i in 0..v.layers {
            let p = format!("vision_model.encoder.layers.{i}.self_attn");
            // q = W_q x and k = W_k x give scores xᵀ W_qᵀ W_k x: W_q = Lᵀ, W_k = R.
            let (l, r) = factor(&mut rng, w, m.qk[0], m.qk[1]);
            put(store, &format!("{p}.q_proj.weight"), &l.transpose());
            put(store, &format!("{p}.k_proj.weight"), &r);
            // The layer maps x to W_o W_v x (mixed over tokens): W_o = L, W_v = R.
            let (l, r) = factor(&mut rng, w, m.vo[0], -m.vo[1]);
            put(store, &format!("{p}.out_proj.weight"), &l);
            put(store, &format!("{p}.v_proj.weight"), &r);
        }
    }
    if let Some(scale) = init.sincos_positions {
        let name = "vision_model.embeddings.position_embedding.weight";
        let grid = v.grid();
        let mut data = store
            .get(name)
            .map(|t| t.data.clone())
            .unwrap_or_else(|| vec![0.0; (grid * grid + 1) * w]);
        for (token, row) in data.chunks_mut(w).enumerate().skip(1) {
            let (y, x) = ((token - 1) / grid, (token - 1) % grid);
            row.copy_from_slice(&sincos_2d(w, y, x));
            row.iter_mut().for_each(|e| *e *= scale);
        }
        store.insert(name, HostTensor::new(vec![grid * grid + 1, w], data));
    }
}

/// MAE's 2D sine-cosine embedding of grid cell `(y, x)`: the first half of the width encodes
/// the row, the second the column, each as sines then cosines of `1/10000^(k/(width/4))`.
pub fn sincos_2d(width: usize, y: usize, x: usize) -> Vec<f32> {
    let quarter = width / 4;
    let mut out = vec![0.0; width];
    for (half, pos) in [y, x].into_iter().enumerate() {
        for k in 0..quarter {
            let omega = 1.0 / 10000f32.powf(k as f32 / quarter as f32);
            let angle = pos as f32 * omega;
            out[half * width / 2 + k] = angle.sin();
            out[half * width / 2 + quarter + k] = angle.cos();
        }
    }
    out
}
