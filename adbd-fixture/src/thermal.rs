//! A phone that heats up: `--thermal-script FILE` drives the device's sysfs readings
//! (thermal zones, cpufreq policies, the GPU clock, the battery) from a first-order
//! heat model, and really slows the device's programs while it is throttled.
//!
//! The model: while a program pushed to the device runs (the runner), the device warms
//! by `heat` °C per second; at rest it cools by `cool` °C per second down to `ambient`.
//! At `throttle` °C and above it is throttled until it has cooled `hysteresis` °C below:
//! every clock reads `clock` × its configured value, and every running device program
//! (with its children: `timeout` puts the runner in a process group of its own) is
//! duty-cycled with SIGSTOP/SIGCONT (a 4 ms period, running 1/`slowdown` of it), so
//! its runs take about `slowdown` times as long (unevenly, for runs shorter than the
//! period).
//! The file is read again whenever it changes, so the weather can change mid-run.
//!
//! The script, one `key value` per line, `#` comments:
//!
//! ```text
//! ambient 35      # °C at rest
//! heat 0.8        # °C per second while the runner runs
//! cool 1.0        # °C per second at rest
//! throttle 45     # throttled from here (°C) ...
//! hysteresis 3    # ... until this far below it
//! slowdown 2.5    # throttled programs run 1/slowdown of the time
//! clock 0.5       # throttled clocks: this share of --cpu-freq / --gpu-clock
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The parameters of the heat model.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// °C at rest.
    pub ambient: f64,
    /// °C per second while a device program runs.
    pub heat: f64,
    /// °C per second at rest, down to `ambient`.
    pub cool: f64,
    /// Throttled at or above this, °C.
    pub throttle: f64,
    /// Throttled until this far below `throttle`, °C.
    pub hysteresis: f64,
    /// Throttled programs run 1/`slowdown` of the time.
    pub slowdown: f64,
    /// Throttled clocks read this share of their configured value.
    pub clock: f64,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            ambient: 35.0,
            heat: 0.8,
            cool: 1.0,
            throttle: 45.0,
            hysteresis: 3.0,
            slowdown: 2.5,
            clock: 0.5,
        }
    }
}

impl Script {
    /// Reads a script; an error names the file, the line and what is wrong.
    pub fn read(path: &Path) -> Result<Script, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Script::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
    }

    /// Parses a script's text; an error starts with the line number.
    pub fn parse(text: &str) -> Result<Script, String> {
        let mut s = Script::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let n = i + 1;
            let (key, value) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("{n}: expected 'KEY VALUE', not '{line}'"))?;
            let value: f64 = value
                .trim()
                .parse()
                .map_err(|e| format!("{n}: {key}: '{}': {e}", value.trim()))?;
            let field = match key {
                "ambient" => &mut s.ambient,
                "heat" => &mut s.heat,
                "cool" => &mut s.cool,
                "throttle" => &mut s.throttle,
                "hysteresis" => &mut s.hysteresis,
                "slowdown" => &mut s.slowdown,
                "clock" => &mut s.clock,
                other => {
                    return Err(format!(
                        "{n}: unknown key '{other}' (ambient, heat, cool, throttle, hysteresis, slowdown, clock)"
                    ));
                }
            };
            *field = value;
            let ok = match key {
                "heat" | "cool" | "hysteresis" => value >= 0.0,
                "slowdown" => value >= 1.0,
                "clock" => value > 0.0 && value <= 1.0,
                _ => true,
            };
            if !ok || !value.is_finite() {
                return Err(format!("{n}: {key} {value} is out of range"));
            }
        }
        if s.throttle <= s.ambient {
            return Err(format!(
                "throttle {} must be above ambient {}",
                s.throttle, s.ambient
            ));
        }
        Ok(s)
    }
}

/// Where the model writes its readings, and their configured (cool) values.
#[derive(Clone, Debug, Default)]
pub struct Readings {
    /// Each zone's `temp` file and its offset from the model's temperature, °C.
    pub zones: Vec<(PathBuf, f64)>,
    /// Each clock's file (cpufreq policies, the GPU) and its configured value.
    pub clocks: Vec<(PathBuf, u64)>,
    /// The battery's `temp` file (tenths), and its offset, °C.
    pub battery: Option<(PathBuf, f64)>,
}

