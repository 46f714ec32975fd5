//! Fresh weights: a randomly initialised ResNet tower carries its input's scale to the top,
//! so training one from scratch (its BatchNorms folded, not normalizing) starts alive.

mod common;

use burn::tensor::{Distribution, Tensor};
use common::{B, tiny_config, tiny_vit};
use modalscope_model::{Activation, Clip, ClipConfig, ResNetConfig, VisionConfig, is_neuron_layer};

fn resnet_config() -> ClipConfig {
    tiny_config(
        "tiny-resnet",
        VisionConfig::Resnet(ResNetConfig {
            image_size: 64,
            layers: [1, 2, 2, 1],
            width: 8,
            heads: 4,
        }),
        1,
    )
}

/// Standard deviation of every value of a map.
fn spread(a: Activation<B>) -> f32 {
    let Activation::Map(t) = a else {
        panic!("a ResNet layer is a feature map")
    };
    let flat = t.flatten::<1>(0, 3);
    let mean = flat.clone().mean().into_scalar();
    (flat - mean).powf_scalar(2.0).mean().sqrt().into_scalar()
}

#[test]
fn every_resnet_map_of_a_fresh_model_keeps_the_input_scale() {
    let device = Default::default();
    let cfg = resnet_config();
    cfg.validate().unwrap();
    let clip = Clip::<B>::random(&cfg, 3, &device).unwrap();
    let images = Tensor::<B, 4>::random([4, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
    let maps: Vec<String> = clip
        .layer_names()
        .into_iter()
        .filter(|l| l.starts_with("vision.") && l != "vision.embeds")
        .collect();
    assert_eq!(maps.len(), 7, "{maps:?}");
    for layer in maps {
        let s = spread(clip.image_activation(images.clone(), &layer).unwrap());
        // He-initialised ReLU convolutions keep order-one activations; the zero-initialised
        // stem (or PyTorch's default scale, a third of the variance a layer) does not.
        assert!((0.1..10.0).contains(&s), "{layer}: spread {s}");
    }
}

#[test]
fn only_the_bottlenecks_last_batchnorms_start_at_zero() {
    let store = modalscope_model::random_store(&resnet_config(), 3);
    for name in store.names() {
        if name.ends_with("bn3.weight") || name.ends_with("bn1.weight") {
            let zero = store.get(name).unwrap().data.iter().all(|&v| v == 0.0);
            let bottleneck_last = name.starts_with("visual.layer") && name.ends_with(".bn3.weight");
            assert_eq!(zero, bottleneck_last, "{name}");
        }
    }
}

#[test]
fn each_tower_names_its_layers_of_neurons_and_the_layer_its_projection_reads() {
    let device = Default::default();
    let rn = Clip::<B>::random(&resnet_config(), 3, &device).unwrap();
    assert_eq!(
        rn.neuron_layers(),
        [
            "vision.layer1.0",
            "vision.layer2.0",
            "vision.layer2.1",
            "vision.layer3.0",
            "vision.layer3.1",
            "vision.layer4.0"
        ]
    );
    assert_eq!(rn.pooled_layer(), "vision.layer4.0");
    let vit = tiny_config("tiny-vit", tiny_vit(16, 2), 2);
    let vit = Clip::<B>::random(&vit, 3, &device).unwrap();
    assert_eq!(
        vit.neuron_layers(),
        ["vision.blocks.0.mlp", "vision.blocks.1.mlp"]
    );
    assert_eq!(vit.pooled_layer(), "vision.post_ln");
    // The text tower's MLPs and the image tower's residual stream are not neurons of the tower.
    assert!(vit.layer_names().iter().any(|l| l == "text.blocks.0.mlp"));
    assert!(!is_neuron_layer("text.blocks.0.mlp"));
    assert!(!is_neuron_layer("vision.blocks.0"));
    assert!(!is_neuron_layer("vision.stem"));
}
