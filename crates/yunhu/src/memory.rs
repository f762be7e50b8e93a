//! How the process's memory allocator is run (glibc only; elsewhere these do nothing).
//!
//! glibc grows and shrinks each thread's heap in small steps, an `mprotect` at a time: under a
//! burst of calls the SIP worker made about five such calls per call. A high trim threshold stops
//! that churn; in exchange, what a burst leaves free stays with the process until
//! [`release_free_memory`] hands it back, which the server does every [`RELEASE_PERIOD`] when
//! enough is free to be worth it. Without the release, a burst's peak stayed resident for good.

use std::time::Duration;

/// How often the server looks for freed memory to give back.
pub const RELEASE_PERIOD: Duration = Duration::from_secs(30);

/// Free memory inside the allocator below which a release is not worth its walk over the heaps.
pub const RELEASE_ABOVE_BYTES: usize = 32 << 20;

/// Sets the allocator's step sizes; best called before other threads start allocating.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's parameters, under the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Bytes the allocator holds free (not in use, not yet returned to the system); 0 where unknown.
pub fn free_bytes() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    unsafe {
        libc::mallinfo2().fordblks
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}

/// Returns the allocator's free pages to the system; whether any were returned.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe; it only gives back pages no allocation uses.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Every [`RELEASE_PERIOD`], gives freed memory back when more than [`RELEASE_ABOVE_BYTES`] of it
/// is held, on a blocking thread: the walk over the heaps takes milliseconds after a burst.
pub fn spawn_releaser() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut every = tokio::time::interval(RELEASE_PERIOD);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let released = tokio::task::spawn_blocking(|| {
                let free = free_bytes();
                (free > RELEASE_ABOVE_BYTES && release_free_memory()).then_some(free)
            });
            if let Ok(Some(free)) = released.await {
                tracing::debug!(free_mib = free >> 20, "returned freed memory to the system");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident memory of this process, from the kernel.
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn memory_a_burst_freed_goes_back_to_the_system_on_release() {
        tune_allocator();
        // A burst on a thread of its own, as the runtime's workers allocate: many small blocks,
        // all written, then all freed. With the high trim threshold the pages stay resident.
        std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..100_000).map(|i| vec![(i % 251) as u8; 1_500]).collect();
            assert_eq!(blocks.len(), 100_000);
        })
        .join()
        .unwrap();
        let held = free_bytes();
        assert!(held > 100 << 20, "the burst's 150 MB should be held free, not {held} bytes");
        let before = resident_bytes();
        assert!(release_free_memory());
        let after = resident_bytes();
        assert!(before.saturating_sub(after) > 100 << 20, "resident {before} → {after} bytes");
    }
}
