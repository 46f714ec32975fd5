//! Adam on a plain tensor (the image parameter), with TensorFlow's defaults as Lucid uses them.

use burn::tensor::{Tensor, backend::Backend};

/// Adam state for one parameter tensor.
#[derive(Debug, Clone)]
pub struct Adam<B: Backend, const D: usize> {
    /// Step size.
    pub learning_rate: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the denominator for stability.
    pub epsilon: f32,
    moments: Option<(Tensor<B, D>, Tensor<B, D>)>,
    t: i32,
}

impl<B: Backend, const D: usize> Adam<B, D> {
    /// Adam with β1 0.9, β2 0.999, ε 1e-8.
    pub fn new(learning_rate: f32) -> Self {
        Self {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            moments: None,
            t: 0,
        }
    }

    /// Returns the parameter after one descent step along `grad`.
    pub fn step(&mut self, param: Tensor<B, D>, grad: Tensor<B, D>) -> Tensor<B, D> {
        self.t += 1;
        let (m, v) = match self.moments.take() {
            Some((m, v)) => (
                m * self.beta1 + grad.clone() * (1.0 - self.beta1),
                v * self.beta2 + grad.powf_scalar(2.0) * (1.0 - self.beta2),
            ),
            None => (
                grad.clone() * (1.0 - self.beta1),
                grad.powf_scalar(2.0) * (1.0 - self.beta2),
            ),
        };
        let m_hat = m.clone() / (1.0 - self.beta1.powi(self.t));
        let v_hat = v.clone() / (1.0 - self.beta2.powi(self.t));
        self.moments = Some((m, v));
        param - m_hat / (v_hat.sqrt() + self.epsilon) * self.learning_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn first_step_moves_each_coordinate_by_the_learning_rate() {
        // With bias correction, Adam's first step is lr * sign(grad).
        let d = Default::default();
        let p = Tensor::<Flex, 1>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [3]), &d);
        let g = Tensor::<Flex, 1>::from_data(TensorData::new(vec![0.5f32, -20.0, 1e-3], [3]), &d);
        let mut adam = Adam::new(0.05);
        let out: Vec<f32> = adam.step(p, g).into_data().into_vec().unwrap();
        let want = [0.95, 2.05, 2.95];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-4, "{out:?}");
        }
    }

    #[test]
    fn minimizes_a_quadratic() {
        let d = Default::default();
        let mut x = Tensor::<Flex, 1>::from_data(TensorData::new(vec![3.0f32, -2.0], [2]), &d);
        let mut adam = Adam::new(0.1);
        for _ in 0..300 {
            let grad = x.clone() * 2.0; // d/dx x²
            x = adam.step(x, grad);
        }
        let v: Vec<f32> = x.into_data().into_vec().unwrap();
        assert!(v.iter().all(|a| a.abs() < 0.05), "{v:?}");
    }
}
