//! Exact multiply-adds and parameter counts of an architecture.
//!
//! The convention (the one that reproduces every published figure, see
//! `../shared/reference/README.md` of the project):
//! - MAdds: convolutions `Hout·Wout·Cout·(Cin/groups)·k²` and fully connected layers
//!   `in·out`, the two SE FCs included; BatchNorm, activations, biases, residual adds,
//!   SE pooling and scaling and the global pool are not counted.
//! - Parameters: weights + biases + 2 per BatchNorm channel (γ, β; the running
//!   statistics are buffers, not parameters).
//!
//! Biases: convolutions followed by BN have none; SE FCs and the classifier have one;
//! MoGA's hidden 1×1 conv after pooling has none (as in the released model).

use serde::Serialize;

use crate::arch::Arch;
use crate::error::Result;
use crate::space::{Choice, Layer, Space};

/// Cost of one part of the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartStats {
    /// `stem`, `separable`, `layer 3`, `head`, `hidden fc`, `classifier`.
    pub name: String,
    /// What the part is: `conv3x3 s2`, `k5e6se s1`, `identity`, ...
    pub op: String,
    /// Input height and width.
    pub input_hw: u32,
    /// Input channels.
    pub cin: u32,
    /// Output channels.
    pub cout: u32,
    /// Output height and width.
    pub output_hw: u32,
    /// Multiply-adds.
    pub madds: u64,
    /// Parameters.
    pub params: u64,
}

/// Cost of a whole architecture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArchStats {
    /// The architecture, encoded.
    pub arch: String,
    /// The preset's name when the architecture is one.
    pub preset: Option<String>,
    /// Total multiply-adds.
    pub madds: u64,
    /// Total parameters.
    pub params: u64,
    /// Searchable layers that are not identity.
    pub depth: usize,
    /// Every part, input to output.
    pub parts: Vec<PartStats>,
}

/// Cost accumulator for a sequence of layers.
#[derive(Default)]
struct Cost {
    madds: u64,
    params: u64,
}

impl Cost {
    /// A k×k convolution with `groups`, followed by BN, without bias (every convolution
    /// of the three skeletons).
    fn conv(&mut self, out_hw: u32, cin: u32, cout: u32, k: u32, groups: u32) {
        let weights = u64::from(cout) * u64::from(cin / groups) * u64::from(k * k);
        self.madds += u64::from(out_hw) * u64::from(out_hw) * weights;
        self.params += weights + 2 * u64::from(cout);
    }

    /// A fully connected layer (no BN).
    fn fc(&mut self, cin: u32, cout: u32, bias: bool) {
        let weights = u64::from(cin) * u64::from(cout);
        self.madds += weights;
        self.params += weights + if bias { u64::from(cout) } else { 0 };
    }
}

/// Hidden width of an MBConv block: `round(cin × expansion)`, exact for integer ratios.
pub fn expanded(cin: u32, expansion: u32) -> u32 {
    cin * expansion
}

/// SE hidden width for `channels` expanded channels under `reduction`.
pub fn se_width(channels: u32, reduction: u32) -> u32 {
    channels / reduction
}

impl Space {
    /// MAdds and parameters of searchable layer `l` with `choice` (what [`Space::stats`]
    /// reports for it), without building a whole architecture.
    pub fn layer_counts(&self, l: usize, choice: Choice) -> (u64, u64) {
        let c = self.layer_cost(&self.layers[l], &choice);
        (c.madds, c.params)
    }

    fn layer_cost(&self, layer: &Layer, choice: &Choice) -> Cost {
        let mut c = Cost::default();
        if let Choice::Mbconv(m) = choice {
            let out_hw = layer.output_hw();
            let hidden = expanded(layer.cin, m.expansion);
            c.conv(layer.input_hw, layer.cin, hidden, 1, 1);
            c.conv(out_hw, hidden, hidden, m.kernel, hidden);
            if m.se {
                let r = se_width(hidden, self.se.reduction);
                c.fc(hidden, r, true);
                c.fc(r, hidden, true);
            }
            c.conv(out_hw, hidden, layer.cout, 1, 1);
        }
        c
    }

