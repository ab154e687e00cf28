//! The optimisers, hand-written over the networks' own tensor lists: SGD with
//! Nesterov momentum (the classification supernet, as the FairNAS and ScarletNAS papers
//! train it) and Adam (super-resolution networks and supernets, as FALSR does).
//!
//! Why not tch's `nn::Optimizer`: it steps every variable of a `VarStore`, while a
//! fair supernet step must update only the parameters on that step's paths, create a
//! momentum buffer on a parameter's first update (PyTorch's behaviour with
//! `set_to_none` gradients, which the PyTorch reference checks bit for bit), and keep
//! its state in our own checkpoints (named tensors, broadcast to every rank).

use tch::Tensor;

/// SGD with Nesterov momentum, PyTorch's `SGD(nesterov=True)` per parameter: the buffer
/// `b ← μ·b + d` (`d` itself on the parameter's first update), the step `d + μ·b`, where
/// `d` is the (weight-decayed) gradient.
pub(crate) struct NesterovSgd {
    /// One buffer per parameter, `None` until its first update.
    pub(crate) buffers: Vec<Option<Tensor>>,
    momentum: f64,
}

impl NesterovSgd {
    /// No buffers yet, for `n` parameters.
    pub(crate) fn new(n: usize, momentum: f64) -> NesterovSgd {
        NesterovSgd {
            buffers: (0..n).map(|_| None).collect(),
            momentum,
        }
    }

    /// Updates parameter `i` (`param`, in place) by its gradient `d` at rate `lr`.
    pub(crate) fn update(&mut self, i: usize, param: &Tensor, d: Tensor, lr: f64) {
        let mom = self.momentum;
        let buf = match self.buffers[i].take() {
            Some(b) => b * mom + &d,
            None => d.copy(),
        };
        let step = &d + &buf * mom;
        self.buffers[i] = Some(buf);
        let mut t = param.shallow_clone();
        t -= step * lr;
    }
}

/// Adam (Kingma & Ba) over a fixed list of tensors.
pub(crate) struct Adam {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: i32,
}

impl Adam {
    const B1: f64 = 0.9;
    const B2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    pub(crate) fn new(params: &[(String, Tensor)]) -> Adam {
        Adam {
            m: params.iter().map(|(_, p)| p.zeros_like()).collect(),
            v: params.iter().map(|(_, p)| p.zeros_like()).collect(),
            t: 0,
        }
    }

    /// The moments and step count, named after `params` (`adam.m.<name>`,
    /// `adam.v.<name>`, `adam.t`): what a checkpoint keeps to resume exactly.
    pub(crate) fn state(&self, params: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = params
            .iter()
            .zip(self.m.iter().zip(&self.v))
            .flat_map(|((n, _), (m, v))| {
                [
                    (format!("adam.m.{n}"), m.shallow_clone()),
                    (format!("adam.v.{n}"), v.shallow_clone()),
                ]
            })
            .collect();
        v.push(("adam.t".into(), Tensor::from(i64::from(self.t))));
        v
    }

    /// Takes the moments and step count [`Adam::state`] wrote, where `read` has them.
    pub(crate) fn restore(
        &mut self,
        params: &[(String, Tensor)],
        read: &std::collections::HashMap<String, Tensor>,
    ) {
        tch::no_grad(|| {
            for (i, (n, _)) in params.iter().enumerate() {
                if let Some(m) = read.get(&format!("adam.m.{n}")) {
                    self.m[i].copy_(m);
                }
                if let Some(v) = read.get(&format!("adam.v.{n}")) {
                    self.v[i].copy_(v);
                }
            }
        });
        if let Some(t) = read.get("adam.t") {
            self.t = t.int64_value(&[]) as i32;
        }
    }

    pub(crate) fn step(&mut self, params: &mut [(String, Tensor)], lr: f64) {
        self.t += 1;
        let c1 = 1.0 - Self::B1.powi(self.t);
        let c2 = 1.0 - Self::B2.powi(self.t);
        tch::no_grad(|| {
            for (i, (_, p)) in params.iter_mut().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                self.m[i] = &self.m[i] * Self::B1 + &g * (1.0 - Self::B1);
                self.v[i] = &self.v[i] * Self::B2 + g.square() * (1.0 - Self::B2);
                let update = (&self.m[i] / c1) / ((&self.v[i] / c2).sqrt() + Self::EPS) * lr;
                let _ = p.f_sub_(&update).expect("in-place update");
                p.zero_grad();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(t: &Tensor) -> f64 {
        t.double_value(&[0])
    }

    /// Two updates by hand: PyTorch's Nesterov SGD with momentum 0.9, rate 0.1.
    #[test]
    fn nesterov_sgd_follows_pytorchs_formula() {
        let p = Tensor::from_slice(&[1.0f64]);
        let mut sgd = NesterovSgd::new(1, 0.9);
        sgd.update(0, &p, Tensor::from_slice(&[0.5f64]), 0.1);
        // b = 0.5, step = 0.5 + 0.9 * 0.5 = 0.95.
        assert!((value(&p) - (1.0 - 0.095)).abs() < 1e-12);
        sgd.update(0, &p, Tensor::from_slice(&[0.2f64]), 0.1);
        // b = 0.9 * 0.5 + 0.2 = 0.65, step = 0.2 + 0.9 * 0.65 = 0.785.
        assert!((value(&p) - (0.905 - 0.0785)).abs() < 1e-12);
        assert!((value(sgd.buffers[0].as_ref().unwrap()) - 0.65).abs() < 1e-12);
    }

    /// Adam's first step moves every parameter by about the rate against its gradient's
    /// sign (bias correction makes m/√v = ±1), whatever the gradient's size; the state
    /// reads back into a fresh optimiser.
    #[test]
    fn adam_steps_by_the_rate_and_restores_its_state() {
        let mut params = vec![(
            "w".to_string(),
            Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true),
        )];
        let loss = (&params[0].1 * Tensor::from_slice(&[3.0f64, -0.001])).sum(tch::Kind::Double);
        loss.backward();
        let mut adam = Adam::new(&params);
        adam.step(&mut params, 0.01);
        let w = &params[0].1;
        assert!((w.double_value(&[0]) - 0.99).abs() < 1e-6, "{w}");
        assert!((w.double_value(&[1]) - (-1.99)).abs() < 1e-5, "{w}");
        let state: std::collections::HashMap<String, Tensor> =
            adam.state(&params).into_iter().collect();
        let mut again = Adam::new(&params);
        again.restore(&params, &state);
        assert_eq!(again.t, 1);
        assert!(again.m[0].allclose(&adam.m[0], 0.0, 0.0, false));
    }
}
