//! Heat: a phone throttles within a minute of sustained load, and a table measured hot
//! is a table of the throttled phone. Before every batch the profiler reads the
//! device's thermal zones, CPU and GPU clocks and battery temperature (sysfs, through
//! its shell); with `--max-temp C` it waits,
//! at most `--cool-down S` and saying so, until the device is at or below C, and a batch
//! that still starts hotter is measured and counted as such. The readings and waits go
//! into the table's metadata (`device_state`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::device::Device;

/// `--max-temp` and `--cool-down`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThermalGuard {
    /// The hottest zone may be at most this warm when a batch starts, °C.
    pub max_celsius: f64,
    /// The longest wait for it to cool down before measuring anyway.
    pub cool_down: Duration,
}

/// How often a hot device is read again while it cools down.
const POLL: Duration = Duration::from_secs(1);
/// How often a wait says how it is going.
const SAY_EVERY: Duration = Duration::from_secs(10);

/// One device's heat over a run.
#[derive(Debug, Default)]
pub struct HeatLog {
    /// The hottest zone's temperature when each batch started, °C.
    pub before_batches: Vec<f64>,
    /// Each cpufreq policy's frequency when each batch started, kHz.
    pub cpu_khz: BTreeMap<String, Vec<f64>>,
    /// The GPU clock when each batch started (source, Hz).
    pub gpu_hz: Vec<(String, f64)>,
    /// The battery's temperature when each batch started, °C.
    pub battery: Vec<f64>,
    /// Waits for the device to cool down.
    pub waits: u32,
    /// Their seconds in all.
    pub waited_s: f64,
    /// Batches started above `--max-temp` (the cool-down bound ran out).
    pub hot_batches: u32,
    /// Batches started with no readable zone.
    pub unreadable: u32,
}

impl HeatLog {
    /// The log as `device_state` entries of a table's metadata, keyed `<id> …`.
    pub fn entries(&self, id: &str, guard: Option<ThermalGuard>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut spread = |what: String, values: &[f64], unit: &str, digits: usize| {
            let mut t = values.to_vec();
            if t.is_empty() {
                return;
            }
            t.sort_by(f64::total_cmp);
            out.push((
                format!("{id} {what} before batches"),
                format!(
                    "min {:.digits$}{unit}, median {:.digits$}{unit}, max {:.digits$}{unit} ({} batches)",
                    t[0],
                    t[t.len() / 2],
                    t[t.len() - 1],
                    t.len()
                ),
            ));
        };
        spread("hottest zone".into(), &self.before_batches, "°C", 1);
        for (policy, khz) in &self.cpu_khz {
            let mhz: Vec<f64> = khz.iter().map(|k| k / 1000.0).collect();
            spread(format!("cpu {policy}"), &mhz, " MHz", 0);
        }
        if let Some((source, _)) = self.gpu_hz.first() {
            let mhz: Vec<f64> = self.gpu_hz.iter().map(|(_, h)| h / 1e6).collect();
            spread(format!("gpu clock ({source})"), &mhz, " MHz", 0);
        }
        spread("battery".into(), &self.battery, "°C", 1);
        if self.unreadable > 0 {
            out.push((
                format!("{id} thermal zones"),
                format!("unreadable before {} batches", self.unreadable),
            ));
        }
        if let Some(g) = guard {
            out.push((
                format!("{id} cool-down"),
                format!(
                    "--max-temp {:.1}°C: {} waits, {:.0} s; {} batches started hotter after {} s",
                    g.max_celsius,
                    self.waits,
                    self.waited_s,
                    self.hot_batches,
                    g.cool_down.as_secs()
                ),
            ));
        }
        out
    }
}

/// The hottest readable zone of `device`: (°C, zone type); `None` where none is
/// readable.
pub fn hottest(device: &Device) -> Option<(f64, String)> {
    let heat = device.heat().ok()?;
    heat.hottest().map(|(c, k)| (c, k.to_string()))
}

