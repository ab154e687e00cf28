//! `moga space list|show`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use lookup_tables::sr::{SR_CELLS, SR_STATS_SIDE};
use lookup_tables::{Choice, PRESETS, SR_PRESETS, SeSqueeze, Space, SpaceId, SrCell, SrSpaceId};
use serde::Serialize;

use crate::cli::{AnySpace, SpaceCmd, SpaceShape};
use crate::output::{Table, json_line};

#[derive(Serialize)]
struct SpaceSummary {
    space: String,
    layers: usize,
    choices: usize,
    /// Distinct latency-table units (super-resolution spaces: at a 480x480 input).
    units: Option<usize>,
    presets: Vec<&'static str>,
}

fn sr_presets_of(id: SrSpaceId) -> Vec<&'static str> {
    SR_PRESETS
        .iter()
        .filter(|p| p.arch().space == id)
        .map(|p| p.name)
        .collect()
}

fn sr_summary(id: SrSpaceId) -> SpaceSummary {
    SpaceSummary {
        space: id.to_string(),
        layers: SR_CELLS,
        choices: SrCell::all().len(),
        units: Some(id.unit_list(SR_STATS_SIDE).len()),
        presets: sr_presets_of(id),
    }
}

fn presets_of(id: SpaceId) -> Vec<&'static str> {
    PRESETS
        .iter()
        .filter(|p| p.arch().space == id)
        .map(|p| p.name)
        .collect()
}

fn summary(space: &Space) -> SpaceSummary {
    SpaceSummary {
        space: space.id.to_string(),
        layers: space.layers.len(),
        choices: space.choices.len(),
        units: Some(space.unit_list().len()),
        presets: presets_of(space.id),
    }
}

pub fn run(cmd: SpaceCmd) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        SpaceCmd::List(o) => {
            let all: Vec<SpaceSummary> = SpaceId::ALL
                .iter()
                .map(|&id| summary(&Space::new(id)))
                .chain(SrSpaceId::ALL.into_iter().map(sr_summary))
                .collect();
            if o.json {
                for s in &all {
                    json_line(&mut out, s)?;
                }
            } else {
                let mut t = Table::new(&["space", " layers", " choices", " units", "presets"]);
                for s in all {
                    t.row(vec![
                        s.space.to_string(),
                        s.layers.to_string(),
                        s.choices.to_string(),
                        s.units.map_or("-".into(), |u| u.to_string()),
                        s.presets.join(", "),
                    ]);
                }
                t.write(&mut out)?;
            }
        }
        SpaceCmd::Show {
            space: AnySpace::Sr(id),
            shape,
            units,
            out: o,
        } => show_sr(&mut out, id, shape.lr_side, units, o.json)?,
        SpaceCmd::Show {
            space: AnySpace::Classify(space),
            shape,
            units,
            out: o,
        } => show(&mut out, super::space(space, shape)?, shape, units, o.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct SpaceJson<'a> {
    #[serde(flatten)]
    space: &'a Space,
    units: usize,
    presets: Vec<&'static str>,
    search_space_size: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_list: Option<Vec<String>>,
}

