//! Feeding a verified segment's entries to the gateway invariant checker: the members it needs
//! are read on all cores (the canonical-form scan is most of the cost), then fed in seq order.

use crate::event::{self, Facts};
use crate::invariants::Checker;
use crate::source::EntryRef;

/// Below this many entries per thread, reading them on one thread is faster than spawning.
const MIN_PER_THREAD: usize = 256;

/// Feeds `entries` (ranges into `bytes`) to `checker`.
pub fn feed(checker: &mut Checker, bytes: &[u8], entries: &[EntryRef]) {
    let read = |chunk: &[EntryRef]| -> Vec<Option<Facts<'_>>> {
        chunk
            .iter()
            .map(|e| event::facts(e.seq, &bytes[e.range.clone()]))
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let facts: Vec<Option<Facts<'_>>> = if threads < 2 || entries.len() < 2 * MIN_PER_THREAD {
        read(entries)
    } else {
        let chunk = entries.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = entries
                .chunks(chunk)
                .map(|c| s.spawn(move || read(c)))
                .collect();
            handles
                .into_iter()
                // A reader only panics on a bug; propagate it rather than check partially.
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    for f in facts.iter().flatten() {
        checker.feed(f);
    }
}