/// The state of the model.
#[derive(Debug)]
struct State {
    script: Script,
    /// When the script's file was last changed, as last read.
    seen: Option<SystemTime>,
    celsius: f64,
    throttled: bool,
    /// The device programs running now (the shells that run them).
    running: BTreeSet<i32>,
}

/// A running heat model (one per fixture).
#[derive(Debug)]
pub struct Thermal {
    readings: Readings,
    state: Mutex<State>,
    /// The script's file, read again when it changes.
    source: Option<PathBuf>,
}

/// The model's step, and the duty cycle's period while throttled.
const PERIOD: Duration = Duration::from_millis(4);
/// How often the processes to slow down are looked up again (in periods).
const LOOKUP_EVERY: u32 = 10;

impl Thermal {
    /// A model at rest (ambient), its readings written; `source`: the script's file,
    /// read again whenever it changes.
    pub fn new(
        script: Script,
        readings: Readings,
        source: Option<PathBuf>,
    ) -> std::io::Result<Thermal> {
        let t = Thermal {
            state: Mutex::new(State {
                celsius: script.ambient,
                throttled: false,
                running: BTreeSet::new(),
                seen: source.as_deref().and_then(modified),
                script,
            }),
            readings,
            source,
        };
        t.write()?;
        Ok(t)
    }

    /// A device program started, run by the shell `pid`.
    pub fn started(&self, pid: i32) {
        self.lock().running.insert(pid);
    }

    /// It ended (its children run again, should they have been stopped).
    pub fn ended(&self, pid: i32) {
        self.lock().running.remove(&pid);
        for p in tree(&[pid]) {
            signal(p, Signal::Continue);
        }
    }

