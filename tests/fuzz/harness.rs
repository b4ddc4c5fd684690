//! The fuzzing harness: mutations of a seed file, a counting allocator, and a runner that
//! fails on a panic or on a peak allocation above a multiple of the input's size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Counts live heap bytes and their peak, so a case can check what it allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One mutation of a file's bytes.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    /// Four bytes of 0xFF (a huge little-endian count) at a position.
    HugeCount(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::HugeCount),
    ];
    proptest::collection::vec(edit, 1..4)
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match e {
            Edit::Truncate(i) => bytes.truncate(i % n),
            Edit::Flip(i, x) => {
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    bytes[i] ^= x;
                }
            }
            Edit::Insert(i, b) => {
                let i = i % (bytes.len() + 1);
                bytes.splice(i..i, b.iter().copied());
            }
            Edit::HugeCount(i) => {
                let i = i % n;
                for k in i..(i + 4).min(bytes.len()) {
                    bytes[k] = 0xFF;
                }
            }
        }
    }
    bytes
}

pub fn cases() -> u32 {
    std::env::var("SAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// The allocation limit of most readers: 64 × the input's size + 16 MiB.
pub fn small_multiple(len: usize) -> usize {
    64 * len + (16 << 20)
}

/// Runs `read` on mutations of `seed` with [`small_multiple`] as the allocation limit.
pub fn fuzz(name: &str, seed: Vec<u8>, read: impl Fn(&[u8]) -> bool) -> u32 {
    fuzz_within(name, seed, small_multiple, read)
}

/// Runs `read` on mutations of `seed`; returns the cases run. A panic fails the test
/// (proptest shrinks it); so does a peak allocation above `limit(input's size)`. Prints how
/// many inputs were read (`read` returned true) and how many were refused.
pub fn fuzz_within(
    name: &str,
    seed: Vec<u8>,
    limit: impl Fn(usize) -> usize,
    read: impl Fn(&[u8]) -> bool,
) -> u32 {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let n = cases();
    let accepted = AtomicUsize::new(0);
    let result = runner.run(&edits(), |edits| {
        let bytes = apply(seed.clone(), &edits);
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        if read(&bytes) {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        prop_assert!(
            peak <= limit(bytes.len()),
            "{name}: allocated {peak} bytes for a {}-byte input",
            bytes.len()
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let accepted = accepted.into_inner();
    println!(
        "{name}: {n} cases, {accepted} read, {} refused with an error",
        n as usize - accepted
    );
    n
}
