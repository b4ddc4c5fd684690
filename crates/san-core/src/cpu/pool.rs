//! A minimal worker pool for the host kernels.

/// Runs `work` on `threads` scoped threads and concatenates what they return.
///
/// Each worker typically pulls work items from a shared atomic counter until none are left.
/// A panic in a worker is resumed on the calling thread.
pub(crate) fn run_workers<T: Send>(threads: usize, work: impl Fn() -> Vec<T> + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(&work)).collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(rows) => rows,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}
