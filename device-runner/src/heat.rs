//! What heat does to a device, read from its sysfs: thermal zones, the CPU frequency
//! of each cpufreq policy, the GPU's clock (Adreno's kgsl, or a devfreq device named
//! like a GPU: Mali, Xclipse) and the battery's temperature.
//!
//! Two readers, one reading: the host reads a device through its shell ([`HEAT_SH`],
//! whose output [`parse_heat`] reads) when no runner is running, and the runner reads
//! the same files itself ([`read`]) before and after every measurement, into its bench
//! records. [`read`] writes the lines [`HEAT_SH`] would print, so both go through the
//! one parser.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One thermal zone of `/sys/class/thermal`: its type and temperature in °C.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThermalZone {
    /// `thermal_zoneN`.
    pub zone: String,
    /// Its `type` (`cpu-0-0-usr`, `gpuss-0-usr`, `battery`, …).
    pub kind: String,
    /// Its `temp`, in °C (`None` where unreadable: some zones refuse reads).
    pub celsius: Option<f64>,
}

/// The device's heat at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeatReading {
    /// `/sys/class/thermal/thermal_zone*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ThermalZone>,
    /// (`policyN`, kHz) of `/sys/devices/system/cpu/cpufreq/policy*/scaling_cur_freq`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_khz: Vec<(String, u64)>,
    /// (source, Hz): `kgsl-3d0`'s `gpuclk`, or a GPU devfreq device's `cur_freq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_hz: Option<(String, u64)>,
    /// `/sys/class/power_supply/battery/temp` (tenths of a degree), °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

    /// Whether nothing was readable (a desktop without thermal zones or cpufreq).
    pub fn is_empty(&self) -> bool {
        *self == HeatReading::default()
    }

    /// One line for people: the hottest zone, each CPU policy's and the GPU's clock.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some((c, z)) = self.hottest() {
            parts.push(format!("{z} {c:.1}°C"));
        }
        for (p, khz) in &self.cpu_khz {
            parts.push(format!("{p} {} MHz", khz / 1000));
        }
        if let Some((s, hz)) = &self.gpu_hz {
            parts.push(format!("{s} {} MHz", hz / 1_000_000));
        }
        if let Some(b) = self.battery_celsius {
            parts.push(format!("battery {b:.1}°C"));
        }
        parts.join(", ")
    }
}

/// The readings before and after one measurement (`bench` records them for every
/// model, or once around all rounds when models are measured in rounds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeatSpan {
    /// Before its warm-up.
    pub before: HeatReading,
    /// After its last run.
    pub after: HeatReading,
}

impl HeatSpan {
    /// The span, or `None` when neither end read anything.
    pub fn of(before: HeatReading, after: HeatReading) -> Option<HeatSpan> {
        (!(before.is_empty() && after.is_empty())).then_some(HeatSpan { before, after })
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

/// Where this process finds its device's sysfs: `/sys`, or `MOGA_SYSFS` where a device
/// is emulated (the adbd fixture sets it for the programs it runs, as it maps `/sys/`
/// in the commands it is sent).
pub fn sysfs() -> PathBuf {
    std::env::var_os("MOGA_SYSFS").map_or_else(|| PathBuf::from("/sys"), PathBuf::from)
}

/// Reads `sys` (a sysfs root) as [`HEAT_SH`] reads `/sys`: the same files, in the same
/// (lexical) order, into the same lines, through [`parse_heat`].
pub fn read(sys: &Path) -> HeatReading {
    let text = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let entries = |dir: &Path, prefix: &str| -> Vec<(String, PathBuf)> {
        let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(prefix).then(|| (name, e.path()))
            })
            .collect();
        v.sort();
        v
    };
    let mut out = String::new();
    for (name, z) in entries(&sys.join("class/thermal"), "thermal_zone") {
        if let Some(kind) = text(&z.join("type")) {
            let temp = text(&z.join("temp")).unwrap_or_default();
            let _ = writeln!(out, "zone\t{name}\t{kind}\t{temp}");
        }
    }
    for (name, p) in entries(&sys.join("devices/system/cpu/cpufreq"), "policy") {
        if let Some(khz) = text(&p.join("scaling_cur_freq")) {
            let _ = writeln!(out, "cpu\t{name}\t{khz}");
        }
    }
    if let Some(hz) = text(&sys.join("class/kgsl/kgsl-3d0/gpuclk")) {
        let _ = writeln!(out, "gpu\tkgsl-3d0\t{hz}");
    }
    for (name, d) in entries(&sys.join("class/devfreq"), "") {
        if ["gpu", "mali", "kgsl"].iter().any(|k| name.contains(k))
            && let Some(hz) = text(&d.join("cur_freq"))
        {
            let _ = writeln!(out, "gpu\t{name}\t{hz}");
        }
    }
    if let Some(t) = text(&sys.join("class/power_supply/battery/temp")) {
        let _ = writeln!(out, "battery\t{t}");
    }
    parse_heat(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_lines() {
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
        assert_eq!(
            r.summary(),
            "cpu-0-0-usr 41.2°C, policy0 1804 MHz, kgsl-3d0 585 MHz, battery 31.2°C"
        );
        assert!(parse_heat("").is_empty());
    }

    /// A phone's sysfs in a folder: the runner's own reading and the shell script's
    /// (its `/sys/` pointed at the folder) are the same reading.
    #[test]
    fn the_runner_reads_what_the_shell_reads() {
        let root = std::env::temp_dir().join(format!("moga-heat-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let put = |rel: &str, v: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, format!("{v}\n")).unwrap();
        };
        for (i, (kind, temp)) in [
            ("cpu-0-0-usr", "41200"),
            ("battery", "31"),
            ("gpuss-0-usr", ""),
            ("disabled", "-273000"),
        ]
        .iter()
        .enumerate()
        {
            put(&format!("class/thermal/thermal_zone{i}/type"), kind);
            put(&format!("class/thermal/thermal_zone{i}/temp"), temp);
        }
        // thermal_zone10 sorts before thermal_zone2, for the glob and for read().
        put("class/thermal/thermal_zone10/type", "skin-therm");
        put("class/thermal/thermal_zone10/temp", "38500");
        put("class/thermal/cooling_device0/type", "thermal-cpufreq-0");
        put(
            "devices/system/cpu/cpufreq/policy0/scaling_cur_freq",
            "1804800",
        );
        put(
            "devices/system/cpu/cpufreq/policy4/scaling_cur_freq",
            "2419200",
        );
        put("class/devfreq/13000000.mali/cur_freq", "800000000");
        put("class/devfreq/soc:qcom,cpubw/cur_freq", "762");
        put("class/power_supply/battery/temp", "312");
        let ours = read(&root);
        let script = HEAT_SH.replace("/sys/", &format!("{}/", root.display()));
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let theirs = parse_heat(&String::from_utf8_lossy(&out.stdout));
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours.zones.len(), 5);
        assert_eq!(ours.zones[1].zone, "thermal_zone1");
        assert_eq!(ours.zones[2].zone, "thermal_zone10");
        assert_eq!(ours.cpu_khz.len(), 2);
        assert_eq!(ours.gpu_hz, Some(("13000000.mali".into(), 800_000_000)));
        assert_eq!(ours.battery_celsius, Some(31.2));
        assert!(read(Path::new("/nonexistent/sys")).is_empty());
    }
}
