//! Where accuracies come from: a plug-in point, generic over the architecture type of
//! any [`lookup_tables::SearchSpace`]. This crate implements the proxy and accuracy
//! tables for every space; a supernet checkpoint (libtorch) implements it in the
//! `supernet` crate, so the engine builds and tests without libtorch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lookup_tables::{Arch, Architecture};

use crate::error::{Error, Result};

/// What an oracle may use besides the architecture itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Features {
    /// Multiply-adds.
    pub madds: u64,
    /// Parameters.
    pub params: u64,
    /// Identity (skipped) layers.
    pub identities: usize,
}

/// An accuracy oracle over the architectures `A` of a space (classification's by
/// default): top-1 accuracy (%) for classification, PSNR (dB) for super-resolution;
/// larger is better.
pub trait AccuracyOracle<A = Arch>: Send {
    /// The accuracy of `arch`; an error stops the search with its message.
    fn accuracy(&mut self, arch: &A, features: Features) -> Result<f64>;
    /// What the accuracies are, for reports.
    fn describe(&self) -> String;
    /// The lowest and highest accuracy the space can have, for normalising the
    /// hypervolume: given the space's smallest (fewest MAdds and parameters, every
    /// layer an identity where one exists) and largest corners.
    fn bounds(&self, smallest: Features, largest: Features) -> (f64, f64);
    /// Whether the answer is a closed-form function of the features alone, like the
    /// proxy's: then the architecture passed is not filled in, and calls are not timed
    /// (two clock readings would cost more than the answer; its time counts as the
    /// engine's).
    fn features_only(&self) -> bool {
        false
    }
    /// Calls so far, calls answered from a cache, and seconds spent answering.
    fn calls(&self) -> OracleCalls {
        OracleCalls::default()
    }
}

/// How much an oracle was asked and what it cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct OracleCalls {
    /// Accuracies asked for.
    pub calls: u64,
    /// Of those, answered from a cache.
    pub cache_hits: u64,
    /// Seconds spent answering.
    pub seconds: f64,
}

/// A deterministic stand-in computed from MAdds, parameters and depth, for tests and
/// demos: *not* an accuracy. Larger, deeper networks score higher with diminishing
/// returns: `60 + 15·(1 − e^(−MAdds/250M)) + 5·(1 − e^(−params/4M)) − 0.2·(identity
/// layers)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Proxy;

impl Proxy {
    /// The proxy's value.
    pub fn value(f: Features) -> f64 {
        60.0 + 15.0 * (1.0 - (-(f.madds as f64) / 250e6).exp())
            + 5.0 * (1.0 - (-(f.params as f64) / 4e6).exp())
            - 0.2 * f.identities as f64
    }
}

impl<A> AccuracyOracle<A> for Proxy {
    fn accuracy(&mut self, _arch: &A, f: Features) -> Result<f64> {
        Ok(Proxy::value(f))
    }

    fn describe(&self) -> String {
        "proxy (a deterministic function of MAdds, parameters and depth; not an accuracy)".into()
    }

    fn features_only(&self) -> bool {
        true
    }

    fn bounds(&self, smallest: Features, largest: Features) -> (f64, f64) {
        (Proxy::value(smallest), Proxy::value(largest))
    }
}

/// Accuracies read from a CSV file (`arch,accuracy`, arch in any written form of the
/// space's architectures), keyed by canonical encoding.
#[derive(Clone, Debug)]
pub struct Table {
    /// The file.
    pub path: PathBuf,
    /// encoding → accuracy.
    pub map: HashMap<String, f64>,
}

impl Table {
    /// Reads `path` of classification architectures; a malformed line is an error
    /// naming it.
    pub fn read(path: &Path) -> Result<Table> {
        Table::read_as::<Arch>(path)
    }

    /// Reads `path` of architectures of type `A`.
    pub fn read_as<A: Architecture>(path: &Path) -> Result<Table> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            error: e,
        })?;
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (i == 0 && line.starts_with("arch")) {
                continue;
            }
            let err = |m: &str| Error::Usage(format!("{}: line {}: {m}", path.display(), i + 1));
            let (arch, acc) = line
                .rsplit_once(',')
                .ok_or_else(|| err("expected `arch,accuracy`"))?;
            let arch = A::parse(arch.trim()).map_err(|e| err(&e.to_string()))?;
            let acc: f64 = acc
                .trim()
                .parse()
                .map_err(|_| err(&format!("'{}' is not a number", acc.trim())))?;
            if !acc.is_finite() {
                return Err(err("accuracy must be finite"));
            }
            if map.insert(arch.encode(), acc).is_some() {
                return Err(err(&format!("{} is listed twice", arch.encode())));
            }
        }
        Ok(Table {
            path: path.to_path_buf(),
            map,
        })
    }
}

impl<A: Architecture> AccuracyOracle<A> for Table {
    fn accuracy(&mut self, arch: &A, _: Features) -> Result<f64> {
        self.map.get(&arch.encode()).copied().ok_or_else(|| {
            Error::Usage(format!(
                "{}: no accuracy for {} (the search reached an architecture the table lacks)",
                self.path.display(),
                arch.encode()
            ))
        })
    }

    fn describe(&self) -> String {
        format!(
            "table {} ({} architectures)",
            self.path.display(),
            self.map.len()
        )
    }

    fn bounds(&self, _: Features, _: Features) -> (f64, f64) {
        self.map
            .values()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            })
    }
}

/// `proxy` or `csv:PATH`, for architectures `A`; `None` for other specs (which other
/// crates implement, e.g. `supernet:DIR`).
pub fn parse<A: Architecture>(spec: &str) -> Option<Result<Box<dyn AccuracyOracle<A>>>> {
    if spec == "proxy" {
        return Some(Ok(Box::new(Proxy)));
    }
    spec.strip_prefix("csv:").map(|path| {
        Table::read_as::<A>(Path::new(path)).map(|t| Box::new(t) as Box<dyn AccuracyOracle<A>>)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_name_their_errors_and_answer_by_encoding() {
        let dir = std::env::temp_dir().join(format!("moga-oracle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("acc.csv");
        std::fs::write(&p, "arch,accuracy\nFairNAS-A,75.3\nfairnas:oops,1\n").unwrap();
        let e = Table::read(&p).unwrap_err().to_string();
        assert!(e.contains("acc.csv: line 3"), "{e}");
        std::fs::write(&p, "FairNAS-A,75.3\n").unwrap();
        let mut t = Table::read(&p).unwrap();
        let a = lookup_tables::preset("FairNAS-A").unwrap().arch();
        let f = Features {
            madds: 0,
            params: 0,
            identities: 0,
        };
        assert_eq!(t.accuracy(&a, f).unwrap(), 75.3);
        let b = lookup_tables::preset("FairNAS-B").unwrap().arch();
        assert!(
            t.accuracy(&b, f)
                .unwrap_err()
                .to_string()
                .contains("no accuracy for")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
