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

/// One thermal zone of `/sys/class/thermal`: its type and temperature in °C.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ThermalZone {
    /// `thermal_zoneN`.
    pub zone: String,
    /// Its `type` (`cpu-0-0-usr`, `gpuss-0-usr`, `battery`, …).
    pub kind: String,
    /// Its `temp`, in °C (`None` where unreadable: some zones refuse reads).
    pub celsius: Option<f64>,
}

/// What heat does to a device, read from its sysfs at one moment: thermal zones, the
/// CPU frequency of each cpufreq policy, the GPU's clock (Adreno's kgsl, or a devfreq
/// device named like a GPU: Mali, Xclipse) and the battery's temperature.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct HeatReading {
    /// `/sys/class/thermal/thermal_zone*`.
    pub zones: Vec<ThermalZone>,
    /// (`policyN`, kHz) of `/sys/devices/system/cpu/cpufreq/policy*/scaling_cur_freq`.
    pub cpu_khz: Vec<(String, u64)>,
    /// (source, Hz): `kgsl-3d0`'s `gpuclk`, or a GPU devfreq device's `cur_freq`.
    pub gpu_hz: Option<(String, u64)>,
    /// `/sys/class/power_supply/battery/temp` (tenths of a degree), °C.
    pub battery_celsius: Option<f64>,
}

impl HeatReading {
    /// The hottest readable zone: (°C, zone type).
    pub fn hottest(&self) -> Option<(f64, &str)> {
        self.zones
            .iter()
            .filter_map(|z| Some((z.celsius?, z.kind.as_str())))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }
}

/// The shell script whose output [`parse_heat`] reads: one tab-separated line per
/// reading (`zone`, `cpu`, `gpu`, `battery`), nothing for what is absent or unreadable.
pub const HEAT_SH: &str = r#"for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/type" ] || continue; printf 'zone\t%s\t%s\t%s\n' "${z##*/}" "$(cat "$z/type" 2>/dev/null)" "$(cat "$z/temp" 2>/dev/null)"; done
for p in /sys/devices/system/cpu/cpufreq/policy*; do [ -r "$p/scaling_cur_freq" ] && printf 'cpu\t%s\t%s\n' "${p##*/}" "$(cat "$p/scaling_cur_freq")"; done
[ -r /sys/class/kgsl/kgsl-3d0/gpuclk ] && printf 'gpu\tkgsl-3d0\t%s\n' "$(cat /sys/class/kgsl/kgsl-3d0/gpuclk)"
for d in /sys/class/devfreq/*; do case "${d##*/}" in *gpu*|*mali*|*kgsl*) [ -r "$d/cur_freq" ] && printf 'gpu\t%s\t%s\n' "${d##*/}" "$(cat "$d/cur_freq")";; esac; done
[ -r /sys/class/power_supply/battery/temp ] && printf 'battery\t%s\n' "$(cat /sys/class/power_supply/battery/temp)"
true"#;

/// [`HEAT_SH`]'s output. Zones: kernels report millidegrees; a value under 1000 in
/// magnitude is taken as whole degrees (some vendors' zones), and one outside
/// -50..200 °C (a disabled sensor's sentinel) as unreadable. The first GPU clock wins.
pub fn parse_heat(text: &str) -> HeatReading {
    let mut r = HeatReading::default();
    for l in text.lines() {
        let f: Vec<&str> = l.split('\t').map(str::trim).collect();
        match f.as_slice() {
            ["zone", zone, kind, temp] if zone.starts_with("thermal_zone") => {
                let celsius = temp
                    .parse::<f64>()
                    .ok()
                    .map(|v| if v.abs() >= 1000.0 { v / 1000.0 } else { v })
                    .filter(|c| (-50.0..=200.0).contains(c));
                r.zones.push(ThermalZone {
                    zone: zone.to_string(),
                    kind: kind.to_string(),
                    celsius,
                });
            }
            ["cpu", policy, khz] => {
                if let Ok(k) = khz.parse() {
                    r.cpu_khz.push((policy.to_string(), k));
                }
            }
            ["gpu", source, hz] if r.gpu_hz.is_none() => {
                r.gpu_hz = hz.parse().ok().map(|h| (source.to_string(), h));
            }
            ["battery", tenths] => {
                r.battery_celsius = tenths
                    .parse::<f64>()
                    .ok()
                    .map(|t| t / 10.0)
                    .filter(|c| (-50.0..=200.0).contains(c));
            }
            _ => {}
        }
    }
    r
}

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
    fn sysfs_heat() {
        let text = "zone\tthermal_zone0\tcpu-0-0-usr\t41200\nzone\tthermal_zone1\tbattery\t31\nzone\tthermal_zone2\tgpuss-0-usr\t\nzone\tthermal_zone3\tdisabled\t-273000\ncpu\tpolicy0\t1804800\ncpu\tpolicy4\tbusy\ngpu\tkgsl-3d0\t585000000\ngpu\t13000000.mali\t1\nbattery\t312\nnot a reading\n";
        let r = parse_heat(text);
        let z = &r.zones;
        assert_eq!(z.len(), 4);
        assert_eq!(
            (z[0].kind.as_str(), z[0].celsius),
            ("cpu-0-0-usr", Some(41.2))
        );
        assert_eq!(z[1].celsius, Some(31.0));
        assert_eq!((z[2].celsius, z[3].celsius), (None, None));
        assert_eq!(r.hottest(), Some((41.2, "cpu-0-0-usr")));
        assert_eq!(r.cpu_khz, [("policy0".to_string(), 1_804_800)]);
        assert_eq!(r.gpu_hz, Some(("kgsl-3d0".to_string(), 585_000_000)));
        assert_eq!(r.battery_celsius, Some(31.2));
        assert_eq!(parse_heat(""), HeatReading::default());
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
