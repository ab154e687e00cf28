//! Heat: a phone throttles within a minute of sustained load, and a table measured hot
//! is a table of the throttled phone. Before every batch the profiler reads the
//! device's thermal zones, CPU and GPU clocks and battery temperature (sysfs, through
//! its shell); with `--max-temp C` it waits,
//! at most `--cool-down S` and saying so, until the device is at or below C, and a batch
//! that still starts hotter is measured and counted as such. After every batch it takes
//! them again (as the runner read them after its last measurement: every bench record
//! carries the readings before and after it; through the shell where the runner read
//! nothing) and, with `--throttle-check PCT` (the default), compares the batch's
//! reference-network time with the first batch's: a batch that ran it more than PCT %
//! slower while the device was warmer or clocked lower was measured throttled, and is
//! measured again once the device has cooled back (at most `--cool-down S`), flagged.
//! Without a reference network (`--no-reference`) there is no time to compare, and
//! lowered clocks alone say a batch ran throttled.
//! The readings, waits and re-measured batches go into the table's metadata
//! (`device_state`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::device::Device;
use crate::prepare::Prepared;
use crate::props::HeatReading;

/// `--max-temp` and `--cool-down`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThermalGuard {
    /// The hottest zone may be at most this warm when a batch starts, °C.
    pub max_celsius: f64,
    /// The longest wait for it to cool down before measuring anyway.
    pub cool_down: Duration,
}

/// `--throttle-check PCT`: a batch that ran the reference network more than `slower`
/// (a share: 0.2 is 20 %) slower than the first batch did, while the device was warmer
/// or its clocks lower than before the first batch, is measured again after a
/// cool-down of at most `cool_down`. Measured without a reference (`--no-reference`),
/// a batch that ran with lowered clocks is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottleCheck {
    /// How much slower the reference may run before a batch is suspect.
    pub slower: f64,
    /// The longest wait for the device to cool back before measuring again.
    pub cool_down: Duration,
}

/// A zone this much warmer than before the first batch counts as heated up, °C.
const WARMER: f64 = 2.0;
/// A clock below this share of its value before the first batch counts as lowered.
const LOWER_CLOCK: f64 = 0.95;

/// The first batch of a device: its reference time and the readings before it.
#[derive(Clone, Debug)]
pub struct FirstBatch {
    /// The reference network's median in the first batch, ms (`None`: measured
    /// without one).
    pub reference_ms: Option<f64>,
    /// The readings before it.
    pub heat: HeatReading,
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
    /// The hottest zone's temperature when each batch ended, °C.
    pub after_batches: Vec<f64>,
    /// Batches (measured again ones included) whose readings after them came from the
    /// runner's records, and from the host's shell.
    pub after_read: (u32, u32),
    /// The readings before the batch now measured.
    pub last_before: Option<HeatReading>,
    /// The first batch that ran the reference network.
    pub first: Option<FirstBatch>,
    /// Batches measured again (throttled): the reference's time against the first
    /// batch's, measured throttled and measured again.
    pub remeasured: Vec<(f64, f64)>,
    /// Batches measured again that were still slow and hot (kept, counted).
    pub still_throttled: u32,
    /// Batches with a slow reference but neither warmer nor clocked lower (kept: not
    /// heat).
    pub slow_not_hot: u32,
}

