//! One rate-limit gate shared by every thread of a provider, and bounded parallel work.
//!
//! When a server answers 429 (or any answer with `Retry-After`), it is the client as a
//! whole that is too fast, not the one thread that happened to hear it: [`Gate`] holds
//! every request of the client until the wait is over, so eight readers back off together
//! instead of each sleeping on its own and the other seven carrying on at full speed.
//! A [`crate::provider::http::Client`] owns one; a provider that runs its requests on
//! several threads through one client shares it without doing anything.
//!
//! [`bounded_map`] runs a function over items on at most N threads and returns the results
//! in the items' order, whatever order they finished in, so what a provider reads does not
//! depend on which answer came first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A gate closed until a moment in the future, shared by every thread that sends.
#[derive(Debug, Default)]
pub struct Gate {
    until: Mutex<Option<Instant>>,
}

impl Gate {
    /// A gate that is open.
    pub fn new() -> Self {
        Gate::default()
    }

    /// Close the gate for `wait` from now (or keep it closed longer if it already is).
    pub fn hold(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    /// How long the gate stays closed from now (zero when open).
    pub fn remaining(&self) -> Duration {
        let guard = self.until.lock().unwrap_or_else(|e| e.into_inner());
        guard.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        })
    }

    /// Sleep until the gate is open. Another thread may close it again meanwhile, so the
    /// wait is checked again after each sleep.
    pub fn wait(&self) {
        loop {
            let left = self.remaining();
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left);
        }
    }
}

/// At most N requests in flight, however many threads want to send: a provider that reads
/// several lists at once, each page by page, stays within `--parallelism` in all.
#[derive(Debug)]
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A slot held until dropped.
#[derive(Debug)]
pub struct Slot<'s>(&'s Slots);

impl Slots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> Self {
        Slots {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Wait for a free slot and hold it.
    pub fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// `f` over `items` on at most `workers` threads; the results in the order of `items`.
pub fn bounded_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.max(1).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let result = f(item);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, result));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..40).collect();
        // Early items sleep longest, so they finish last.
        let out = bounded_map(&items, 8, |n| {
            std::thread::sleep(Duration::from_millis(40 - n));
            n * 2
        });
        assert_eq!(out, items.iter().map(|n| n * 2).collect::<Vec<_>>());
    }

    #[test]
    fn never_more_than_the_bound_at_once() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items = vec![(); 30];
        bounded_map(&items, 3, |()| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn slots_bound_the_requests_in_flight_across_every_caller() {
        let slots = Slots::new(2);
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items = [(); 24];
        // Three callers of eight threads each, as three lists read at once.
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    bounded_map(&items[..8], 8, |()| {
                        let _slot = slots.take();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(3));
                        running.fetch_sub(1, Ordering::SeqCst);
                    });
                });
            }
        });
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn one_hold_stops_every_thread() {
        let gate = Gate::new();
        gate.hold(Duration::from_millis(150));
        // A shorter hold never shortens the wait.
        gate.hold(Duration::from_millis(10));
        let start = Instant::now();
        let items = vec![(); 4];
        bounded_map(&items, 4, |()| gate.wait());
        assert!(start.elapsed() >= Duration::from_millis(140));
        assert!(gate.remaining().is_zero());
    }
}