fn show(
    out: &mut impl Write,
    space: Space,
    _shape: SpaceShape,
    units: bool,
    json: bool,
) -> Result<()> {
    let size: f64 = (0..space.layers.len())
        .map(|i| space.choices_at(i).len() as f64)
        .product();
    let unit_list = space.unit_list();
    if json {
        let j = SpaceJson {
            space: &space,
            units: unit_list.len(),
            presets: presets_of(space.id),
            search_space_size: size,
            unit_list: units.then(|| unit_list.iter().map(ToString::to_string).collect()),
        };
        return json_line(out, &j);
    }
    let o = space.options;
    writeln!(
        out,
        "space {}: {} searchable layers × {} choices ({size:.3e} architectures), input {r}×{r}, {} classes",
        space.id,
        space.layers.len(),
        space.choices.len(),
        o.classes,
        r = o.resolution
    )?;
    writeln!(
        out,
        "choices: {}",
        space
            .choices
            .iter()
            .map(Choice::token)
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    let squeeze = match space.se.squeeze {
        SeSqueeze::BlockAct => "the block's activation".to_string(),
        SeSqueeze::Fixed(a) => a.to_string(),
    };
    writeln!(
        out,
        "SE: hidden = expanded / {}, squeeze {squeeze}, gate {}",
        space.se.reduction, space.se.gate
    )?;
    let s = space.stem;
    writeln!(
        out,
        "stem: conv{k}x{k} s{} {}→{} + BN + {}",
        s.stride,
        space.in_channels,
        s.cout,
        s.act,
        k = s.kernel
    )?;
    let p = space.separable;
    writeln!(
        out,
        "separable: dw{k}x{k} + BN + {} + pw {}→{} + BN",
        p.act,
        s.cout,
        p.cout,
        k = p.kernel
    )?;
    writeln!(out)?;
    let mut t = Table::new(&[
        " layer", " input", " cin", " cout", " stride", "act", "residual", " choices",
    ]);
    for l in &space.layers {
        t.row(vec![
            l.index.to_string(),
            format!("{0}x{0}", l.input_hw),
            l.cin.to_string(),
            l.cout.to_string(),
            l.stride.to_string(),
            l.act.to_string(),
            if l.keeps_shape() { "yes" } else { "no" }.into(),
            space.choices_at(l.index).len().to_string(),
        ]);
    }
    t.write(out)?;
    writeln!(out)?;
    let h = space.head;
    let hidden = h
        .hidden
        .map(|(w, a)| format!(" → fc {}→{w} {a}", h.conv_channels))
        .unwrap_or_default();
    let last = h.hidden.map_or(h.conv_channels, |(w, _)| w);
    writeln!(
        out,
        "head: conv1x1 {}→{} + BN + {} → avgpool{hidden} → fc {last}→{}",
        space.final_channels(),
        h.conv_channels,
        h.act,
        h.classes
    )?;
    writeln!(out, "presets: {}", presets_of(space.id).join(", "))?;
    writeln!(
        out,
        "units to profile: {} distinct (identical layers share units)",
        unit_list.len()
    )?;
    if units {
        for u in &unit_list {
            writeln!(out, "  {u}")?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct SrSpaceJson {
    space: String,
    cells: usize,
    choices: Vec<String>,
    link_bits: usize,
    search_space_size: f64,
    presets: Vec<&'static str>,
    lr_side: u32,
    units: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_list: Option<Vec<String>>,
}

/// `moga space show falsr|moremnas`.
fn show_sr(out: &mut impl Write, id: SrSpaceId, side: u32, units: bool, json: bool) -> Result<()> {
    let cells = SrCell::all();
    let unit_list = id.unit_list(side);
    let size = (cells.len() as f64).powi(SR_CELLS as i32) * 2f64.powi(id.link_bits() as i32);
    if json {
        let j = SrSpaceJson {
            space: id.to_string(),
            cells: SR_CELLS,
            choices: cells.iter().map(ToString::to_string).collect(),
            link_bits: id.link_bits(),
            search_space_size: size,
            presets: sr_presets_of(id),
            lr_side: side,
            units: unit_list.len(),
            unit_list: units.then(|| unit_list.iter().map(ToString::to_string).collect()),
        };
        return json_line(out, &j);
    }
    writeln!(
        out,
        "space {id}: x2 super-resolution of luminance; {SR_CELLS} cells x {} choices{} ({size:.3e} architectures)",
        cells.len(),
        if id.link_bits() > 0 {
            format!(" + {} link bits", id.link_bits())
        } else {
            " in a plain chain".into()
        }
    )?;
    writeln!(out, "fe: conv3x3 1->32 + ReLU")?;
    writeln!(
        out,
        "cells: op conv | group2 | group4 | invbot (expansion 2) x filters 16 32 48 64 x kernel 1 3 x repeats 1 2 4 x skip | noskip"
    )?;
    writeln!(
        out,
        "  conv/group: per repeat k x k conv + ReLU; skip adds the first repeat's output to the last's"
    )?;
    writeln!(
        out,
        "  invbot: 1x1 map to f, per repeat k x k conv f->2f + ReLU, dw3x3 + ReLU, k x k conv 2f->f, + the repeat's input; skip adds the map's output"
    )?;
    if id.link_bits() > 0 {
        writeln!(
            out,
            "links: cell j reads cell j-1 and, per bit, the fe and cells 0..j-2; the tail reads cell 6 and, per bit, fe and cells 0..5 (concatenated in source order)"
        )?;
    }
    writeln!(
        out,
        "tail: conv3x3 -> 32 + ReLU, + fe; depth-to-space x2 (DCR) 32 -> 8; conv3x3 8 -> 1 (the high-resolution Y)"
    )?;
    writeln!(out, "presets: {}", sr_presets_of(id).join(", "))?;
    writeln!(
        out,
        "latency-table units at {side}x{side}: {} (srfe, srcell per input width its position can have, srtail)",
        unit_list.len()
    )?;
    if units {
        for u in &unit_list {
            writeln!(out, "  {u}")?;
        }
    }
    Ok(())
}
