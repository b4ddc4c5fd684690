//! The data readers: `.pose`, `.npy`, safetensors, PNG frames, the corpus CSV, word
//! vectors, `vocab.txt` and `tokenizer.json`.

use std::path::{Path, PathBuf};

use crate::harness::{fuzz, fuzz_within, small_multiple};

pub fn shared(relative: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative);
    if p.exists() {
        Some(p)
    } else {
        println!("{relative}: not found, using a generated file");
        None
    }
}

pub fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Fuzzes every data reader; returns the cases run.
pub fn data_readers() -> u32 {
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

    // PNG frames: a real PHOENIX-2014-T frame (or a generated gradient). A PNG is
    // compressed, so the limit is what its header may honestly claim: DEFLATE expands a
    // byte at most 1032 times, decoded once and converted to RGB once.
    let png = shared("other/phoenix14t_tfds_dummy/frames/images0001.png")
        .map(|p| std::fs::read(p).unwrap())
        .unwrap_or_else(|| {
            let img =
                image::RgbImage::from_fn(26, 21, |x, y| image::Rgb([x as u8 * 9, y as u8 * 11, 7]));
            let mut bytes = Vec::new();
            img.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
            bytes
        });
    total += fuzz_within(
        "PNG frame",
        png,
        |n| 2 * (1032 * n + 4096) + small_multiple(n),
        |b| san_data::frames::decode_frame(b, Path::new("images0001.png"), 1).is_ok(),
    );

    total
}
