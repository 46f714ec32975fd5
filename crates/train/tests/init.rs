//! Structured starting weights: mimetic attention gives each layer the products it asks for,
//! sine-cosine positions are MAE's and make nearby patches alike, and bad recipes are refused.

mod common;

use common::{refusal, with_tiny_resnet};
use modalscope_model::{ClipConfig, WeightStore, random_store};
use modalscope_train::{Mimetic, StructuredInit, TrainConfig, apply_init, init::sincos_2d};

fn vit_config() -> ClipConfig {
    let mut recipe = TrainConfig::tiny();
    recipe.shape.width = 48;
    recipe.shape.heads = 3;
    recipe.clip_config(300)
}

/// The matrix named `name` as rows.
fn matrix(store: &WeightStore, name: &str) -> Vec<Vec<f32>> {
    let t = store.get(name).unwrap();
    t.data.chunks(t.shape[1]).map(<[f32]>::to_vec).collect()
}

/// `aᵀ b` when `transpose_a`, else `a b`.
fn product(a: &[Vec<f32>], b: &[Vec<f32>], transpose_a: bool) -> Vec<Vec<f32>> {
    let n = a.len();
    let at = |r: usize, k: usize| if transpose_a { a[k][r] } else { a[r][k] };
    (0..n)
        .map(|r| {
            (0..b[0].len())
                .map(|c| (0..b.len()).map(|k| at(r, k) * b[k][c]).sum())
                .collect()
        })
        .collect()
}

fn initialised(init: StructuredInit) -> WeightStore {
    let cfg = vit_config();
    let mut store = random_store(&cfg, 3);
    apply_init(&mut store, &cfg, &init, 3);
    store
}

fn attention(store: &WeightStore, layer: usize, proj: &str) -> Vec<Vec<f32>> {
    matrix(
        store,
        &format!("vision_model.encoder.layers.{layer}.self_attn.{proj}.weight"),
    )
}

#[test]
fn mimetic_attention_has_the_products_it_asks_for() {
    // With no random part the products are exactly β I and -β I, whatever the factoring.
    let store = initialised(StructuredInit {
        mimetic: Some(Mimetic {
            qk: [0.0, 0.7],
            vo: [0.0, 0.4],
        }),
        sincos_positions: None,
    });
    for layer in 0..2 {
        let qk = product(
            &attention(&store, layer, "q_proj"),
            &attention(&store, layer, "k_proj"),
            true,
        );
        let vo = product(
            &attention(&store, layer, "out_proj"),
            &attention(&store, layer, "v_proj"),
            false,
        );
        for r in 0..48 {
            for c in 0..48 {
                let eye = if r == c { 1.0 } else { 0.0 };
                assert!(
                    (qk[r][c] - 0.7 * eye).abs() < 1e-4,
                    "qk[{r}][{c}] = {}",
                    qk[r][c]
                );
                assert!(
                    (vo[r][c] + 0.4 * eye).abs() < 1e-4,
                    "vo[{r}][{c}] = {}",
                    vo[r][c]
                );
            }
        }
    }

    // With the paper's values: a diagonal of β and off-diagonal entries of spread α/√width.
    let store = initialised(StructuredInit {
        mimetic: Some(Mimetic::default()),
        sincos_positions: None,
    });
    let qk = product(
        &attention(&store, 1, "q_proj"),
        &attention(&store, 1, "k_proj"),
        true,
    );
    let diagonal = (0..48).map(|i| qk[i][i]).sum::<f32>() / 48.0;
    let off: Vec<f32> = (0..48)
        .flat_map(|r| (0..48).filter(move |&c| c != r).map(move |c| (r, c)))
        .map(|(r, c)| qk[r][c])
        .collect();
    let spread = (off.iter().map(|v| v * v).sum::<f32>() / off.len() as f32).sqrt();
    assert!(
        (diagonal - 0.7).abs() < 0.1,
        "mean diagonal {diagonal}, β is 0.7"
    );
    let expected = 0.7 / 48f32.sqrt();
    assert!(
        (spread / expected - 1.0).abs() < 0.15,
        "off-diagonal spread {spread}, α/√width is {expected}"
    );
    // Each head's slice carries the strongest part: the first head's query-key product has
    // the largest norm.
    let head_norm = |h: usize| {
        let q = attention(&store, 1, "q_proj");
        let k = attention(&store, 1, "k_proj");
        (16 * h..16 * (h + 1))
            .map(|r| {
                q[r].iter().map(|v| v * v).sum::<f32>() + k[r].iter().map(|v| v * v).sum::<f32>()
            })
            .sum::<f32>()
    };
    assert!(
        head_norm(0) > head_norm(2),
        "{} <= {}",
        head_norm(0),
        head_norm(2)
    );

    // Deterministic for a seed, and only the attention matrices change.
    let again = initialised(StructuredInit {
        mimetic: Some(Mimetic::default()),
        sincos_positions: None,
    });
    let plain = random_store(&vit_config(), 3);
    for name in plain.names() {
        let changed = plain.get(name).unwrap().data != store.get(name).unwrap().data;
        let attention_matrix =
            name.starts_with("vision_model.encoder.") && name.ends_with("_proj.weight");
        assert_eq!(changed, attention_matrix, "{name}");
        assert_eq!(store.get(name).unwrap().data, again.get(name).unwrap().data);
    }
}