/// Before a batch on `device`: reads its hottest zone into `log` and, with a guard,
/// waits (bounded) for it to cool down, saying so through `say`.
pub fn before_batch(
    device: &Device,
    guard: Option<ThermalGuard>,
    log: &Mutex<HeatLog>,
    say: &dyn Fn(String),
) {
    let id = device.id();
    let heat = device.heat().unwrap_or_default();
    {
        let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
        for (policy, khz) in &heat.cpu_khz {
            l.cpu_khz
                .entry(policy.clone())
                .or_default()
                .push(*khz as f64);
        }
        if let Some((source, hz)) = &heat.gpu_hz {
            l.gpu_hz.push((source.clone(), *hz as f64));
        }
        l.battery.extend(heat.battery_celsius);
    }
    let Some((mut celsius, mut zone)) = heat.hottest().map(|(c, k)| (c, k.to_string())) else {
        log.lock().unwrap_or_else(|e| e.into_inner()).unreadable += 1;
        return;
    };
    if let Some(g) = guard
        && celsius > g.max_celsius
    {
        let start = Instant::now();
        let mut said = start;
        say(format!(
            "device {id}: {zone} at {celsius:.1}°C, above --max-temp {:.1}°C: cooling down (at most {} s)",
            g.max_celsius,
            g.cool_down.as_secs()
        ));
        while celsius > g.max_celsius && start.elapsed() < g.cool_down {
            std::thread::sleep(POLL.min(g.cool_down.saturating_sub(start.elapsed())));
            if let Some((c, z)) = hottest(device) {
                (celsius, zone) = (c, z);
            }
            if said.elapsed() >= SAY_EVERY {
                said = Instant::now();
                say(format!(
                    "device {id}: {zone} at {celsius:.1}°C after {:.0} s of cooling down",
                    start.elapsed().as_secs_f64()
                ));
            }
        }
        let waited = start.elapsed().as_secs_f64();
        let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
        l.waits += 1;
        l.waited_s += waited;
        if celsius > g.max_celsius {
            l.hot_batches += 1;
            say(format!(
                "device {id}: still {celsius:.1}°C ({zone}) after {waited:.0} s: measuring this batch hot (counted in the table's device_state)"
            ));
        } else {
            say(format!(
                "device {id}: cooled to {celsius:.1}°C in {waited:.0} s"
            ));
        }
    }
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .before_batches
        .push(celsius);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_summarise_the_log() {
        let log = HeatLog {
            before_batches: vec![45.0, 41.0, 60.5],
            cpu_khz: [("policy0".to_string(), vec![1_804_800.0, 1_209_600.0])].into(),
            gpu_hz: vec![("kgsl-3d0".into(), 585e6), ("kgsl-3d0".into(), 257e6)],
            battery: Vec::new(),
            waits: 2,
            waited_s: 31.4,
            hot_batches: 1,
            unreadable: 0,
        };
        let guard = ThermalGuard {
            max_celsius: 50.0,
            cool_down: Duration::from_secs(30),
        };
        let e = log.entries("phone", Some(guard));
        assert_eq!(
            e[0],
            (
                "phone hottest zone before batches".to_string(),
                "min 41.0°C, median 45.0°C, max 60.5°C (3 batches)".to_string()
            )
        );
        assert_eq!(
            e[1],
            (
                "phone cpu policy0 before batches".to_string(),
                "min 1210 MHz, median 1805 MHz, max 1805 MHz (2 batches)".to_string()
            )
        );
        assert_eq!(
            e[2].1,
            "min 257 MHz, median 585 MHz, max 585 MHz (2 batches)"
        );
        assert_eq!(
            e[3].1,
            "--max-temp 50.0°C: 2 waits, 31 s; 1 batches started hotter after 30 s"
        );
        assert!(HeatLog::default().entries("x", None).is_empty());
    }
}
