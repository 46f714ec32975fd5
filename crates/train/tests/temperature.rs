//! The recipe's temperature: a logit scale started where the recipe says, held there when it
//! is not learned (in one shard or several) while the weights still learn, learned from there
//! otherwise, written in recipes only when set, and refused when out of range.

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use modalscope_train::{Event, StepLog, Temperature, TrainConfig, TrainError, Trainer, train};

type B = Autodiff<Flex>;

fn tiny(steps: usize, shards: usize, temperature: Option<Temperature>) -> TrainConfig {
    TrainConfig {
        steps,
        shards,
        temperature,
        eval_every: 0,
        ..TrainConfig::tiny()
    }
}

fn at(logit_scale: f32, learned: bool) -> Option<Temperature> {
    Some(Temperature {
        logit_scale,
        learned,
    })
}

fn run(config: TrainConfig) -> (Vec<StepLog>, Trainer<B>) {
    let mut t = Trainer::<B>::new(config, Default::default()).unwrap();
    let mut log = Vec::new();
    train(&mut t, None, |e| {
        if let Event::Step(s) = e {
            log.push(s.clone());
        }
        true
    })
    .unwrap();
    (log, t)
}

/// The model's logit scale as the optimizer left it (exp of the parameter).
fn scale_of(t: &Trainer<B>) -> f32 {
    t.model().valid().logit_scale.val().into_scalar().exp()
}

/// The image tower's projection, to see that training moved the weights.
fn projection(t: &Trainer<B>) -> Vec<f32> {
    let vit = t.model().valid().vit.expect("a ViT");
    vit.projection.weight.val().into_data().to_vec().unwrap()
}

#[test]
fn a_held_temperature_stays_put_while_the_weights_learn() {
    for shards in [1, 2] {
        let config = tiny(12, shards, at(30.0, false));
        let start = Trainer::<B>::new(config.clone(), Default::default()).unwrap();
        assert!((scale_of(&start) - 30.0).abs() < 1e-3, "starts at 30");
        let before = projection(&start);
        let (log, t) = run(config);
        for s in &log {
            assert!(
                (s.logit_scale - 30.0).abs() < 1e-3,
                "{shards} shards: step {} logged scale {}",
                s.step,
                s.logit_scale
            );
        }
        // Bit for bit: AdamW never touched it (no update, no decay).
        assert_eq!(scale_of(&t), scale_of(&start));
        let after = projection(&t);
        assert_ne!(before, after, "the weights still learn");
    }
}

#[test]
fn a_learned_temperature_starts_where_told_and_moves() {
    let (log, t) = run(tiny(12, 1, at(30.0, true)));
    assert!(
        (log[0].logit_scale - 30.0).abs() < 0.1,
        "{}",
        log[0].logit_scale
    );
    assert!(
        (scale_of(&t) - 30.0).abs() > 1e-3,
        "a learned scale moves: {}",
        scale_of(&t)
    );
    // Without a rule, CLIP's start: 1/0.07, learned.
    let (log, _) = run(tiny(2, 1, None));
    assert!(
        (log[0].logit_scale - 1.0 / 0.07).abs() < 0.1,
        "{}",
        log[0].logit_scale
    );
}

#[test]
fn recipes_name_the_temperature_only_when_set() {
    let plain = serde_json::to_value(TrainConfig::builtin()).unwrap();
    assert!(plain.get("temperature").is_none());
    let mut json = plain.clone();
    json["temperature"] = serde_json::json!({"logit_scale": 30.0, "learned": false});
    let config: TrainConfig = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(config.temperature, at(30.0, false));
    assert_eq!(serde_json::to_value(&config).unwrap(), json);
}

#[test]
fn out_of_range_scales_are_refused() {
    for bad in [0.0, -3.0, f32::NAN, f32::INFINITY, 100.5] {
        match Trainer::<B>::new(tiny(1, 1, at(bad, false)), Default::default()) {
            Err(TrainError::Recipe(m)) => assert!(m.contains("logit scale"), "{m}"),
            Err(e) => panic!("{bad}: {e}"),
            Ok(_) => panic!("{bad} accepted"),
        }
    }
    assert!(Trainer::<B>::new(tiny(1, 1, at(100.0, false)), Default::default()).is_ok());
}