    /// MAdds and parameters of `arch`, part by part. Validates `arch` first.
    pub fn stats(&self, arch: &Arch) -> Result<ArchStats> {
        self.validate(arch)?;
        let mut parts = Vec::with_capacity(self.layers.len() + 5);
        let mut part = |name: String, op: String, input_hw, cin, cout, output_hw, cost: Cost| {
            parts.push(PartStats {
                name,
                op,
                input_hw,
                cin,
                cout,
                output_hw,
                madds: cost.madds,
                params: cost.params,
            })
        };

        let res = self.options.resolution;
        let hw = self.stem_output_hw();
        let stem = self.stem;
        let mut c = Cost::default();
        c.conv(hw, self.in_channels, stem.cout, stem.kernel, 1);
        let op = format!("conv{k}x{k} s{} {}", stem.stride, stem.act, k = stem.kernel);
        part("stem".into(), op, res, self.in_channels, stem.cout, hw, c);

        let sep = self.separable;
        let mut c = Cost::default();
        c.conv(hw, stem.cout, stem.cout, sep.kernel, stem.cout);
        c.conv(hw, stem.cout, sep.cout, 1, 1);
        let op = format!("dw{k}x{k}+pw {}", sep.act, k = sep.kernel);
        part("separable".into(), op, hw, stem.cout, sep.cout, hw, c);

        for (layer, choice) in self.layers.iter().zip(&arch.layers) {
            let name = format!("layer {}", layer.index);
            let op = match choice {
                Choice::Identity => "identity".to_string(),
                Choice::Mbconv(_) => format!("{choice} s{} {}", layer.stride, layer.act),
            };
            let c = self.layer_cost(layer, choice);
            part(
                name,
                op,
                layer.input_hw,
                layer.cin,
                layer.cout,
                layer.output_hw(),
                c,
            );
        }

        let head = self.head;
        let (fhw, fc_in) = (self.final_hw(), self.final_channels());
        let mut c = Cost::default();
        c.conv(fhw, fc_in, head.conv_channels, 1, 1);
        let op = format!("conv1x1 {} + avgpool", head.act);
        part("head".into(), op, fhw, fc_in, head.conv_channels, 1, c);

        let mut cin = head.conv_channels;
        if let Some((width, act)) = head.hidden {
            let mut c = Cost::default();
            c.fc(cin, width, false);
            part("hidden fc".into(), format!("fc {act}"), 1, cin, width, 1, c);
            cin = width;
        }
        let mut c = Cost::default();
        c.fc(cin, head.classes, true);
        part("classifier".into(), "fc".into(), 1, cin, head.classes, 1, c);

        Ok(ArchStats {
            arch: arch.encode(),
            preset: arch.preset_name().map(str::to_string),
            madds: parts.iter().map(|p| p.madds).sum(),
            params: parts.iter().map(|p| p.params).sum(),
            depth: arch.depth(),
            parts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::PRESETS;
    use crate::space::SpaceId;

    /// Exact counts under the documented convention; the published figures
    /// (../shared/reference/published.csv) are checked within 2% in tests/presets.rs.
    #[test]
    fn golden_preset_counts() {
        let got: Vec<(&str, u64, u64)> = PRESETS
            .iter()
            .map(|p| {
                let a = p.arch();
                let s = Space::new(a.space).stats(&a).unwrap();
                (p.name, s.madds, s.params)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("MoGA-A", 304_042_176, 5_159_802),
                ("MoGA-B", 248_634_720, 5_506_236),
                ("MoGA-C", 221_089_920, 5_488_200),
                ("FairNAS-A", 388_122_848, 4_651_352),
                ("FairNAS-B", 345_297_632, 4_506_272),
                ("FairNAS-C", 321_024_992, 4_397_864),
                ("Scarlet-A", 365_307_392, 6_707_720),
                ("Scarlet-B", 326_853_440, 6_531_556),
                ("Scarlet-C", 280_082_912, 6_073_684),
            ]
        );
    }

    #[test]
    fn identity_costs_nothing_and_parts_sum_up() {
        let s = Space::new(SpaceId::Scarlet);
        let a = crate::presets::preset("Scarlet-C").unwrap().arch();
        let st = s.stats(&a).unwrap();
        assert_eq!(st.depth, 16);
        assert_eq!(st.parts.len(), 19 + 4);
        assert_eq!(st.parts[2 + 3].madds, 0);
        assert_eq!(st.parts[2 + 3].op, "identity");
        assert_eq!(st.madds, st.parts.iter().map(|p| p.madds).sum::<u64>());
    }
}
