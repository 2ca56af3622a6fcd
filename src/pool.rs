//! The small thread pool of the local pipeline: a function over every item of a slice on
//! all cores, the results in the items' order (so nothing depends on the threads).

/// `f` over every item on all cores, a few thousand items to a task (one item is too
/// little work to hand to a thread); what `f` pushes comes out in the items' order.
pub fn parallel_each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T, &mut Vec<R>) + Sync) -> Vec<R> {
    let chunks: Vec<&[T]> = items.chunks(4096).collect();
    let found = parallel_map(&chunks, |chunk| {
        let mut out = Vec::new();
        for item in *chunk {
            f(item, &mut out);
        }
        out
    });
    found.into_iter().flatten().collect()
}

/// How a thread gives what it freed back to the system; set once by the binary with
/// [`on_give_back`].
static GIVE_BACK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Have [`give_back`] call `hook`: the binary gives its allocator's freed pages of the
/// calling thread back to the system. Otherwise what a stage freed (the parser's buffers on
/// a finished worker, the decoded files once merged) stays resident while the next stage
/// allocates anew, and a large org's peak is the sum of both. The first hook set stays.
pub fn on_give_back(hook: fn()) {
    let _ = GIVE_BACK.set(hook);
}

/// Call the hook of [`on_give_back`], if there is one: the calling thread is done with
/// its work, or has just freed the bulk of a stage's data. A few milliseconds at most.
pub fn give_back() {
    if let Some(hook) = GIVE_BACK.get() {
        hook();
    }
}

/// Stack of the threads that parse and check: deep documents recurse when dropped.
pub const WORKER_STACK_BYTES: usize = 256 * 1024 * 1024;

/// `f` applied to every item on all cores, the results in the items' order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let work = || {
                loop {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(at) else { break };
                    let result = f(item);
                    if let Ok(mut results) = results.lock() {
                        results[at] = Some(result);
                    }
                }
                give_back();
            };
            // A hostile file nests thousands of levels; dropping (or copying, for an alias)
            // such a value recurses, so workers get the main worker's large stack.
            let spawned = std::thread::Builder::new()
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, work);
            if spawned.is_err() {
                // No thread to be had: what is left is done by the others, or after them.
                break;
            }
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .zip(items)
        .map(|(result, item)| result.unwrap_or_else(|| f(item)))
        .collect()
}
