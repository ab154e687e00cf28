//! MoreMNAS's reinforced mutation (Chu et al., arXiv 1901.01074): besides random
//! mutation, a learned controller proposes which layer to change and to which choice,
//! and is rewarded by how much the change improved the child over its parent; a
//! roulette wheel picks reinforced or random mutation for each child.
//!
//! The controller here is a factored softmax policy: one distribution over layers and,
//! per layer, one over choices, both as logits trained with REINFORCE against a moving
//! baseline. (MoreMNAS's controller is a recurrent network; a factored policy learns the
//! same per-layer preferences with far fewer samples, which matters at a few thousand
//! evaluations.)

use lookup_tables::SplitMix64;

/// Settings of the reinforced mutation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RlConfig {
    /// Share of children mutated by the controller (the rest by random mutation).
    pub ratio: f64,
    /// Learning rate of the policy's logits.
    pub learning_rate: f64,
}

impl Default for RlConfig {
    fn default() -> Self {
        RlConfig {
            ratio: 0.5,
            learning_rate: 0.1,
        }
    }
}

/// The mutation policy.
#[derive(Clone, Debug)]
pub struct Controller {
    layer_logits: Vec<f64>,
    choice_logits: Vec<Vec<f64>>,
    baseline: f64,
    updates: u64,
    lr: f64,
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

fn sample(p: &[f64], rng: &mut SplitMix64) -> usize {
    let u = rng.next_f64();
    let mut acc = 0.0;
    for (i, &x) in p.iter().enumerate() {
        acc += x;
        if u < acc {
            return i;
        }
    }
    p.len() - 1
}

impl Controller {
    /// A uniform policy for genes with these choice counts.
    pub fn new(cardinalities: &[usize], learning_rate: f64) -> Controller {
        Controller {
            layer_logits: vec![0.0; cardinalities.len()],
            choice_logits: cardinalities.iter().map(|&c| vec![0.0; c]).collect(),
            baseline: 0.0,
            updates: 0,
            lr: learning_rate,
        }
    }

    /// Proposes one change to `genes`: a layer with more than one choice and a choice
    /// different from its current one. `None` when no gene can change.
    pub fn propose(&self, genes: &[usize], rng: &mut SplitMix64) -> Option<(usize, usize)> {
        let mut layer_p = softmax(&self.layer_logits);
        for (l, p) in layer_p.iter_mut().enumerate() {
            if self.choice_logits[l].len() < 2 {
                *p = 0.0;
            }
        }
        let total: f64 = layer_p.iter().sum();
        if total <= 0.0 {
            return None;
        }
        layer_p.iter_mut().for_each(|p| *p /= total);
        let layer = sample(&layer_p, rng);
        let mut choice_p = softmax(&self.choice_logits[layer]);
        choice_p[genes[layer]] = 0.0;
        let s: f64 = choice_p.iter().sum();
        choice_p.iter_mut().for_each(|p| *p /= s);
        Some((layer, sample(&choice_p, rng)))
    }

    /// REINFORCE update for the action `(layer, choice)` with `reward` (positive when
    /// the child improved on its parent).
    pub fn update(&mut self, layer: usize, choice: usize, reward: f64) {
        self.updates += 1;
        // Moving-average baseline (a running mean at first).
        let beta = (1.0 / self.updates as f64).max(0.05);
        self.baseline += beta * (reward - self.baseline);
        let adv = reward - self.baseline;
        for (logits, chosen) in [
            (&mut self.layer_logits, layer),
            (&mut self.choice_logits[layer], choice),
        ] {
            let p = softmax(logits);
            for (i, l) in logits.iter_mut().enumerate() {
                let grad = if i == chosen { 1.0 - p[i] } else { -p[i] };
                *l += self.lr * adv * grad;
            }
        }
    }

    /// The current probability of each choice at `layer`.
    pub fn choice_probabilities(&self, layer: usize) -> Vec<f64> {
        softmax(&self.choice_logits[layer])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_learns_which_change_pays() {
        // Reward choice 2 at any layer; the policy should come to prefer it.
        let mut c = Controller::new(&[4, 4, 4], 0.2);
        let mut rng = SplitMix64::new(1);
        for _ in 0..2000 {
            let genes = [0, 0, 0];
            let (l, ch) = c.propose(&genes, &mut rng).unwrap();
            c.update(l, ch, if ch == 2 { 1.0 } else { -0.2 });
        }
        for l in 0..3 {
            let p = c.choice_probabilities(l);
            assert!(p[2] > 0.6, "layer {l}: {p:?}");
        }
    }

    #[test]
    fn proposals_change_something() {
        let c = Controller::new(&[1, 3, 1], 0.1);
        let mut rng = SplitMix64::new(2);
        for _ in 0..100 {
            let (l, ch) = c.propose(&[0, 1, 0], &mut rng).unwrap();
            assert_eq!(l, 1);
            assert_ne!(ch, 1);
        }
        assert!(
            Controller::new(&[1, 1], 0.1)
                .propose(&[0, 0], &mut rng)
                .is_none()
        );
    }
}
