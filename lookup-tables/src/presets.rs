//! The nine published models, as architectures of their spaces.
//!
//! Read from the authors' model definitions (`mb_config` of each released model file,
//! github.com/xiaomi-automl/{MoGA,FairNAS,SCARLET-NAS}); their MAdds and parameter
//! counts are checked against the published figures by the golden tests.

use crate::arch::Arch;

/// A published model.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// The name as published, e.g. `MoGA-A`.
    pub name: &'static str,
    /// The architecture in the compact encoding.
    pub encoding: &'static str,
}

impl Preset {
    /// The architecture (the encodings are checked by the tests, so this cannot fail).
    pub fn arch(&self) -> Arch {
        Arch::parse_encoding(self.encoding).expect("preset encodings are valid")
    }
}

/// Every preset, grouped by space.
pub const PRESETS: [Preset; 9] = [
    Preset {
        name: "MoGA-A",
        encoding: "moga:k5e6-k7e6-k3e6-k3e6se-k3e3se-k3e6se-k3e6-k7e6-k7e3se-k7e6-k3e6-k3e6-k5e6se-k5e6se",
    },
    Preset {
        name: "MoGA-B",
        encoding: "moga:k3e3-k3e3-k7e6-k3e3-k5e6-k3e6se-k5e6se-k3e3-k7e6se-k7e6-k5e3-k7e6se-k7e6se-k3e6se",
    },
    Preset {
        name: "MoGA-C",
        encoding: "moga:k5e3-k3e3-k5e3-k3e3-k5e3-k5e3-k5e6se-k5e3-k5e3-k3e6-k3e6se-k3e6se-k3e6se-k3e6se",
    },
    Preset {
        name: "FairNAS-A",
        encoding: "fairnas:k7e3-k3e3-k7e3-k3e6-k7e6-k3e3-k3e3-k7e6-k7e6-k5e3-k3e6-k5e3-k5e3-k3e6-k3e6-k7e6-k3e6-k7e6-k5e6",
    },
    Preset {
        name: "FairNAS-B",
        encoding: "fairnas:k5e3-k3e3-k5e3-k3e3-k3e6-k5e3-k7e3-k3e3-k3e6-k5e3-k3e3-k3e6-k7e3-k3e3-k7e6-k5e6-k7e6-k3e6-k5e6",
    },
    Preset {
        name: "FairNAS-C",
        encoding: "fairnas:k5e3-k3e3-k7e3-k3e3-k3e3-k3e3-k3e3-k3e3-k3e3-k3e6-k3e3-k3e3-k3e3-k3e3-k7e6-k7e6-k3e6-k3e6-k5e6",
    },
    Preset {
        name: "Scarlet-A",
        encoding: "scarlet:k7e3-k5e6-k5e3-k7e3se-k3e6se-k5e3se-k3e6se-k3e3-k7e3se-k7e3-k5e3-k7e3se-k3e3-k7e3se-k3e6se-k5e6se-k3e3se-k3e6se-k7e6se",
    },
    Preset {
        name: "Scarlet-B",
        encoding: "scarlet:k3e3se-k5e3se-k3e3se-k7e6se-k3e3-k5e3-k7e6se-k3e3se-id-k5e3-k3e3se-k3e3se-k7e6se-k3e3se-k5e6se-k5e6se-id-k7e6se-k5e6se",
    },
    Preset {
        name: "Scarlet-C",
        encoding: "scarlet:k5e3se-k3e3se-k5e3se-id-id-k3e3-k7e6se-k3e3se-k3e3se-k5e3-k7e3se-k7e3-k3e3se-k7e3se-k3e3se-id-k3e6se-k7e6se-k5e6se",
    },
];

/// The preset called `name` (case-insensitive, `_` accepted for `-`).
pub fn preset(name: &str) -> Option<&'static Preset> {
    let want = name.trim().replace('_', "-");
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(&want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Space;

    #[test]
    fn every_preset_is_valid_in_its_space() {
        for p in PRESETS {
            let arch = p.arch();
            Space::new(arch.space).validate(&arch).unwrap();
            assert_eq!(arch.encode(), p.encoding, "{}", p.name);
        }
    }

    #[test]
    fn names_are_forgiving() {
        assert_eq!(preset("moga_a").unwrap().name, "MoGA-A");
        assert_eq!(preset(" SCARLET-c ").unwrap().name, "Scarlet-C");
        assert!(preset("MoGA-D").is_none());
    }
}
