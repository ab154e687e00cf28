//! `moga space list|show`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use lookup_tables::{Choice, PRESETS, SeSqueeze, Space, SpaceId};
use serde::Serialize;

use crate::cli::{SpaceCmd, SpaceShape};
use crate::output::{Table, json_line};

#[derive(Serialize)]
struct SpaceSummary {
    space: SpaceId,
    layers: usize,
    choices: usize,
    units: usize,
    presets: Vec<&'static str>,
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
        space: space.id,
        layers: space.layers.len(),
        choices: space.choices.len(),
        units: space.unit_list().len(),
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
                        s.units.to_string(),
                        s.presets.join(", "),
                    ]);
                }
                t.write(&mut out)?;
            }
        }
        SpaceCmd::Show {
            space,
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