#[test]
fn sine_cosine_positions_are_maes_and_make_neighbours_alike() {
    // Width 8: a quarter of 2 frequencies, 1 and 1/100, for the row and then the column.
    let e = sincos_2d(8, 1, 0);
    let expected = [
        1f32.sin(),
        0.01f32.sin(),
        1f32.cos(),
        0.01f32.cos(),
        0.0,
        0.0,
        1.0,
        1.0,
    ];
    for (a, b) in e.iter().zip(expected) {
        assert!((a - b).abs() < 1e-6, "{e:?}");
    }
    assert_eq!(sincos_2d(8, 0, 1)[4..], expected[..4]);

    let store = initialised(StructuredInit {
        mimetic: None,
        sincos_positions: Some(0.5),
    });
    let rows = matrix(&store, "vision_model.embeddings.position_embedding.weight");
    let plain = random_store(&vit_config(), 3);
    let plain_rows = matrix(&plain, "vision_model.embeddings.position_embedding.weight");
    assert_eq!(rows[0], plain_rows[0], "the class token keeps its own row");
    let grid = 4; // 32 px in 8 px patches
    let cosine = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (n(a) * n(b))
    };
    let row = |y: usize, x: usize| &rows[1 + y * grid + x];
    for (i, v) in row(2, 1).iter().enumerate() {
        assert!((v - 0.5 * sincos_2d(48, 2, 1)[i]).abs() < 1e-6);
    }
    // Along each axis, a patch is more like its neighbour than like one two steps off.
    assert!(cosine(row(1, 1), row(1, 2)) > cosine(row(1, 1), row(1, 3)));
    assert!(cosine(row(1, 1), row(2, 1)) > cosine(row(1, 1), row(3, 1)));
}

#[test]
fn a_structured_init_needs_a_vit_and_finite_values() {
    let config = TrainConfig {
        structured_init: Some(StructuredInit {
            mimetic: Some(Mimetic::default()),
            sincos_positions: None,
        }),
        ..with_tiny_resnet(TrainConfig::tiny())
    };
    assert!(refusal(config).contains("ViT"));
    // A product too large for an f32 is refused, not handed to the SVD.
    let config = TrainConfig {
        structured_init: Some(StructuredInit {
            mimetic: Some(Mimetic {
                qk: [f32::INFINITY, 0.7],
                vo: [0.4, 0.4],
            }),
            sincos_positions: None,
        }),
        ..TrainConfig::tiny()
    };
    assert!(refusal(config).contains("finite"));
    // Left unset, the field stays out of a recipe's JSON, so recorded recipes still match.
    let json = serde_json::to_string(&TrainConfig::tiny()).unwrap();
    assert!(!json.contains("structured_init"), "{json}");
}
