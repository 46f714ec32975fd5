//! The recipe's readout penalty: what it computes, checked on the host against the attention
//! pool's weights; that training with it makes the pool read fewer channels while the model
//! still learns; and that it is refused where it means nothing.

mod common;

use burn::module::AutodiffModule;
use common::{B, assert_still_learns, refusal, run, with_tiny_resnet};
use modalscope_model::Clip;
use modalscope_train::{Readout, TrainConfig, Trainer, readout_penalty};

/// The tiny recipe with a ResNet image tower of four blocks, one a stage.
fn tiny_resnet(steps: usize, readout: Option<Readout>) -> TrainConfig {
    with_tiny_resnet(TrainConfig {
        steps,
        readout,
        ..TrainConfig::tiny()
    })
}

/// Hoyer's measure of the norms of the pool's value weights from each channel, on the host.
fn host_measure<BB: burn::tensor::backend::Backend>(clip: &Clip<BB>) -> f64 {
    let w = clip.resnet.as_ref().unwrap().attnpool.v.weight.val();
    let [rows, cols] = w.dims();
    let v: Vec<f32> = w.into_data().convert::<f32>().into_vec().unwrap();
    let norms: Vec<f64> = (0..rows)
        .map(|r| {
            v[r * cols..(r + 1) * cols]
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let l1: f64 = norms.iter().sum();
    let l2 = norms.iter().map(|x| x * x).sum::<f64>().sqrt();
    l1 / (l2 * (rows as f64).sqrt())
}

#[test]
fn the_penalty_is_its_weight_times_hoyers_measure_of_the_pools_value_weights() {
    let t = Trainer::<B>::new(tiny_resnet(1, None), Default::default()).unwrap();
    let expected = 0.5 * host_measure(t.model());
    let got = f64::from(
        readout_penalty(t.model(), &Readout { weight: 0.5 })
            .unwrap()
            .into_scalar(),
    );
    println!("penalty {got:.6}, host {expected:.6}");
    // Freshly initialised rows have similar norms: the top of the range (1: all alike).
    assert!(expected > 0.5 * 0.9 && expected <= 0.5, "{expected}");
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

/// Trained with the penalty, the pool's value weights concentrate on fewer channels than
/// without it, and the contrastive loss falls all the same (the tiny ResNet learns slowly:
/// see the training tests).
#[test]
fn the_penalty_makes_the_pool_read_fewer_channels_while_the_model_still_learns() {
    const STEPS: usize = 200;
    let plain = run(tiny_resnet(STEPS, None));
    let sparse = run(tiny_resnet(STEPS, Some(Readout { weight: 1.0 })));
    let (a, b) = (
        host_measure(&plain.model().valid()),
        host_measure(&sparse.model().valid()),
    );
    println!(
        "Hoyer's measure of the pool's value weights: {a:.4} without, {b:.4} with the penalty"
    );
    assert!(b < a - 0.1, "the pool did not concentrate: {a} -> {b}");
    assert!(sparse.log.iter().all(|l| l.penalty > 0.0));
    assert_still_learns(&sparse.log, 0.1);
}

#[test]
fn a_readout_penalty_is_refused_on_a_vit_and_with_a_bad_weight() {
    let vit = TrainConfig {
        readout: Some(Readout { weight: 0.1 }),
        ..TrainConfig::tiny()
    };
    let e = refusal(vit);
    assert!(e.contains("needs a ResNet"), "{e}");
    for weight in [-0.1, f32::NAN] {
        let e = refusal(tiny_resnet(1, Some(Readout { weight })));
        assert!(e.contains("readout weight"), "{e}");
    }
}
