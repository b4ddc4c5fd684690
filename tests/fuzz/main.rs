//! Fuzzed readers: every reader starts from a valid file (a real one from `../shared/data`
//! where there is one, else one written here) and gets random truncations, byte flips,
//! inserted bytes and huge header counts. It must return `Ok` or `Err`, never panic, and
//! never allocate more than a small multiple of the file's size.
//!
//! `SAN_FUZZ_CASES` sets the cases per reader (default 200).

// The counting allocator of `harness` must implement `GlobalAlloc`, an unsafe trait; it
// only forwards to `System` and counts.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod data_readers;
mod harness;
mod records;

/// Readers are fuzzed one after another in one test, so the allocation count of a case
/// is its own.
#[test]
fn readers_never_panic_nor_allocate_from_unchecked_counts() {
    let total = data_readers::data_readers() + records::records();
    println!("{total} cases in all");
}
