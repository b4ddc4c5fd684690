//! Fuzzed readers: every reader starts from a valid file (a real one from `../shared/data`
//! where there is one, else one written here) and gets random truncations, byte flips,
//! inserted bytes and huge header counts. It must return `Ok` or `Err`, never panic, and
//! never allocate more than a small multiple of the file's size.
//!
//! `SAN_FUZZ_CASES` sets the cases per reader (default 200).

// The counting allocator below must implement `GlobalAlloc`, an unsafe trait; it only
// forwards to `System` and counts.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
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

fn cases() -> u32 {
    std::env::var("SAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Runs `read` on mutations of `seed`; returns the cases run. A panic fails the test
/// (proptest shrinks it); so does a peak allocation above 64 × the input's size + 16 MiB.
fn fuzz(name: &str, seed: Vec<u8>, read: impl Fn(&[u8]) -> bool) -> u32 {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let n = cases();
    let result = runner.run(&edits(), |edits| {
        let bytes = apply(seed.clone(), &edits);
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let _ok = read(&bytes);
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        let limit = 64 * bytes.len() + (16 << 20);
        prop_assert!(
            peak <= limit,
            "{name}: allocated {peak} bytes for a {}-byte input",
            bytes.len()
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    println!("{name}: {n} cases");
    n
}

fn shared(relative: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if p.exists() {
        Some(p)
    } else {
        println!("{relative}: not found, using a generated file");
        None
    }
}

fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Readers are fuzzed one after another in one test, so the allocation count of a case
/// is its own.
#[test]
fn readers_never_panic_nor_allocate_from_unchecked_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;

    // .pose: a real MediaPipe file (or an encoded one), parsed from bytes.
    let pose = shared("pose/mediapipe.pose")
        .map(|p| std::fs::read(p).unwrap())
        .unwrap_or_else(|| {
            let array = san_data::clips::Array {
                shape: vec![3, 4, 3],
                values: (0..36).map(|i| i as f32 / 7.0).collect(),
            };
            let pose =
                san_data::pose::pose_from_array(&array, 25.0, true, Path::new("g.pose")).unwrap();
            san_data::pose::encode_pose(&pose)
        });
    total += fuzz(".pose", pose, |b| {
        san_data::pose::parse_pose(b, Path::new("f.pose")).is_ok()
    });

    // .npy: a [T, F] f32 array.
    let npy_path = dir.path().join("seed.npy");
    let values: Vec<f32> = (0..6 * 8).map(|i| i as f32 * 0.25).collect();
    san_data::gallery::write_npy(&npy_path, &values, &[6, 8]).unwrap();
    let npy = std::fs::read(&npy_path).unwrap();
    total += fuzz(".npy", npy, |b| {
        san_data::clips::parse_npy(b, Path::new("f.npy")).is_ok()
    });

    // safetensors: one [T, F] tensor, read from a file as the corpus reads it.
    let data: Vec<u8> = [0.5f32; 12].iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensor =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4, 3], &data).unwrap();
    let st = safetensors::serialize([("features", tensor)], None).unwrap();
    let st_dir = dir.path().to_path_buf();
    total += fuzz("safetensors", st, |b| {
        let p = temp_file(&st_dir, "f.safetensors", b);
        san_data::clips::read_safetensors(&p, None).is_ok()
    });

    // The corpus CSV: the first rows of the official train CSV (or written rows).
    let csv = shared("phoenix14t/PHOENIX-2014-T.train.corpus.csv")
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes()
        })
        .unwrap_or_else(|| {
            b"a|a/1/*.png|-1|-1|S1|REGEN|es regnet\nb|b/1/*.png|-1|-1|S2|SONNE|sonne\n".to_vec()
        });
    total += fuzz("corpus CSV", csv, |b| match std::str::from_utf8(b) {
        Ok(t) => san_data::phoenix::parse_corpus_csv(t, Path::new("f.csv")).is_ok(),
        Err(_) => false,
    });

    // Word vectors in the FastText text format.
    let vec = b"3 4\nregen 0.1 0.2 0.3 0.4\nsonne -0.1 0.5 0.2 0.0\nnord 1 2 3 4\n".to_vec();
    total += fuzz("wordvecs.vec", vec, |b| match std::str::from_utf8(b) {
        Ok(t) => san_data::wordvec::parse_word_vectors(t, Path::new("f.vec")).is_ok(),
        Err(_) => false,
    });

    // A WordPiece vocab.txt and the tokenizer.json written from it.
    let vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nregen\n##schauer\nim\nnord\n##en\n".to_vec();
    let v_dir = dir.path().to_path_buf();
    total += fuzz("vocab.txt", vocab.clone(), |b| {
        let p = temp_file(&v_dir, "vocab.txt", b);
        san_data::subword::SubwordTokenizer::from_wordpiece_vocab(&p, false).is_ok()
    });
    let vocab_path = temp_file(dir.path(), "seed_vocab.txt", &vocab);
    let json_path = dir.path().join("seed_tokenizer.json");
    san_data::subword::SubwordTokenizer::from_wordpiece_vocab(&vocab_path, false)
        .unwrap()
        .save(&json_path)
        .unwrap();
    let json = std::fs::read(&json_path).unwrap();
    total += fuzz("tokenizer.json", json, |b| {
        let p = temp_file(&v_dir, "tokenizer.json", b);
        san_data::subword::SubwordTokenizer::from_tokenizer_json(&p).is_ok()
    });

    println!("{total} cases in all");
}
