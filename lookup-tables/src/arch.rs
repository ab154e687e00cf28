//! Architectures: one choice per searchable layer of a space.
//!
//! Three ways to write one, all accepted wherever the CLI takes `<arch>`:
//! - a preset name: `MoGA-A`;
//! - the compact encoding: `moga:k5e6-k7e6-k3e6se-…` (space, then one token per layer:
//!   `k<kernel>e<expansion>`, an `se` suffix for squeeze-and-excitation, `id` for
//!   identity), easy to type and to paste into a shell;
//! - JSON: `{"space":"moga","layers":[{"op":"mbconv","kernel":5,"expansion":6,"se":false},…]}`.
//!
//! Reading checks only the syntax; [`Space::validate`] checks the choices against the
//! space and names the first bad layer.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::presets;
use crate::rng::SplitMix64;
use crate::space::{Choice, Space, SpaceId};

/// One choice per searchable layer of `space`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    /// The space the layers index.
    pub space: SpaceId,
    /// The choice of each searchable layer, in order.
    pub layers: Vec<Choice>,
}

/// Longest input echoed back in an error message.
const ECHO_MAX: usize = 80;

fn echo(input: &str) -> String {
    if input.chars().count() <= ECHO_MAX {
        input.to_string()
    } else {
        let head: String = input.chars().take(ECHO_MAX).collect();
        format!("{head}…")
    }
}

impl Arch {
    /// Reads an architecture in any of its forms: preset name, compact encoding or JSON.
    pub fn parse(input: &str) -> Result<Arch> {
        let text = input.trim();
        if text.starts_with('{') {
            return Arch::from_json(text, "architecture JSON");
        }
        if let Some(p) = presets::preset(text) {
            return Ok(p.arch());
        }
        if !text.contains(':') {
            let names: Vec<&str> = presets::PRESETS
                .iter()
                .map(|p| p.name)
                .chain(crate::sr::SR_PRESETS.iter().map(|p| p.name))
                .collect();
            return Err(Error::ArchSyntax {
                input: echo(text),
                message: format!(
                    "not a preset ({}) and not an encoding like 'moga:k5e6-k3e3se-…'",
                    names.join(", ")
                ),
            });
        }
        Arch::parse_encoding(text)
    }