    /// The model's temperature and whether it throttles now.
    pub fn now(&self) -> (f64, bool) {
        let s = self.lock();
        (s.celsius, s.throttled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the script's file again if it changed (a script that does not parse is
    /// said on stderr, and the one before kept).
    fn reread(&self) {
        let Some(path) = &self.source else {
            return;
        };
        let now = modified(path);
        if now == self.lock().seen {
            return;
        }
        let read = Script::read(path);
        let mut s = self.lock();
        s.seen = now;
        match read {
            Ok(script) => s.script = script,
            Err(e) => eprintln!("adbd-fixture: --thermal-script {e} (the script before is kept)"),
        }
    }

    /// Advances the model by `dt` seconds and rewrites the readings when they change;
    /// whether it throttles now.
    fn step(&self, dt: f64) -> bool {
        let (changed, throttled) = {
            let mut s = self.lock();
            let sc = s.script.clone();
            let before = (format!("{:.1}", s.celsius), s.throttled);
            if s.running.is_empty() {
                s.celsius = (s.celsius - sc.cool * dt).max(sc.ambient);
            } else {
                s.celsius += sc.heat * dt;
            }
            if s.celsius >= sc.throttle {
                s.throttled = true;
            } else if s.celsius < sc.throttle - sc.hysteresis {
                s.throttled = false;
            }
            (
                before != (format!("{:.1}", s.celsius), s.throttled),
                s.throttled,
            )
        };
        if changed && let Err(e) = self.write() {
            eprintln!("adbd-fixture: writing the thermal readings: {e}");
        }
        throttled
    }

    /// Writes every reading (atomically: a reader never sees half a number).
    fn write(&self) -> std::io::Result<()> {
        let (celsius, throttled, clock) = {
            let s = self.lock();
            (s.celsius, s.throttled, s.script.clock)
        };
        for (path, offset) in &self.readings.zones {
            put(path, ((celsius + offset) * 1000.0).round() as i64)?;
        }
        for (path, value) in &self.readings.clocks {
            let v = if throttled {
                (*value as f64 * clock).round() as i64
            } else {
                *value as i64
            };
            put(path, v)?;
        }
        if let Some((path, offset)) = &self.readings.battery {
            put(path, ((celsius + offset) * 10.0).round() as i64)?;
        }
        Ok(())
    }

    /// Runs the model for ever (on its own thread): heats, cools, throttles.
    pub fn run(&self) {
        let mut last = Instant::now();
        let mut steps = 0u32;
        let mut stopped: Vec<i32> = Vec::new();
        loop {
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(LOOKUP_EVERY * 5) {
                self.reread();
            }
            let dt = last.elapsed().as_secs_f64();
            last = Instant::now();
            let throttled = self.step(dt);
            let (roots, slowdown) = {
                let s = self.lock();
                (
                    s.running.iter().copied().collect::<Vec<i32>>(),
                    s.script.slowdown,
                )
            };
            if throttled && !roots.is_empty() {
                let on = PERIOD.div_f64(slowdown);
                std::thread::sleep(on);
                if steps.is_multiple_of(LOOKUP_EVERY) || stopped.is_empty() {
                    stopped = tree(&roots);
                }
                for p in &stopped {
                    signal(*p, Signal::Stop);
                }
                std::thread::sleep(PERIOD.saturating_sub(on));
                for p in &stopped {
                    signal(*p, Signal::Continue);
                }
            } else {
                stopped.clear();
                std::thread::sleep(PERIOD);
            }
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn put(path: &Path, value: i64) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{value}\n"))?;
    std::fs::rename(tmp, path)
}

enum Signal {
    Stop,
    Continue,
}

/// `roots` and every process descended from them (from `/proc/*/stat`'s parent ids;
/// just `roots` where `/proc` cannot be read).
fn tree(roots: &[i32]) -> Vec<i32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut all: Vec<i32> = roots.to_vec();
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        all.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    all
}

/// Sends a signal to a process.
fn signal(pid: i32, s: Signal) {
    #[cfg(unix)]
    {
        let sig = match s {
            Signal::Stop => libc::SIGSTOP,
            Signal::Continue => libc::SIGCONT,
        };
        // SAFETY: kill(2) sends a signal; it touches no memory of ours.
        unsafe {
            libc::kill(pid, sig);
        }
    }
    #[cfg(not(unix))]
    let _ = (pid, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_read_with_errors_that_name_the_line() {
        let s = Script::parse("# a phone\nambient 30\nheat 2 # fast\n\nslowdown 3\n").unwrap();
        assert_eq!((s.ambient, s.heat, s.slowdown), (30.0, 2.0, 3.0));
        assert_eq!(s.throttle, 45.0);
        assert!(Script::parse("ambient\n").unwrap_err().starts_with("1: "));
        assert!(
            Script::parse("heat 1\nwarmth 2\n")
                .unwrap_err()
                .starts_with("2: unknown key 'warmth'")
        );
        assert!(
            Script::parse("slowdown 0.5")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            Script::parse("throttle 20")
                .unwrap_err()
                .contains("above ambient")
        );
    }

    #[test]
    fn the_model_heats_under_load_throttles_and_cools_at_rest() {
        let dir = std::env::temp_dir().join(format!("moga-thermal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zone = dir.join("temp");
        let clock = dir.join("gpuclk");
        let t = Thermal::new(
            Script::default(),
            Readings {
                zones: vec![(zone.clone(), 2.0)],
                clocks: vec![(clock.clone(), 600_000_000)],
                battery: None,
            },
            None,
        )
        .unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap().trim().to_string();
        assert_eq!(read(&zone), "37000");
        // No such process: the signals fail harmlessly (ESRCH).
        t.started(i32::MAX);
        assert!(!t.step(5.0), "35 + 4 °C is not throttled yet");
        assert!(t.step(10.0), "35 + 12 °C is");
        assert_eq!(read(&zone), "49000");
        assert_eq!(read(&clock), "300000000");
        t.ended(i32::MAX);
        assert!(t.step(1.0), "46 °C: still throttled");
        assert!(t.step(3.5), "42.5 °C: still throttled (hysteresis)");
        assert!(!t.step(1.0), "41.5 °C: not any more");
        assert_eq!(read(&clock), "600000000");
        t.step(100.0);
        assert_eq!(t.now(), (35.0, false));
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = tree(&[me]).contains(&(child.id() as i32));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found, "a child is found in /proc");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