impl HeatLog {
    /// The log as `device_state` entries of a table's metadata, keyed `<id> …`.
    pub fn entries(
        &self,
        id: &str,
        guard: Option<ThermalGuard>,
        check: Option<ThrottleCheck>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut spread = |what: String, values: &[f64], unit: &str, digits: usize| {
            let mut t = values.to_vec();
            if t.is_empty() {
                return;
            }
            t.sort_by(f64::total_cmp);
            out.push((
                format!("{id} {what} batches"),
                format!(
                    "min {:.digits$}{unit}, median {:.digits$}{unit}, max {:.digits$}{unit} ({} batches)",
                    t[0],
                    t[t.len() / 2],
                    t[t.len() - 1],
                    t.len()
                ),
            ));
        };
        spread("hottest zone before".into(), &self.before_batches, "°C", 1);
        for (policy, khz) in &self.cpu_khz {
            let mhz: Vec<f64> = khz.iter().map(|k| k / 1000.0).collect();
            spread(format!("cpu {policy} before"), &mhz, " MHz", 0);
        }
        if let Some((source, _)) = self.gpu_hz.first() {
            let mhz: Vec<f64> = self.gpu_hz.iter().map(|(_, h)| h / 1e6).collect();
            spread(format!("gpu clock ({source}) before"), &mhz, " MHz", 0);
        }
        spread("battery before".into(), &self.battery, "°C", 1);
        spread("hottest zone after".into(), &self.after_batches, "°C", 1);
        if self.after_read != (0, 0) {
            out.push((
                format!("{id} readings after batches"),
                format!(
                    "{} by the runner after its last run, {} through the shell",
                    self.after_read.0, self.after_read.1
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
        if let Some(c) = check {
            let first = match &self.first {
                Some(f) => format!(
                    "first batch's reference {}{}",
                    f.reference_ms
                        .map_or("not timed (no reference network)".into(), |m| format!(
                            "{m:.3} ms"
                        )),
                    f.heat
                        .hottest()
                        .map(|(c, _)| format!(" at {c:.1}°C"))
                        .unwrap_or_default()
                ),
                None => "no batch measured".into(),
            };
            let times = |pick: fn(&(f64, f64)) -> f64| {
                self.remeasured
                    .iter()
                    .map(|r| match pick(r) {
                        x if x.is_nan() => "-".to_string(),
                        x => format!("{x:.2}x"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let again = if self.remeasured.is_empty() {
                "no batch measured again".to_string()
            } else {
                format!(
                    "{} batches measured again after a cool-down (reference {} of the first batch's, then {}), {} still throttled",
                    self.remeasured.len(),
                    times(|r| r.0),
                    times(|r| r.1),
                    self.still_throttled
                )
            };
            out.push((
                format!("{id} throttle check"),
                format!(
                    "--throttle-check {:.0}%: {first}; {again}; {} slow batches neither warmer nor clocked lower kept",
                    c.slower * 100.0,
                    self.slow_not_hot
                ),
            ));
        }
        out
    }
}

/// Why `now` looks throttled against `first` (a zone warmer by [`WARMER`] or more, when
/// `warmth` counts; a clock lowered below [`LOWER_CLOCK`] of its value), if it does.
pub fn heated(now: &HeatReading, first: &HeatReading, warmth: bool) -> Option<String> {
    if warmth
        && let (Some((c, zone)), Some((c0, _))) = (now.hottest(), first.hottest())
        && c >= c0 + WARMER
    {
        return Some(format!("{zone} at {c:.1}°C (first batch {c0:.1}°C)"));
    }
    for (policy, khz) in &now.cpu_khz {
        if let Some((_, k0)) = first.cpu_khz.iter().find(|(p, _)| p == policy)
            && (*khz as f64) < *k0 as f64 * LOWER_CLOCK
        {
            return Some(format!(
                "cpu {policy} at {} MHz (first batch {} MHz)",
                khz / 1000,
                k0 / 1000
            ));
        }
    }
    if let (Some((source, hz)), Some((_, h0))) = (&now.gpu_hz, &first.gpu_hz)
        && (*hz as f64) < *h0 as f64 * LOWER_CLOCK
    {
        return Some(format!(
            "gpu clock ({source}) at {} MHz (first batch {} MHz)",
            hz / 1_000_000,
            h0 / 1_000_000
        ));
    }
    None
}

/// After a batch on `p` whose reference network ran `reference_ms` (median; `None`
/// without a reference), the device's heat `after` it as its runner read it (`None`:
/// read through the shell now): records it and, with a throttle check, says why
/// the batch must be measured again, if so: its reference ran too slow while the
/// device was warmer or clocked lower; or, without a reference to time, its clocks
/// were lowered (a warmer zone alone is not yet throttling).
pub fn after_batch(
    p: &Prepared,
    reference_ms: Option<f64>,
    after: Option<HeatReading>,
) -> Option<String> {
    let by_runner = after.is_some();
    let now = after.unwrap_or_else(|| p.device.heat().unwrap_or_default());
    let mut l = p.heat.lock().unwrap_or_else(|e| e.into_inner());
    if by_runner {
        l.after_read.0 += 1;
    } else {
        l.after_read.1 += 1;
    }
    if let Some((c, _)) = now.hottest() {
        l.after_batches.push(c);
    }
    let check = p.throttle_check?;
    let ms = reference_ms.filter(|m| m.is_finite() && *m > 0.0);
    let Some(first) = l.first.clone() else {
        let heat = l.last_before.clone().unwrap_or(now);
        l.first = Some(FirstBatch {
            reference_ms: ms,
            heat,
        });
        return None;
    };
    let before = l.last_before.clone();
    let evidence = |warmth: bool| {
        heated(&now, &first.heat, warmth)
            .or_else(|| before.as_ref().and_then(|b| heated(b, &first.heat, warmth)))
    };
    match (ms, first.reference_ms) {
        (Some(m), Some(f)) => {
            let slower = m / f;
            if slower <= 1.0 + check.slower {
                return None;
            }
            let Some(why) = evidence(true) else {
                l.slow_not_hot += 1;
                return None;
            };
            l.remeasured.push((slower, f64::NAN));
            Some(format!(
                "the reference ran {slower:.2}x as long as in the first batch, {why}"
            ))
        }
        _ => {
            let why = evidence(false)?;
            l.remeasured.push((f64::NAN, f64::NAN));
            Some(format!("no reference network to time, {why}"))
        }
    }
}

/// Before measuring a throttled batch again: waits (at most the check's cool-down,
/// saying so) until the device is neither warmer nor clocked lower than before its
/// first batch.
pub fn cool_back(p: &Prepared, say: &dyn Fn(String)) {
    let (Some(check), Some(first)) = (
        p.throttle_check,
        p.heat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first
            .clone(),
    ) else {
        return;
    };
    let id = p.device.id();
    let hot = |h: &HeatReading| heated(h, &first.heat, true);
    let (_, still, waited) = wait_while(&p.device, check.cool_down, &hot, say);
    match still {
        Some(why) => say(format!(
            "device {id}: still {why} after {} s: measuring again anyway",
            check.cool_down.as_secs()
        )),
        None => say(format!("device {id}: cooled back in {waited:.0} s")),
    }
    let mut l = p.heat.lock().unwrap_or_else(|e| e.into_inner());
    l.waits += 1;
    l.waited_s += waited;
}

/// Waits, at most `bound`, while `hot` says why `device` is still too hot: reads it
/// every [`POLL`] and says how it is going every [`SAY_EVERY`]. The last reading, why
/// it was still too hot then (`None`: cooled), and the seconds waited. The one wait of
/// both `--max-temp` and the throttle check.
fn wait_while(
    device: &Device,
    bound: Duration,
    hot: &dyn Fn(&HeatReading) -> Option<String>,
    say: &dyn Fn(String),
) -> (HeatReading, Option<String>, f64) {
    let id = device.id();
    let start = Instant::now();
    let mut said = start;
    loop {
        let now = device.heat().unwrap_or_default();
        let why = hot(&now);
        let waited = start.elapsed();
        if why.is_none() || waited >= bound {
            return (now, why, waited.as_secs_f64());
        }
        if said.elapsed() >= SAY_EVERY {
            said = Instant::now();
            say(format!(
                "device {id}: {} after {:.0} s of cooling down",
                why.unwrap_or_default(),
                waited.as_secs_f64()
            ));
        }
        std::thread::sleep(POLL.min(bound.saturating_sub(waited)));
    }
}

/// After measuring a throttled batch again (`reference_ms`: its reference's median, or
/// `None` without a reference; `after`: as for [`after_batch`]): records it; whether it
/// is still throttled (by the same rule as [`after_batch`]).
pub fn measured_again(p: &Prepared, reference_ms: Option<f64>, after: Option<HeatReading>) -> bool {
    let by_runner = after.is_some();
    let now = after.unwrap_or_else(|| p.device.heat().unwrap_or_default());
    let mut l = p.heat.lock().unwrap_or_else(|e| e.into_inner());
    if by_runner {
        l.after_read.0 += 1;
    } else {
        l.after_read.1 += 1;
    }
    let (Some(check), Some(first)) = (p.throttle_check, l.first.clone()) else {
        return false;
    };
    let still = match (reference_ms, first.reference_ms) {
        (Some(m), Some(f)) => {
            if let Some(last) = l.remeasured.last_mut() {
                last.1 = m / f;
            }
            m / f > 1.0 + check.slower && heated(&now, &first.heat, true).is_some()
        }
        _ => heated(&now, &first.heat, false).is_some(),
    };
    if still {
        l.still_throttled += 1;
    }
    still
}

/// A throttled batch could not be measured again: its first measurement is kept,
/// counted as still throttled.
pub fn kept_throttled(p: &Prepared) {
    p.heat
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .still_throttled += 1;
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
        l.last_before = Some(heat.clone());
    }
    let Some((mut celsius, mut zone)) = heat.hottest().map(|(c, k)| (c, k.to_string())) else {
        log.lock().unwrap_or_else(|e| e.into_inner()).unreadable += 1;
        return;
    };
    if let Some(g) = guard
        && celsius > g.max_celsius
    {
        say(format!(
            "device {id}: {zone} at {celsius:.1}°C, above --max-temp {:.1}°C: cooling down (at most {} s)",
            g.max_celsius,
            g.cool_down.as_secs()
        ));
        // A reading with no readable zone keeps it waiting (as hot as last read).
        let hot = |h: &HeatReading| match h.hottest() {
            Some((c, _)) if c <= g.max_celsius => None,
            Some((c, z)) => Some(format!("{z} at {c:.1}°C")),
            None => Some("no readable zone".into()),
        };
        let (last, _, waited) = wait_while(device, g.cool_down, &hot, say);
        if let Some((c, z)) = last.hottest() {
            (celsius, zone) = (c, z.to_string());
        }
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
            ..HeatLog::default()
        };
        let guard = ThermalGuard {
            max_celsius: 50.0,
            cool_down: Duration::from_secs(30),
        };
        let e = log.entries("phone", Some(guard), None);
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
        assert!(HeatLog::default().entries("x", None, None).is_empty());
    }

    fn reading(celsius: f64, cpu_khz: u64, gpu_hz: u64) -> HeatReading {
        HeatReading {
            zones: vec![crate::props::ThermalZone {
                zone: "thermal_zone0".into(),
                kind: "gpu0".into(),
                celsius: Some(celsius),
            }],
            cpu_khz: vec![("policy0".into(), cpu_khz)],
            gpu_hz: Some(("kgsl-3d0".into(), gpu_hz)),
            battery_celsius: None,
        }
    }

    #[test]
    fn throttled_means_warmer_or_clocked_lower_than_the_first_batch() {
        let first = reading(36.0, 1_800_000, 600_000_000);
        assert_eq!(
            heated(&reading(37.5, 1_800_000, 600_000_000), &first, true),
            None
        );
        assert_eq!(
            heated(&reading(38.0, 1_800_000, 600_000_000), &first, true).unwrap(),
            "gpu0 at 38.0°C (first batch 36.0°C)"
        );
        assert_eq!(
            heated(&reading(36.0, 900_000, 600_000_000), &first, true).unwrap(),
            "cpu policy0 at 900 MHz (first batch 1800 MHz)"
        );
        assert!(
            heated(&reading(36.0, 1_800_000, 300_000_000), &first, true)
                .unwrap()
                .starts_with("gpu clock (kgsl-3d0) at 300 MHz")
        );
        assert_eq!(heated(&HeatReading::default(), &first, true), None);
        // Without a reference only lowered clocks count: warmth alone is not throttling.
        assert_eq!(
            heated(&reading(50.0, 1_800_000, 600_000_000), &first, false),
            None
        );
        assert!(heated(&reading(50.0, 900_000, 600_000_000), &first, false).is_some());
        let log = HeatLog {
            first: Some(FirstBatch {
                reference_ms: Some(12.5),
                heat: first,
            }),
            remeasured: vec![(2.4, 1.03)],
            after_batches: vec![36.5, 47.0],
            ..HeatLog::default()
        };
        let check = ThrottleCheck {
            slower: 0.2,
            cool_down: Duration::from_secs(60),
        };
        let e = log.entries("phone", None, Some(check));
        assert_eq!(e[0].0, "phone hottest zone after batches");
        assert_eq!(
            e[1].1,
            "--throttle-check 20%: first batch's reference 12.500 ms at 36.0°C; 1 batches measured again after a cool-down (reference 2.40x of the first batch's, then 1.03x), 0 still throttled; 0 slow batches neither warmer nor clocked lower kept"
        );
    }
}
