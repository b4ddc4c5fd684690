//! One test per bad input of DESIGN.md §5, each with a fixture it makes itself: the error
//! is a value (never a panic) that names the file, the line or frame where there is one,
//! and what was expected.

use std::path::{Path, PathBuf};

use san_data::DataError;
use san_data::clips::{Array, read_clip_features};
use san_data::frames::{FrameConfig, read_frames};
use san_data::phoenix::{Split, read_corpus_csv};
use san_data::pose::{
    PoseComponent, PoseHeader, encode_pose, normalize_shoulders, pose_from_array, read_pose,
};
use san_data::sample::load_split;

const HEADER: &str = "name|video|start|end|speaker|orth|translation";

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
    path.to_path_buf()
}

/// The error's message, failing the test if there was none.
fn message<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
}

#[test]
fn malformed_row() {
    let d = dir();
    let csv = write(
        &d.path().join("dev.csv"),
        format!("{HEADER}\na|a/1/*.png|-1|-1|Signer01|REGEN|es regnet\nb|b/1/*.png|x|-1|Signer01|SONNE|sonne\n").as_bytes(),
    );
    let msg = message(read_corpus_csv(&csv));
    assert_names(
        &msg,
        &["dev.csv:3", "expected an integer start frame", "\"x\""],
    );
}

#[test]
fn wrong_column_count() {
    let d = dir();
    let csv = write(&d.path().join("train.csv"), b"a|a/1/*.png|-1|-1|Signer01\n");
    let msg = message(read_corpus_csv(&csv));
    assert_names(
        &msg,
        &["train.csv:1", "7 pipe-separated fields", "got 5 fields"],
    );
}

#[test]
fn missing_folder() {
    let d = dir();
    let root = d.path().join("PHOENIX-2014-T");
    let msg = message(load_split(&root, Split::Train));
    assert_names(&msg, &["PHOENIX-2014-T", "expected a corpus folder"]);
    let frames = d
        .path()
        .join("features/fullFrame-210x260px/dev/missing-video");
    let msg = message(read_frames(&frames, &FrameConfig::new()));
    assert_names(&msg, &["missing-video", "expected a folder of PNG frames"]);
    // A corpus whose pose file is absent names that file.
    write(
        &root.join("annotations/manual/PHOENIX-2014-T.train.corpus.csv"),
        b"clip-7|clip-7/1/*.png|-1|-1|Signer01|REGEN|es regnet\n",
    );
    let msg = message(load_split(&root, Split::Train));
    assert_names(
        &msg,
        &[
            "pose/train/clip-7.pose",
            "expected the pose file of sample clip-7",
            "PHOENIX-2014-T.train.corpus.csv",
        ],
    );
}

/// A one-component, two-point pose (both shoulders), `frames` frames, as v0.2 bytes.
fn pose_bytes(frames: usize, nan_at: Option<usize>) -> Vec<u8> {
    let points = ["RIGHT_SHOULDER", "LEFT_SHOULDER"];
    let mut values = Vec::new();
    for _ in 0..frames {
        values.extend([0.0, 0.0, 1.0, 2.0, 0.0, 1.0]); // x, y, confidence per point
    }
    let array = Array {
        shape: vec![frames, 2, 3],
        values,
    };
    let mut pose = pose_from_array(&array, 25.0, true, Path::new("fixture.npy"))
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(f) = nan_at {
        // A detected point (confidence 1) whose x is NaN, as a broken tracker writes it.
        pose.data[f * 2 * 2] = f32::NAN;
    }
    pose.header = PoseHeader {
        version: 0.2,
        width: 256,
        height: 256,
        depth: 0,
        components: vec![PoseComponent {
            name: "POSE_LANDMARKS".into(),
            format: "XYC".into(),
            points: points.map(String::from).to_vec(),
            limbs: vec![(0, 1)],
            colors: vec![(255, 0, 0)],
        }],
    };
    encode_pose(&pose)
}

#[test]
fn truncated_pose() {
    let d = dir();
    let mut bytes = pose_bytes(3, None);
    bytes.truncate(bytes.len() - 10);
    let path = write(&d.path().join("cut.pose"), &bytes);
    let msg = message(read_pose(&path));
    assert_names(&msg, &["cut.pose", "at byte", "expected"]);
}

#[test]
fn pose_with_an_unknown_version() {
    let d = dir();
    let mut bytes = pose_bytes(1, None);
    bytes[..4].copy_from_slice(&9.5f32.to_le_bytes()); // the header starts with the version
    let path = write(&d.path().join("future.pose"), &bytes);
    let msg = message(read_pose(&path));
    assert_names(&msg, &["future.pose", "9.5"]);
}

#[test]
fn corrupt_png() {
    let d = dir();
    let video = d.path().join("dev/clip-1");
    write(
        &video.join("images0001.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    );
    let msg = message(read_frames(&video, &FrameConfig::new()));
    assert_names(&msg, &["images0001.png"]);
}

#[test]
fn nan_keypoints() {
    let d = dir();
    let path = write(&d.path().join("nan.pose"), &pose_bytes(4, Some(2)));
    let pose = read_pose(&path).unwrap_or_else(|e| panic!("{e}"));
    let msg = message(normalize_shoulders(&pose, &path));
    assert_names(&msg, &["nan.pose", "frame 2"]);
}

#[test]
fn empty_split() {
    let d = dir();
    let csv = write(&d.path().join("test.csv"), format!("{HEADER}\n").as_bytes());
    let msg = message(read_corpus_csv(&csv));
    assert_names(&msg, &["test.csv", "no corpus rows"]);
}

#[test]
fn mismatched_feature_dims() {
    let d = dir();
    let path = d.path().join("clip.safetensors");
    let bytes: Vec<u8> = [0.5f32; 6].iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 3], &bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    safetensors::serialize_to_file([("features", view)], None, &path)
        .unwrap_or_else(|e| panic!("{e}"));
    let msg = message(read_clip_features(&path, Some(1024)));
    assert_names(&msg, &["clip.safetensors", "1024", "3"]);
}

/// A valid `.pose` file of another layout (MediaPipe, 178 points) among signsim's poses:
/// an error naming it and both widths, before any batch is built (it used to reach the
/// batcher and panic there).
#[test]
fn a_pose_of_another_layout_is_an_error_naming_it() {
    let mediapipe =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/pose/mediapipe.pose");
    if !mediapipe.exists() {
        eprintln!("skipping: {} not found", mediapipe.display());
        return;
    }
    let d = dir();
    let root = d.path().join("signsim");
    san_data::signsim::ensure_corpus(
        &root,
        &san_data::signsim::SignsimConfig::new()
            .with_train(8)
            .with_dev(4)
            .with_test(4),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rows = read_corpus_csv(&san_data::sample::corpus_csv_path(&root, Split::Dev))
        .unwrap_or_else(|e| panic!("{e}"));
    let odd = san_data::sample::pose_path(&root, Split::Dev, &rows[2].name);
    std::fs::copy(&mediapipe, &odd).unwrap_or_else(|e| panic!("{e}"));
    let msg = message(san_data::corpus::Corpus::load(&root).map(|c| c.train.len()));
    assert!(msg.starts_with(&odd.display().to_string()), "{msg}");
    assert_names(&msg, &["values per time step", "got"]);
    println!("{msg}");
}
