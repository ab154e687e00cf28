//! Heat: a phone throttles within a minute of sustained load, and a table measured hot
//! is a table of the throttled phone. Before every batch the profiler reads the
//! device's hottest thermal zone (`/sys/class/thermal`); with `--max-temp C` it waits,
//! at most `--cool-down S` and saying so, until the device is at or below C, and a batch
//! that still starts hotter is measured and counted as such. The readings and waits go
//! into the table's metadata (`device_state`).

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
        let mut t = self.before_batches.clone();
        if !t.is_empty() {
            t.sort_by(f64::total_cmp);
            out.push((
                format!("{id} hottest zone before batches"),
                format!(
                    "min {:.1}°C, median {:.1}°C, max {:.1}°C ({} batches)",
                    t[0],
                    t[t.len() / 2],
                    t[t.len() - 1],
                    t.len()
                ),
            ));
        }
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
    device
        .thermal_zones()
        .ok()?
        .into_iter()
        .filter_map(|z| Some((z.celsius?, z.kind)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
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
    let Some((mut celsius, mut zone)) = hottest(device) else {
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
            e[1].1,
            "--max-temp 50.0°C: 2 waits, 31 s; 1 batches started hotter after 30 s"
        );
        assert!(HeatLog::default().entries("x", None).is_empty());
    }
}