    /// Reads the compact encoding `space:tok-tok-…`.
    pub fn parse_encoding(input: &str) -> Result<Arch> {
        let text = input.trim();
        let syntax = |message: String| Error::ArchSyntax {
            input: echo(text),
            message,
        };
        let (space, layers) = text
            .split_once(':')
            .ok_or_else(|| syntax("expected '<space>:<layer>-<layer>-…'".into()))?;
        let space: SpaceId = space.parse()?;
        if layers.trim().is_empty() {
            return Err(syntax("no layers after the space name".into()));
        }
        let layers = layers
            .split('-')
            .enumerate()
            .map(|(i, tok)| Choice::parse_token(tok).map_err(|m| syntax(format!("layer {i}: {m}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arch { space, layers })
    }

    /// Reads the JSON form; `what` names the source in errors (a file name, say).
    pub fn from_json(text: &str, what: &str) -> Result<Arch> {
        let arch: Arch = serde_json::from_str(text).map_err(|error| Error::Json {
            what: what.to_string(),
            error,
        })?;
        // As the encoding: an architecture has layers (found by fuzzing: an empty list
        // parsed here but its encoding `space:` did not).
        if arch.layers.is_empty() {
            return Err(Error::ArchSyntax {
                input: echo(text.trim()),
                message: format!("{what}: \"layers\" is empty"),
            });
        }
        Ok(arch)
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("architectures always serialise")
    }

    /// The compact encoding.
    pub fn encode(&self) -> String {
        // Written byte by byte: a search reports every architecture it evaluated (tens
        // of thousands), and the formatting machinery per layer cost more than the
        // search itself.
        let mut s = String::with_capacity(self.space.name().len() + 1 + 7 * self.layers.len());
        s.push_str(self.space.name());
        s.push(':');
        for (i, c) in self.layers.iter().enumerate() {
            if i > 0 {
                s.push('-');
            }
            c.push_code(&mut s);
        }
        s
    }

    /// Draws one valid architecture uniformly: each layer independently from the choices
    /// valid at that layer.
    pub fn sample(space: &Space, rng: &mut SplitMix64) -> Arch {
        let layers = (0..space.layers.len())
            .map(|i| {
                let valid = space.choices_at(i);
                valid[rng.below(valid.len() as u64) as usize]
            })
            .collect();
        Arch {
            space: space.id,
            layers,
        }
    }

    /// The name of the preset with exactly these layers, if there is one.
    pub fn preset_name(&self) -> Option<&'static str> {
        // Parsed once: `Space::stats` asks this of every architecture it describes.
        static PARSED: std::sync::LazyLock<Vec<(&'static str, Arch)>> =
            std::sync::LazyLock::new(|| {
                presets::PRESETS
                    .iter()
                    .map(|p| (p.name, p.arch()))
                    .collect()
            });
        PARSED
            .iter()
            .find(|(_, a)| a == self)
            .map(|(name, _)| *name)
    }

    /// How many layers are identity (skipped).
    pub fn depth(&self) -> usize {
        self.layers
            .iter()
            .filter(|c| **c != Choice::Identity)
            .count()
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl Space {
    /// Checks that `arch` belongs to this space: same space, same layer count, every
    /// choice offered at its layer. The error names the first bad layer.
    pub fn validate(&self, arch: &Arch) -> Result<()> {
        if arch.space != self.id {
            return Err(Error::SpaceOption {
                space: self.id.to_string(),
                message: format!("the architecture belongs to space {}", arch.space),
            });
        }
        if arch.layers.len() != self.layers.len() {
            return Err(Error::LayerCount {
                space: self.id.to_string(),
                expected: self.layers.len(),
                found: arch.layers.len(),
            });
        }
        arch.layers
            .iter()
            .enumerate()
            .try_for_each(|(i, c)| self.check_choice(i, *c))
    }

    /// `n` architectures drawn with `seed`; the same seed always gives the same list.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<Arch> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| Arch::sample(self, &mut rng)).collect()
    }

    /// `designs` covering designs, seeded: each is as many architectures as the widest
    /// layer has choices, and in each one every layer takes every one of its valid
    /// choices (at least) once, in an order shuffled per layer and design — a Latin
    /// square over layers, FairNAS's strict fairness applied to profiling. Every unit
    /// an architecture of the space can have thus appears in at least `designs`
    /// architectures, each time among other neighbours.
    pub fn covering_design(&self, designs: usize, seed: u64) -> Vec<Arch> {
        let mut rng = SplitMix64::new(seed);
        let width = (0..self.layers.len())
            .map(|l| self.choices_at(l).len())
            .max()
            .unwrap_or(0);
        let mut out = Vec::with_capacity(designs * width);
        for _ in 0..designs {
            let orders: Vec<Vec<Choice>> = (0..self.layers.len())
                .map(|l| {
                    let mut c = self.choices_at(l);
                    for i in (1..c.len()).rev() {
                        c.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                    c
                })
                .collect();
            for j in 0..width {
                out.push(Arch {
                    space: self.id,
                    layers: orders.iter().map(|c| c[j % c.len()]).collect(),
                });
            }
        }
        out
    }

    /// The network a table's runs are paired with to cancel a device's drift: the
    /// space's first published model (MoGA-A, FairNAS-A, Scarlet-A).
    pub fn reference_arch(&self) -> Arch {
        presets::PRESETS
            .iter()
            .map(presets::Preset::arch)
            .find(|a| a.space == self.id)
            .unwrap_or_else(|| Arch {
                space: self.id,
                layers: (0..self.layers.len())
                    .map(|l| self.choices_at(l)[0])
                    .collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_arch() -> impl Strategy<Value = Arch> {
        (prop::sample::select(SpaceId::ALL.to_vec()), any::<u64>())
            .prop_map(|(id, seed)| Space::new(id).sample(1, seed).remove(0))
    }

    proptest! {
        #[test]
        fn encoding_round_trips(arch in arb_arch()) {
            let back = Arch::parse(&arch.encode()).unwrap();
            prop_assert_eq!(&back, &arch);
            Space::new(arch.space).validate(&back).unwrap();
        }

        #[test]
        fn json_round_trips(arch in arb_arch()) {
            prop_assert_eq!(Arch::parse(&arch.to_json()).unwrap(), arch);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,200}") {
            let _ = Arch::parse(&s);
        }
    }

    #[test]
    fn sampling_is_deterministic_and_valid() {
        let s = Space::new(SpaceId::Scarlet);
        let a = s.sample(50, 42);
        assert_eq!(a, s.sample(50, 42));
        assert_ne!(a, s.sample(50, 43));
        for arch in &a {
            s.validate(arch).unwrap();
        }
        assert!(
            a.iter().any(|x| x.depth() < 19),
            "identity should be drawn sometimes"
        );
    }

    #[test]
    fn errors_name_the_layer_and_the_choice() {
        let moga = Space::new(SpaceId::Moga);
        let mut arch = presets::preset("MoGA-A").unwrap().arch();
        arch.layers[5] = Choice::parse_token("k9e6").unwrap();
        let msg = moga.validate(&arch).unwrap_err().to_string();
        assert!(msg.contains("layer 5") && msg.contains("k9e6"), "{msg}");

        let msg = Arch::parse("moga:k3e6-k3q6").unwrap_err().to_string();
        assert!(msg.contains("layer 1") && msg.contains("k3q6"), "{msg}");

        arch.layers.pop();
        let msg = moga.validate(&arch).unwrap_err().to_string();
        assert!(msg.contains("14") && msg.contains("13"), "{msg}");

        let msg = Arch::parse("MoGA-Z").unwrap_err().to_string();
        assert!(msg.contains("not a preset"), "{msg}");
        let msg = Arch::parse("mobilenet:k3e6").unwrap_err().to_string();
        assert!(msg.contains("unknown search space 'mobilenet'"), "{msg}");
    }

    #[test]
    fn json_form_is_explicit() {
        let arch = Arch::parse("fairnas:k3e3-k5e6").unwrap();
        assert_eq!(
            arch.to_json(),
            r#"{"space":"fairnas","layers":[{"op":"mbconv","kernel":3,"expansion":3,"se":false},{"op":"mbconv","kernel":5,"expansion":6,"se":false}]}"#
        );
        let msg = Arch::parse(r#"{"space":"moga","layers":[{"op":"conv"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("architecture JSON"), "{msg}");
        let typo = r#"{"space":"moga","layers":[{"op":"mbconv","kernel":3,"expansion":3,"se":false,"kernal":5}]}"#;
        let msg = Arch::parse(typo).unwrap_err().to_string();
        assert!(msg.contains("kernal"), "{msg}");
    }

    /// Inputs the fuzzer (fuzz/fuzz_targets/arch.rs) found; each must be refused, not
    /// parsed into something that cannot be written back.
    #[test]
    fn fuzz_regressions() {
        for input in [
            // crash-6763a3e6: no layers in JSON, while `scarlet:` is refused.
            "{\"space\":\"scarlet\",\"layers\":[]}\n",
            // …and its encoding.
            "scarlet:",
        ] {
            let err = Arch::parse(input).unwrap_err().to_string();
            assert!(err.contains("layers"), "{input:?}: {err}");
        }
    }

    #[test]
    fn covering_designs_hold_every_choice_of_every_layer() {
        for id in SpaceId::ALL {
            let space = Space::new(id);
            let archs = space.covering_design(2, 5);
            let width = (0..space.layers.len())
                .map(|l| space.choices_at(l).len())
                .max()
                .unwrap();
            assert_eq!(archs.len(), 2 * width, "{id}");
            for design in archs.chunks(width) {
                for l in 0..space.layers.len() {
                    for c in space.choices_at(l) {
                        assert!(
                            design.iter().any(|a| a.layers[l] == c),
                            "{id}: layer {l} lacks {c:?}"
                        );
                    }
                }
                for a in design {
                    space.validate(a).unwrap();
                }
            }
            // Seeded: the same list again; another seed, another order.
            assert_eq!(space.covering_design(2, 5), archs);
            assert_ne!(space.covering_design(2, 6), archs);
            space.validate(&space.reference_arch()).unwrap();
        }
        assert_eq!(
            Space::new(SpaceId::Moga).reference_arch().preset_name(),
            Some("MoGA-A")
        );
    }
}
