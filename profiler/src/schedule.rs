//! Sharing work among the devices of one model: a queue of items (units, networks)
//! that every device takes batches from, and a ledger that records each batch's results
//! and writes the checkpoint before the next batch is taken. A device that goes away is
//! waited for (a restarted adbd, a replugged cable: `--wait-device`) and measures the
//! same batch again when it is back; one that does not come back gives its batch back
//! for the others and stops; the run goes on.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::ProgressBar;

use crate::error::{Error, Result};
use crate::prepare::Prepared;

/// A result that may hold the runner's record (whose reference time the throttle check
/// reads).
pub trait Timed {
    /// The record, when the item was measured.
    fn record(&self) -> Option<&device_runner::protocol::BenchRecord>;
}

impl<K> Timed for (K, crate::measure::Outcome) {
    fn record(&self) -> Option<&device_runner::protocol::BenchRecord> {
        self.1.as_ref().ok()
    }
}

/// The reference network's median over a batch's results.
fn reference_ms<R: Timed>(results: &[R]) -> Option<f64> {
    let records: Vec<_> = results.iter().filter_map(Timed::record).collect();
    crate::reference::reference_median(&records)
}

/// The device's heat when a batch ended, as its runner read it after its last
/// measurement (`None`: the runner read nothing, and the host reads the device itself).
fn heat_after<R: Timed>(results: &[R]) -> Option<crate::props::HeatReading> {
    results
        .iter()
        .filter_map(Timed::record)
        .filter_map(|r| r.heat.as_ref())
        .next_back()
        .map(|h| h.after.clone())
}

/// Measures a batch of items on a device: one result per item.
pub type Measure<'a, T, R> = dyn Fn(&Prepared, &[T]) -> Result<Vec<R>> + Sync + 'a;

/// Where a group's results go: each batch is recorded and checkpointed at once.
pub trait Ledger<R>: Send {
    /// Records one batch's results (measured on `device`) and writes the checkpoint.
    fn record(&mut self, device: &str, results: Vec<R>) -> Result<()>;
}

/// The work of one device model.
pub struct Shared<T, L> {
    queue: Mutex<VecDeque<T>>,
    /// The results so far.
    pub ledger: Mutex<L>,
    /// Devices that stopped early, with why.
    pub errors: Mutex<Vec<String>>,
}

impl<T, L> Shared<T, L> {
    /// Work on `items`, recorded into `ledger`.
    pub fn new(items: impl IntoIterator<Item = T>, ledger: L) -> Shared<T, L> {
        Shared {
            queue: Mutex::new(items.into_iter().collect()),
            ledger: Mutex::new(ledger),
            errors: Mutex::default(),
        }
    }

    /// Items still queued.
    pub fn pending(&self) -> usize {
        self.queue.lock().map_or(0, |q| q.len())
    }

    fn take(&self, n: usize) -> Vec<T> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let k = n.min(q.len());
        q.drain(..k).collect()
    }

    fn give_back(&self, items: Vec<T>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        for it in items.into_iter().rev() {
            q.push_front(it);
        }
    }
}

/// A line for people on stderr, above the progress bar (which, on a terminal, would
/// otherwise draw over it; without a terminal the bar is hidden and prints nothing).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("moga: {line}");
    } else {
        bar.println(format!("moga: {line}"));
    }
}

/// Times in a row a device may come back and fail again before it stops.
const COMEBACKS: usize = 3;

/// One device working through its group's queue, `batch` items at a time; a device that
/// fails is waited for, at most `wait`, and goes on when it is back.
fn work<T, R: Timed, L: Ledger<R>>(
    p: &Prepared,
    shared: &Shared<T, L>,
    batch: usize,
    wait: Duration,
    bar: &ProgressBar,
    label: &(dyn Fn(&T) -> String + Sync),
    measure: &Measure<'_, T, R>,
) -> Result<()> {
    let mut comebacks = 0;
    loop {
        let items = shared.take(batch.max(1));
        if items.is_empty() {
            return Ok(());
        }
        bar.set_message(format!("{}: {}", p.device.id(), label(&items[0])));
        crate::thermal::before_batch(&p.device, p.thermal, &p.heat, &|line| say(bar, line));
        match measure(p, &items) {
            Ok(mut results) => {
                comebacks = 0;
                if let Some(why) =
                    crate::thermal::after_batch(p, reference_ms(&results), heat_after(&results))
                {
                    let id = p.device.id();
                    say(
                        bar,
                        format!(
                            "device {id}: throttled batch ({why}): cooling down, then measuring it again"
                        ),
                    );
                    crate::thermal::cool_back(p, &|line| say(bar, line));
                    match measure(p, &items) {
                        Ok(again) => {
                            if crate::thermal::measured_again(
                                p,
                                reference_ms(&again),
                                heat_after(&again),
                            ) {
                                say(
                                    bar,
                                    format!(
                                        "device {id}: measured again, still throttled: kept and counted in the table's device_state"
                                    ),
                                );
                            }
                            results = again;
                        }
                        Err(e) => {
                            crate::thermal::kept_throttled(p);
                            say(
                                bar,
                                format!(
                                    "device {id}: measuring the throttled batch again failed ({e}): the first measurement is kept"
                                ),
                            );
                        }
                    }
                }
                bar.inc(items.len() as u64);
                shared
                    .ledger
                    .lock()
                    .map_err(|_| Error::device(p.device.id(), "ledger poisoned"))?
                    .record(p.device.id(), results)?;
            }
            Err(e) => {
                // The device is gone or broken: its batch goes back (for the others, or
                // for itself once it is back).
                shared.give_back(items);
                if comebacks >= COMEBACKS || !p.device.can_come_back() {
                    return Err(e);
                }
                say(bar, format!("device {}: {e}", p.device.id()));
                let say = |line: String| say(bar, line);
                p.device.wait_until_back(wait, &say)?;
                comebacks += 1;
            }
        }
    }
}

/// Every device of every group works on its group's queue, in parallel; a device that
/// goes away is waited for at most `wait`.
pub fn run<T: Send, R: Timed, L: Ledger<R>>(
    groups: &[(&Shared<T, L>, &[Prepared])],
    batch: usize,
    wait: Duration,
    bar: &ProgressBar,
    label: &(dyn Fn(&T) -> String + Sync),
    measure: &Measure<'_, T, R>,
) {
    std::thread::scope(|scope| {
        for (shared, members) in groups {
            for p in *members {
                scope.spawn(move || {
                    if let Err(e) = work(p, shared, batch, wait, bar, label, measure) {
                        say(bar, format!("device {} stopped: {e}", p.device.id()));
                        if let Ok(mut errs) = shared.errors.lock() {
                            errs.push(format!("{}: {e}", p.device.id()));
                        }
                    }
                });
            }
        }
    });
}
