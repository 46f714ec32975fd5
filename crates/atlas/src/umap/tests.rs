//! End-to-end UMAP tests on synthetic clustered data.

use super::*;

/// `clusters` Gaussian blobs (unit variance) in `dim` dimensions with centres drawn from
/// N(0, spread²); returns the data and each point's cluster.
pub(crate) fn blobs(
    n: usize,
    dim: usize,
    clusters: usize,
    spread: f64,
    seed: u64,
) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let centres: Vec<f64> = (0..clusters * dim).map(|_| rng.normal() * spread).collect();
    let labels: Vec<usize> = (0..n).map(|i| i % clusters).collect();
    let data = labels
        .iter()
        .flat_map(|&c| {
            (0..dim)
                .map(|d| (centres[c * dim + d] + rng.normal()) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    (data, labels)
}

/// Share of points whose nearest 2-D cluster centroid is their own cluster's.
pub(crate) fn centroid_purity(emb: &[[f32; 2]], labels: &[usize], clusters: usize) -> f64 {
    let mut sum = vec![[0f64; 2]; clusters];
    let mut count = vec![0usize; clusters];
    for (p, &l) in emb.iter().zip(labels) {
        sum[l][0] += f64::from(p[0]);
        sum[l][1] += f64::from(p[1]);
        count[l] += 1;
    }
    let cent: Vec<[f64; 2]> = sum
        .iter()
        .zip(&count)
        .map(|(s, &c)| [s[0] / c as f64, s[1] / c as f64])
        .collect();
    let good = emb
        .iter()
        .zip(labels)
        .filter(|(p, l)| {
            let d =
                |c: &[f64; 2]| (f64::from(p[0]) - c[0]).powi(2) + (f64::from(p[1]) - c[1]).powi(2);
            let best = (0..clusters)
                .min_by(|&a, &b| d(&cent[a]).total_cmp(&d(&cent[b])))
                .unwrap();
            best == **l
        })
        .count();
    good as f64 / emb.len() as f64
}

/// Share of 2-D k-nearest neighbours that belong to the point's own cluster.
pub(crate) fn knn_purity(emb: &[[f32; 2]], labels: &[usize], k: usize) -> f64 {
    let flat: Vec<f32> = emb.iter().flatten().copied().collect();
    let g = nearest_neighbors(
        &flat,
        2,
        k,
        Metric::Euclidean,
        KnnMethod::Exact,
        0,
        &mut |_, _, _| true,
    )
    .unwrap();
    let same: usize = (0..emb.len())
        .map(|i| {
            g.neighbors(i)
                .0
                .iter()
                .filter(|&&j| labels[j as usize] == labels[i])
                .count()
        })
        .sum();
    same as f64 / (emb.len() * k) as f64
}

fn flat(emb: &[[f32; 2]]) -> Vec<f32> {
    emb.iter().flatten().copied().collect()
}

#[test]
fn clustered_data_gives_a_trustworthy_separated_layout() {
    let (data, labels) = blobs(1500, 50, 10, 1.0, 1);
    let emb = fit(&data, 50, &UmapParams::default()).unwrap();
    assert_eq!(emb.len(), 1500);
    assert!(emb.iter().flatten().all(|v| v.is_finite()));
    let t = trustworthiness(&data, 50, &flat(&emb), 2, 10).unwrap();
    let cp = centroid_purity(&emb, &labels, 10);
    let kp = knn_purity(&emb, &labels, 10);
    eprintln!("trustworthiness {t:.4}, centroid purity {cp:.4}, 10-NN purity {kp:.4}");
    assert!(t > 0.9, "trustworthiness {t}");
    assert!(cp > 0.95, "centroid purity {cp}");
    assert!(kp > 0.95, "knn purity {kp}");
}

#[test]
fn pca_random_init_and_cosine_metric_also_work() {
    let (data, labels) = blobs(800, 30, 6, 1.0, 2);
    for init in [Init::Pca, Init::Random] {
        let p = UmapParams {
            init,
            n_epochs: Some(300),
            ..Default::default()
        };
        let emb = fit(&data, 30, &p).unwrap();
        let t = trustworthiness(&data, 30, &flat(&emb), 2, 10).unwrap();
        let kp = knn_purity(&emb, &labels, 10);
        assert!(t > 0.88 && kp > 0.95, "{init:?}: trust {t}, purity {kp}");
    }
    // Cosine: clusters are directions; each point's norm is random over a wide range, which
    // would scramble a euclidean neighbourhood but not an angular one.
    let mut rng = Rng::new(5);
    let scaled: Vec<f32> = data
        .chunks_exact(30)
        .flat_map(|r| {
            let s = (0.2 + rng.unit_f64() * 20.0) as f32;
            r.iter().map(move |v| (v + 8.0) * s).collect::<Vec<_>>()
        })
        .collect();
    let p = UmapParams {
        metric: Metric::Cosine,
        n_epochs: Some(300),
        ..Default::default()
    };
    let emb = fit(&scaled, 30, &p).unwrap();
    let kp = knn_purity(&emb, &labels, 10);
    assert!(kp > 0.9, "cosine purity {kp}");
}

#[test]
fn same_seed_is_bit_identical_other_seed_differs() {
    let (data, _) = blobs(400, 20, 5, 1.0, 3);
    let p = UmapParams {
        n_epochs: Some(150),
        ..Default::default()
    };
    let a = fit(&data, 20, &p).unwrap();
    let b = fit(&data, 20, &p).unwrap();
    let bits = |e: &[[f32; 2]]| e.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    let c = fit(&data, 20, &UmapParams { seed: 7, ..p }).unwrap();
    let moved = a
        .iter()
        .zip(&c)
        .filter(|(x, y)| (x[0] - y[0]).abs() + (x[1] - y[1]).abs() > 1e-3)
        .count();
    assert!(moved > 300, "only {moved} points differ between seeds");
}

#[test]
fn precomputed_graph_gives_the_same_layout() {
    // One connected blob: the spectral initialisation does not need the vectors.
    let (data, _) = blobs(300, 10, 1, 1.0, 4);
    let p = UmapParams {
        n_epochs: Some(100),
        ..Default::default()
    };
    let direct = fit(&data, 10, &p).unwrap();
    let knn = nearest_neighbors(
        &data,
        10,
        14,
        Metric::Euclidean,
        KnnMethod::Auto,
        p.seed,
        &mut |_, _, _| true,
    )
    .unwrap();
    let via_graph = fit_graph(&knn, &p, &mut |_, _, _| true).unwrap();
    assert_eq!(direct, via_graph);
    let pca = UmapParams {
        init: Init::Pca,
        ..p
    };
    assert_eq!(
        fit_graph(&knn, &pca, &mut |_, _, _| true),
        Err(UmapError::InitNeedsData)
    );
}

#[test]
fn progress_is_reported_and_cancel_stops_promptly() {
    let (data, _) = blobs(300, 8, 3, 1.0, 6);
    let mut stages: Vec<String> = Vec::new();
    let mut last = (String::new(), 0usize);
    fit_with_progress(&data, 8, &UmapParams::default(), &mut |s, done, total| {
        assert!(done <= total, "{s} {done}/{total}");
        if last.0 == s {
            assert!(done >= last.1, "{s} went backwards");
        }
        last = (s.to_string(), done);
        if stages.last().map(String::as_str) != Some(s) {
            stages.push(s.to_string());
        }
        true
    })
    .unwrap();
    assert_eq!(stages, ["knn", "init", "optimize"]);
    for stop_at in ["knn", "init", "optimize"] {
        let mut calls_after = 0;
        let mut stopped = false;
        let r = fit_with_progress(&data, 8, &UmapParams::default(), &mut |s, done, _| {
            if stopped {
                calls_after += 1;
            }
            if s == stop_at && (done > 0 || s != "optimize") {
                stopped = true;
                return false;
            }
            true
        });
        assert_eq!(r, Err(UmapError::Cancelled), "{stop_at}");
        assert_eq!(calls_after, 0);
    }
}

#[test]
fn edge_cases_never_panic() {
    let p = UmapParams::default();
    assert_eq!(fit(&[], 3, &p).unwrap(), Vec::<[f32; 2]>::new());
    assert_eq!(fit(&[1.0, 2.0, 3.0], 3, &p).unwrap(), vec![[0.0, 0.0]]);
    let two = fit(&[0.0, 0.0, 1.0, 1.0], 2, &p).unwrap();
    assert_eq!(two.len(), 2);
    assert!(two.iter().flatten().all(|v| v.is_finite()));
    assert_ne!(two[0], two[1]);
    // Fewer points than n_neighbors.
    for n in 3..8 {
        let (data, _) = blobs(n, 4, 1, 1.0, n as u64);
        let e = fit(&data, 4, &p).unwrap();
        assert_eq!(e.len(), n);
        assert!(e.iter().flatten().all(|v| v.is_finite()));
    }
    // All points identical, and a mix of duplicates.
    let same = vec![0.5f32; 50 * 6];
    let e = fit(&same, 6, &p).unwrap();
    assert!(e.iter().flatten().all(|v| v.is_finite()));
    let (mut data, _) = blobs(200, 6, 2, 1.0, 9);
    let dup = data[..60 * 6].to_vec();
    data.extend_from_slice(&dup);
    for knn in [KnnMethod::Exact, KnnMethod::NnDescent] {
        let e = fit(
            &data,
            6,
            &UmapParams {
                knn,
                n_epochs: Some(50),
                ..p.clone()
            },
        )
        .unwrap();
        assert_eq!(e.len(), 260);
        assert!(e.iter().flatten().all(|v| v.is_finite()));
    }
    // Errors.
    assert!(matches!(
        fit(&[1.0; 5], 2, &p),
        Err(UmapError::InvalidData(_))
    ));
    assert!(matches!(
        fit(&[1.0; 4], 0, &p),
        Err(UmapError::InvalidData(_))
    ));
    assert!(matches!(
        fit(&[1.0, f32::NAN], 1, &p),
        Err(UmapError::InvalidData(_))
    ));
    for bad in [
        UmapParams {
            n_neighbors: 1,
            ..p.clone()
        },
        UmapParams {
            min_dist: 2.0,
            ..p.clone()
        },
        UmapParams {
            spread: 0.0,
            ..p.clone()
        },
        UmapParams {
            learning_rate: f32::NAN,
            ..p.clone()
        },
        UmapParams {
            negative_sample_rate: 0,
            ..p.clone()
        },
        UmapParams {
            set_op_mix_ratio: 1.5,
            ..p.clone()
        },
    ] {
        assert!(
            matches!(fit(&[1.0; 8], 2, &bad), Err(UmapError::InvalidParams(_))),
            "{bad:?}"
        );
    }
    // No epochs: the scaled initialisation comes back.
    let (data, _) = blobs(50, 3, 1, 1.0, 10);
    let e = fit(
        &data,
        3,
        &UmapParams {
            n_epochs: Some(0),
            ..p
        },
    )
    .unwrap();
    let max = e.iter().flatten().fold(0f32, |m, v| m.max(*v));
    assert!((max - 10.0).abs() < 1e-4);
}

/// Runs `stepper` to the end in pieces of sizes drawn from `sizes` (cycled), checking that
/// progress never goes backwards within a stage; returns the layout and the steps taken.
fn run_in_pieces(mut stepper: UmapStepper<'_>, sizes: &[usize]) -> (Vec<[f32; 2]>, usize) {
    let mut steps = 0;
    let mut last = ("", 0usize);
    for &k in sizes.iter().cycle() {
        let (stage, done, total) = stepper.progress();
        assert!(done <= total, "{stage} {done}/{total}");
        if stage == last.0 {
            assert!(done >= last.1, "{stage} went backwards");
        }
        last = (stage, done);
        if stepper.is_done() {
            break;
        }
        let before = stepper.progress();
        stepper.run(k);
        steps += k;
        // A piece may stay inside one stage; the stepper never skips backwards.
        let after = stepper.progress();
        assert!(before.0 != after.0 || after.1 >= before.1);
    }
    assert!(stepper.layout().is_some());
    (stepper.into_layout().unwrap(), steps)
}

#[test]
fn a_stepped_run_is_bit_identical_to_fit_whatever_the_pieces() {
    let bits = |e: &[[f32; 2]]| e.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
    let (small, _) = blobs(300, 12, 4, 1.0, 11);
    // Far apart clusters: several connected components, laid out by the meta layout.
    let (apart, _) = blobs(200, 8, 6, 500.0, 12);
    let (big, _) = blobs(4200, 10, 8, 1.0, 13);
    let cases: Vec<(&str, &[f32], usize, UmapParams)> = vec![
        (
            "exact euclidean, spectral",
            &small,
            12,
            UmapParams {
                n_epochs: Some(60),
                ..Default::default()
            },
        ),
        (
            "cosine as the atlas",
            &small,
            12,
            UmapParams {
                metric: Metric::Cosine,
                n_neighbors: 20,
                min_dist: 0.01,
                seed: 3,
                n_epochs: Some(60),
                ..Default::default()
            },
        ),
        (
            "components",
            &apart,
            8,
            UmapParams {
                n_epochs: Some(40),
                ..Default::default()
            },
        ),
        (
            "pca",
            &small,
            12,
            UmapParams {
                init: Init::Pca,
                n_epochs: Some(30),
                ..Default::default()
            },
        ),
        (
            "random",
            &small,
            12,
            UmapParams {
                init: Init::Random,
                n_epochs: Some(30),
                ..Default::default()
            },
        ),
        (
            "nn-descent",
            &big,
            10,
            UmapParams {
                n_epochs: Some(20),
                ..Default::default()
            },
        ),
    ];
    for (name, data, dim, p) in cases {
        let whole = fit_with_progress(data, dim, &p, &mut |_, _, _| true).unwrap();
        for sizes in [&[1][..], &[7], &[3, 1, 50, 2]] {
            let (stepped, steps) = run_in_pieces(UmapStepper::new(data, dim, &p).unwrap(), sizes);
            assert_eq!(bits(&stepped), bits(&whole), "{name}, pieces {sizes:?}");
            // The run is split finely: at least one step per epoch.
            assert!(steps > p.n_epochs.unwrap(), "{name}: {steps} steps");
        }
    }
    // From a precomputed graph, as fit_graph.
    let p = UmapParams {
        n_epochs: Some(50),
        ..Default::default()
    };
    let knn = nearest_neighbors(
        &small,
        12,
        14,
        Metric::Euclidean,
        KnnMethod::Auto,
        p.seed,
        &mut |_, _, _| true,
    )
    .unwrap();
    let whole = fit_graph(&knn, &p, &mut |_, _, _| true).unwrap();
    let (stepped, _) = run_in_pieces(UmapStepper::from_graph(knn, &p).unwrap(), &[5]);
    assert_eq!(bits(&stepped), bits(&whole));
    // Nothing to lay out: done from the start.
    let one = UmapStepper::new(&[1.0, 2.0], 2, &p).unwrap();
    assert!(one.is_done());
    assert_eq!(one.layout(), Some(&[[0.0, 0.0]][..]));
}

#[test]
fn steps_are_small_pieces_of_the_stages() {
    // The exact search of 2000 points of dimension 384 (the page's default atlas) is split
    // into many steps, and so are the initialisation and the epochs.
    let (data, _) = blobs(2000, 384, 8, 1.0, 14);
    let p = UmapParams {
        metric: Metric::Cosine,
        n_neighbors: 20,
        min_dist: 0.01,
        n_epochs: Some(20),
        ..Default::default()
    };
    let mut s = UmapStepper::new(&data, 384, &p).unwrap();
    let mut per_stage = std::collections::BTreeMap::<&str, usize>::new();
    while !s.is_done() {
        *per_stage.entry(s.progress().0).or_default() += 1;
        s.step();
    }
    eprintln!("steps per stage: {per_stage:?}");
    assert!(per_stage["knn"] >= 100, "{per_stage:?}");
    assert!(per_stage["init"] >= 3, "{per_stage:?}");
    assert_eq!(per_stage["optimize"], 20, "{per_stage:?}");
}
