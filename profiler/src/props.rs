//! Parsing what Android prints (`getprop`, `dumpsys SurfaceFlinger`, `dumpsys
//! thermalservice`) as pure functions, tested on captured text.

use std::collections::BTreeMap;

/// `getprop` output (`[key]: [value]` per line) as a map; malformed lines are skipped
/// (values may legitimately be multi-line on some builds).
pub fn parse_getprop(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('[')?;
            let (k, v) = rest.split_once("]: [")?;
            Some((k.to_string(), v.strip_suffix(']').unwrap_or(v).to_string()))
        })
        .collect()
}

/// The GPU APIs a phone declares for compute, from its properties: `vulkan` when it
/// names a Vulkan driver (`ro.hardware.vulkan`), `gles3.1`/`gles3.2` when its OpenGL ES
/// (`ro.opengles.version`, major << 16 | minor) has compute shaders (3.1 and later).
pub fn gpu_apis(props: &BTreeMap<String, String>) -> Vec<String> {
    let mut apis = Vec::new();
    if props
        .get("ro.hardware.vulkan")
        .is_some_and(|v| !v.trim().is_empty())
    {
        apis.push("vulkan".to_string());
    }
    if let Some(v) = props
        .get("ro.opengles.version")
        .and_then(|v| v.trim().parse::<u32>().ok())
    {
        let (major, minor) = (v >> 16, v & 0xffff);
        if (major, minor) >= (3, 1) {
            apis.push(format!("gles{major}.{minor}"));
        }
    }
    apis
}

/// The GL renderer from `dumpsys SurfaceFlinger`: the `GLES: vendor, renderer, version`
/// line, as `renderer (version)`.
pub fn parse_gles(text: &str) -> Option<String> {
    let line = text.lines().find_map(|l| l.trim().strip_prefix("GLES:"))?;
    let parts: Vec<&str> = line.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [_, renderer, version @ ..] if !renderer.is_empty() => {
            let v = version.join(", ");
            Some(if v.is_empty() {
                renderer.to_string()
            } else {
                format!("{renderer} ({v})")
            })
        }
        _ => Some(line.trim().to_string()).filter(|s| !s.is_empty()),
    }
}

/// The thermal status from `dumpsys thermalservice` (`Thermal Status: 0`), with its
/// name (0 none … 6 shutdown, Android's PowerManager.THERMAL_STATUS_*).
pub fn parse_thermal_status(text: &str) -> Option<String> {
    let n: u32 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Thermal Status:"))?
        .trim()
        .parse()
        .ok()?;
    let name = [
        "none",
        "light",
        "moderate",
        "severe",
        "critical",
        "emergency",
        "shutdown",
    ]
    .get(n as usize)
    .copied()
    .unwrap_or("unknown");
    Some(format!("{n} ({name})"))
}

/// The device's heat (thermal zones, clocks, battery): read through its shell with
/// [`HEAT_SH`] and [`parse_heat`], the same reading the runner takes itself.
pub use device_runner::heat::{HEAT_SH, HeatReading, ThermalZone, parse_heat};

/// The hottest reading of `dumpsys thermalservice`'s current temperatures
/// (`Temperature{mValue=41.2, mType=0, mName=cpu0, …}`), as `name value°C`.
pub fn parse_max_temperature(text: &str) -> Option<String> {
    let start = text.find("Current temperatures from HAL:")?;
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.trim_start().starts_with("Temperature{"))
        .filter_map(|l| {
            let v: f64 = l
                .split("mValue=")
                .nth(1)?
                .split(',')
                .next()?
                .trim()
                .parse()
                .ok()?;
            let name = l
                .split("mName=")
                .nth(1)?
                .split(',')
                .next()?
                .trim()
                .to_string();
            Some((v, name))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(v, n)| format!("{n} {v:.1}°C"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GETPROP: &str = "[ro.product.model]: [MI 8]\n[ro.product.manufacturer]: [Xiaomi]\n[ro.board.platform]: [sdm845]\n[ro.product.cpu.abi]: [arm64-v8a]\n[ro.build.version.release]: [10]\n[ro.build.version.sdk]: [29]\n[persist.sys.empty]: []\ngarbage line\n";

    #[test]
    fn getprop_lines() {
        let p = parse_getprop(GETPROP);
        assert_eq!(p["ro.product.model"], "MI 8");
        assert_eq!(p["ro.board.platform"], "sdm845");
        assert_eq!(p["persist.sys.empty"], "");
        assert_eq!(p.len(), 7);
    }

    #[test]
    fn declared_gpu_apis() {
        let props = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // A Snapdragon 845 phone: Vulkan driver named, GLES 3.2 (0x30002).
        let both = props(&[
            ("ro.hardware.vulkan", "adreno"),
            ("ro.opengles.version", "196610"),
        ]);
        assert_eq!(gpu_apis(&both), ["vulkan", "gles3.2"]);
        // GLES 3.0 has no compute shaders; an empty Vulkan property is no driver.
        let old = props(&[
            ("ro.hardware.vulkan", " "),
            ("ro.opengles.version", "196608"),
        ]);
        assert!(gpu_apis(&old).is_empty());
        let gles_only = props(&[("ro.opengles.version", "196609")]);
        assert_eq!(gpu_apis(&gles_only), ["gles3.1"]);
        assert!(gpu_apis(&props(&[("ro.opengles.version", "garbage")])).is_empty());
    }

    #[test]
    fn surfaceflinger_renderer() {
        let sf = "Build configuration: [sf PRESENT_TIME_OFFSET=0]\nGLES: Qualcomm, Adreno (TM) 630, OpenGL ES 3.2 V@415.0 (GIT@663be55, I724753c5e3, 1573037262) (Date:11/06/19)\n";
        assert_eq!(
            parse_gles(sf).unwrap(),
            "Adreno (TM) 630 (OpenGL ES 3.2 V@415.0 (GIT@663be55, I724753c5e3, 1573037262) (Date:11/06/19))"
        );
        let mali = "GLES: ARM, Mali-G76, OpenGL ES 3.2 v1.r26p0\n";
        assert_eq!(
            parse_gles(mali).unwrap(),
            "Mali-G76 (OpenGL ES 3.2 v1.r26p0)"
        );
        assert_eq!(parse_gles("nothing here"), None);
    }

    #[test]
    fn thermal_service() {
        let t = "IsStatusOverride: false\nThermal Status: 2\nCached temperatures:\nHAL Ready: true\nCurrent temperatures from HAL:\n\tTemperature{mValue=41.2, mType=0, mName=cpu0, mStatus=0}\n\tTemperature{mValue=45.7, mType=1, mName=gpu0, mStatus=0}\nCurrent cooling devices from HAL:\n";
        assert_eq!(parse_thermal_status(t).unwrap(), "2 (moderate)");
        assert_eq!(parse_max_temperature(t).unwrap(), "gpu0 45.7°C");
        assert_eq!(parse_thermal_status("no service"), None);
    }
}
