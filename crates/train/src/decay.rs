//! Weight decay on matrices only: CLIP (and open_clip) exempt gains, biases and the logit
//! scale, whose decay towards zero only fights the loss (a decayed logit scale softens the
//! softmax: on the built-in recipe it fell from 14.3 to 10.6 in the first 1600 steps, most
//! of it the decay's doing). burn's AdamW decays every parameter, so the decay its step
//! applied to the 1-D parameters is undone after the step.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

/// The values of a module's 1-D parameters before a step.
pub struct Vectors<B: AutodiffBackend> {
    kept: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> Vectors<B> {
    /// Keeps the 1-D parameters of `module` (gains, biases, the logit scale, class tokens).
    pub fn of<M: Module<B>>(module: &M) -> Self {
        let mut v = Collect::<B> {
            kept: HashMap::new(),
        };
        module.visit(&mut v);
        Self { kept: v.kept }
    }

    /// Undoes AdamW's decoupled decay on the kept parameters of `module` after a step at
    /// learning rate `lr` with decay `weight_decay` (the step multiplied them by
    /// `1 - lr * weight_decay` before its update).
    pub fn undecay<M: Module<B>>(self, module: M, lr: f64, weight_decay: f64) -> M {
        module.map(&mut Undecay::<B> {
            kept: self.kept,
            rate: lr * weight_decay,
        })
    }
}

struct Collect<B: AutodiffBackend> {
    kept: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if D == 1 {
            let t = param.val().inner();
            let n = t.shape().num_elements();
            self.kept.insert(param.id, t.reshape([n]));
        }
    }
}

struct Undecay<B: AutodiffBackend> {
    kept: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
    rate: f64,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Undecay<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = match self.kept.remove(&id) {
            Some(old) => {
                let shape = tensor.shape();
                let restored = tensor.inner() + old.reshape::<D, _>(shape) * self.rate;
                Tensor::from_inner(restored).require_grad()
            }
            None => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}
