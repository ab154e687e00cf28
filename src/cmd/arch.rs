//! `moga arch stats|sample`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use lookup_tables::{ArchStats, Space, SrArch};

use crate::cli::{AnySpace, ArchCmd};
use crate::output::{Table, json_line, thousands};

pub fn run(cmd: ArchCmd) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        ArchCmd::Stats {
            archs,
            shape,
            out: o,
        } => {
            for (i, arg) in archs.iter().enumerate() {
                let stats = match super::load_sr_arch(arg)? {
                    Some(sr) => sr.stats(shape.lr_side)?,
                    None => {
                        let (arch, space) = super::load_valid_arch(arg, shape)?;
                        space.stats(&arch)?
                    }
                };
                if o.json {
                    json_line(&mut out, &stats)?;
                } else {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    print_stats(&mut out, &stats)?;
                }
            }
        }
        ArchCmd::Sample {
            space,
            count,
            seed,
            out: o,
        } => match space {
            AnySpace::Classify(id) => {
                for arch in Space::new(id).sample(count, seed) {
                    if o.json {
                        json_line(&mut out, &arch)?;
                    } else {
                        writeln!(out, "{arch}")?;
                    }
                }
            }
            AnySpace::Sr(id) => {
                for arch in SrArch::sample_n(id, count, seed) {
                    if o.json {
                        json_line(&mut out, &arch)?;
                    } else {
                        writeln!(out, "{arch}")?;
                    }
                }
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn print_stats(out: &mut impl Write, s: &ArchStats) -> Result<()> {
    let name = s
        .preset
        .as_deref()
        .map(|p| format!("{p} = "))
        .unwrap_or_default();
    writeln!(out, "{name}{}", s.arch)?;
    writeln!(
        out,
        "madds {} ({:.1} M)   params {} ({:.2} M)   depth {}",
        thousands(s.madds),
        s.madds as f64 / 1e6,
        thousands(s.params),
        s.params as f64 / 1e6,
        s.depth
    )?;
    let mut t = Table::new(&[
        "part", "op", " input", " cin", " cout", " output", " madds", " params",
    ]);
    for p in &s.parts {
        t.row(vec![
            p.name.clone(),
            p.op.clone(),
            format!("{0}x{0}", p.input_hw),
            p.cin.to_string(),
            p.cout.to_string(),
            format!("{0}x{0}", p.output_hw),
            thousands(p.madds),
            thousands(p.params),
        ]);
    }
    t.write(out)?;
    Ok(())
}
