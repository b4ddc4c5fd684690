//! The bad inputs of `tests/bad_inputs_cli.rs`: what each case does to a copy of the
//! corpus (or of the trained run), the command, and what its one error line must say.

use std::path::{Path, PathBuf};

fn csv(root: &Path, split: &str) -> PathBuf {
    root.join(format!(
        "annotations/manual/PHOENIX-2014-T.{split}.corpus.csv"
    ))
}

/// The first data row's sample name of a split.
fn first_name(root: &Path, split: &str) -> String {
    std::fs::read_to_string(csv(root, split))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("name|"))
        .find_map(|l| l.split('|').next().map(str::to_string))
        .unwrap()
}

fn pose(root: &Path, split: &str) -> PathBuf {
    root.join("pose")
        .join(split)
        .join(format!("{}.pose", first_name(root, split)))
}

fn feature(root: &Path, split: &str) -> PathBuf {
    root.join("features")
        .join(split)
        .join(format!("{}.npy", first_name(root, split)))
}

pub(super) fn edit_csv(root: &Path, split: &str, f: impl Fn(Vec<String>) -> Vec<String>) {
    let path = csv(root, split);
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    std::fs::write(&path, f(lines).join("\n") + "\n").unwrap();
}

pub(super) fn npy(path: &Path, values: &[f32], shape: &[u64]) {
    san_data::gallery::write_npy(path, values, shape).unwrap();
}

/// Overwrites every `*.{ext}` file of a run's checkpoint with `bytes`.
fn overwrite_checkpoint(run: &Path, ext: &str, bytes: &[u8]) {
    for entry in std::fs::read_dir(run.join("checkpoint")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == ext) {
            std::fs::write(&p, bytes).unwrap();
        }
    }
}

/// Rewrites the first tensor shape of a record file whose first size is small (a
/// MessagePack fixint after the key `shape` and the array's marker): it goes up by one, so the bytes no longer
/// fill the shape.
fn bump_first_shape(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = (0..b.len() - 7)
        .find(|&i| &b[i..i + 5] == b"shape" && b[i + 5] & 0xF0 == 0x90 && b[i + 6] < 0x7F)
        .expect("a shape written as a fixarray of fixints")
        + 5;
    b[at + 1] += 1;
    std::fs::write(path, b).unwrap();
}

/// Adds one to the first `"hidden"` (the sign encoder's width) of a model's `config.json`.
fn bump_config_hidden(path: &Path) {
    fn bump(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(d) = m.get_mut("hidden").and_then(|d| d.as_u64()) {
                    m.insert("hidden".into(), (d + 1).into());
                    return true;
                }
                m.values_mut().any(bump)
            }
            _ => false,
        }
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(bump(&mut v), "a hidden width in {}", path.display());
    std::fs::write(path, v.to_string()).unwrap();
}

/// A case: what it does to a fresh copy of the corpus (and of the trained run), the
/// command (with `{data}`, `{run}`, `{work}` replaced), and what the error line must say.
pub(super) struct Case {
    pub(super) label: &'static str,
    pub(super) mutate: fn(&Path, &Path),
    pub(super) args: &'static [&'static str],
    pub(super) expect: &'static [&'static str],
}

fn none(_: &Path, _: &Path) {}

pub(super) const TRAIN: &[&str] = &["train", "--data", "{data}", "--out", "{work}/out"];
const TRAIN_FEATURES: &[&str] = &["{train}", "--set", "data.input=Features"];
const EVAL: &[&str] = &["eval", "--model", "{run}/model", "--data", "{data}"];

pub(super) fn cases() -> Vec<Case> {
    vec![
        // The corpus CSVs.
        Case {
            label: "train CSV missing",
            mutate: |d, _| std::fs::remove_file(csv(d, "train")).unwrap(),
            args: TRAIN,
            expect: &["PHOENIX-2014-T.train.corpus.csv"],
        },
        Case {
            label: "CSV row with 6 fields",
            mutate: |d, _| {
                edit_csv(d, "train", |mut l| {
                    l[1] = l[1].rsplit_once('|').unwrap().0.to_string();
                    l
                })
            },
            args: TRAIN,
            expect: &["train.corpus.csv:2:", "7 pipe-separated fields"],
        },
        Case {
            label: "CSV row with 8 fields in dev",
            mutate: |d, _| {
                edit_csv(d, "dev", |mut l| {
                    l[1].push_str("|extra");
                    l
                })
            },
            args: TRAIN,
            expect: &["dev.corpus.csv:2:", "7 pipe-separated fields"],
        },
        Case {
            label: "CSV start frame not an integer",
            mutate: |d, _| {
                edit_csv(d, "train", |mut l| {
                    let f: Vec<&str> = l[1].split('|').collect();
                    l[1] = format!("{}|{}|abc|{}", f[0], f[1], f[3..].join("|"));
                    l
                })
            },
            args: TRAIN,
            expect: &["train.corpus.csv:2:", "integer start frame"],
        },
        Case {
            label: "CSV empty sample name",
            mutate: |d, _| {
                edit_csv(d, "train", |mut l| {
                    l[1] = format!("|{}", l[1].split_once('|').unwrap().1);
                    l
                })
            },
            args: TRAIN,
            expect: &["train.corpus.csv:2:", "a sample name"],
        },
        Case {
            label: "CSV repeated sample name",
            mutate: |d, _| {
                edit_csv(d, "train", |mut l| {
                    let dup = l[1].clone();
                    l.push(dup);
                    l
                })
            },
            args: TRAIN,
            expect: &["train.corpus.csv:", "already the name on line 2"],
        },
        Case {
            label: "CSV empty translation",
            mutate: |d, _| {
                edit_csv(d, "train", |mut l| {
                    let (head, _) = l[1].rsplit_once('|').unwrap();
                    l[1] = format!("{head}|");
                    l
                })
            },
            args: TRAIN,
            expect: &["train.corpus.csv:2:", "at least one word"],
        },
        Case {
            label: "CSV not UTF-8",
            mutate: |d, _| {
                let mut b = std::fs::read(csv(d, "test")).unwrap();
                b.extend([0xff, 0xfe, b'\n']);
                std::fs::write(csv(d, "test"), b).unwrap();
            },
            args: TRAIN,
            expect: &["test.corpus.csv", "UTF-8"],
        },
        Case {
            label: "CSV without rows",
            mutate: |d, _| std::fs::write(csv(d, "dev"), "").unwrap(),
            args: TRAIN,
            expect: &["dev.corpus.csv", "no corpus rows"],
        },
        Case {
            label: "train split of one row",
            mutate: |d, _| edit_csv(d, "train", |l| l[..2].to_vec()),
            args: TRAIN,
            expect: &["train.corpus.csv", "at least 2 samples"],
        },
        // Pose files.
        Case {
            label: "pose file missing",
            mutate: |d, _| std::fs::remove_file(pose(d, "train")).unwrap(),
            args: TRAIN,
            expect: &[".pose", "does not exist"],
        },
        Case {
            label: "pose file empty",
            mutate: |d, _| std::fs::write(pose(d, "dev"), b"").unwrap(),
            args: TRAIN,
            expect: &[".pose"],
        },
        Case {
            label: "pose body truncated",
            mutate: |d, _| {
                let p = pose(d, "train");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() - 37]).unwrap();
            },
            args: TRAIN,
            expect: &[".pose"],
        },
        Case {
            label: "pose with trailing bytes",
            mutate: |d, _| {
                let p = pose(d, "test");
                let mut b = std::fs::read(&p).unwrap();
                b.extend([0u8; 13]);
                std::fs::write(&p, b).unwrap();
            },
            args: TRAIN,
            expect: &[".pose", "byte"],
        },
        Case {
            label: "pose header of garbage",
            mutate: |d, _| std::fs::write(pose(d, "train"), b"not a pose file at all").unwrap(),
            args: TRAIN,
            expect: &[".pose"],
        },
        // Clip features.
        Case {
            label: "feature file missing",
            mutate: |d, _| std::fs::remove_file(feature(d, "train")).unwrap(),
            args: TRAIN_FEATURES,
            expect: &[".safetensors"],
        },
        Case {
            label: "features of another width in dev",
            mutate: |d, _| npy(&feature(d, "dev"), &[0.5; 3 * 7], &[3, 7]),
            args: TRAIN_FEATURES,
            expect: &[".npy", "7"],
        },
        Case {
            label: "features .npy truncated",
            mutate: |d, _| {
                let p = feature(d, "train");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() / 2]).unwrap();
            },
            args: TRAIN_FEATURES,
            expect: &[".npy"],
        },
        Case {
            label: "features .npy of garbage",
            mutate: |d, _| std::fs::write(feature(d, "test"), b"\x93NUMPY garbage").unwrap(),
            args: TRAIN_FEATURES,
            expect: &[".npy"],
        },
        Case {
            label: "features .npy one-dimensional",
            mutate: |d, _| npy(&feature(d, "train"), &[0.5; 8], &[8]),
            args: TRAIN_FEATURES,
            expect: &[".npy"],
        },
        Case {
            label: "features .npy without steps",
            mutate: |d, _| npy(&feature(d, "dev"), &[], &[0, 8]),
            args: TRAIN_FEATURES,
            expect: &[".npy"],
        },
        Case {
            label: "features .npy holding NaN",
            mutate: |d, _| {
                let p = feature(d, "train");
                let a = san_data::clips::read_npy(&p).unwrap();
                let mut v = a.values.clone();
                v[3] = f32::NAN;
                let shape: Vec<u64> = a.shape.iter().map(|&x| x as u64).collect();
                npy(&p, &v, &shape);
            },
            args: TRAIN_FEATURES,
            expect: &[".npy", "finite"],
        },
        // Frames.
        Case {
            label: "frame folders missing",
            mutate: none,
            args: &["{train}", "--set", "data.input=Frames"],
            expect: &["fullFrame"],
        },
        // Word vectors.
        Case {
            label: "malformed wordvecs.vec",
            mutate: |d, _| {
                std::fs::write(d.join("wordvecs.vec"), "2 3\nregen 0.1 x 0.3\n").unwrap()
            },
            args: TRAIN,
            expect: &["wordvecs.vec"],
        },
        Case {
            label: "semantic table from a malformed wordvecs.vec",
            mutate: |d, _| std::fs::write(d.join("wordvecs.vec"), "2 3\nregen 0.1\n").unwrap(),
            args: &[
                "table",
                "build",
                "--kind",
                "semantic",
                "--data",
                "{data}",
                "--out",
                "{work}/t.json",
            ],
            expect: &["wordvecs.vec"],
        },
        Case {
            label: "semantic table without wordvecs.vec",
            mutate: |d, _| std::fs::remove_file(d.join("wordvecs.vec")).unwrap(),
            args: &[
                "table",
                "build",
                "--kind",
                "semantic",
                "--data",
                "{data}",
                "--out",
                "{work}/t.json",
            ],
            expect: &["wordvecs.vec", "no such file"],
        },
        // Config files and settings.
        Case {
            label: "config file missing",
            mutate: none,
            args: &["{train}", "--config", "{work}/none.toml"],
            expect: &["none.toml"],
        },
        Case {
            label: "config file not TOML",
            mutate: |_, w| std::fs::write(w.join("bad.toml"), "[stage1\nepochs = 2").unwrap(),
            args: &["{train}", "--config", "{work}/bad.toml"],
            expect: &["bad.toml", "TOML"],
        },
        Case {
            label: "unknown setting",
            mutate: none,
            args: &["{train}", "--set", "model.widht=3"],
            expect: &["model.widht"],
        },
        Case {
            label: "setting of the wrong type",
            mutate: none,
            args: &["{train}", "--set", "mining.n_hard=\"many\""],
            expect: &["n_hard"],
        },
        Case {
            label: "BERT text side without a checkpoint",
            mutate: none,
            args: &["{train}", "--set", "model.text.kind=Bert"],
            expect: &["model.text.checkpoint"],
        },
        Case {
            label: "BERT checkpoint folder missing",
            mutate: none,
            args: &[
                "{train}",
                "--set",
                "model.text.kind=Bert",
                "--set",
                "model.text.checkpoint=\"/no/such/bert\"",
            ],
            expect: &["model.text.checkpoint", "/no/such/bert", "no such folder"],
        },
        Case {
            label: "encoder that cannot read the input",
            mutate: none,
            args: &["{train}", "--set", "model.encoder=Frames"],
            expect: &["frame input"],
        },
        // Saved models and checkpoints.
        Case {
            label: "eval of a missing model folder",
            mutate: none,
            args: &["eval", "--model", "{work}/nothing", "--data", "{data}"],
            expect: &["nothing"],
        },
        Case {
            label: "eval of a model without model.mpk",
            mutate: |_, r| std::fs::remove_file(r.join("model/model.mpk")).unwrap(),
            args: EVAL,
            expect: &["model.mpk"],
        },
        Case {
            label: "eval of a corrupted model.mpk",
            mutate: |_, r| std::fs::write(r.join("model/model.mpk"), b"\x00\x01garbage").unwrap(),
            args: EVAL,
            expect: &["model.mpk"],
        },
        Case {
            label: "eval of a truncated model.mpk",
            mutate: |_, r| {
                let p = r.join("model/model.mpk");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() / 3]).unwrap();
            },
            args: EVAL,
            expect: &["model.mpk"],
        },
        Case {
            label: "eval of a model.mpk whose tensor bytes do not fill its shape",
            mutate: |_, r| bump_first_shape(&r.join("model/model.mpk")),
            args: EVAL,
            expect: &["model.mpk", "bytes, the record has"],
        },
        Case {
            label: "eval of a model whose config.json asks for other sizes than model.mpk",
            mutate: |_, r| bump_config_hidden(&r.join("model/config.json")),
            args: EVAL,
            expect: &["model.mpk", "expected shape", "from config.json"],
        },
        Case {
            label: "eval of a model with a corrupted config.json",
            mutate: |_, r| std::fs::write(r.join("model/config.json"), "{\"sign\": 3").unwrap(),
            args: EVAL,
            expect: &["config.json"],
        },
        Case {
            label: "eval of a model with a truncated train.json",
            mutate: |_, r| {
                std::fs::write(r.join("model/train.json"), "{\"seed\": 7, \"data\"").unwrap()
            },
            args: EVAL,
            expect: &["train.json"],
        },
        Case {
            label: "eval of a model without vocab.json",
            mutate: |_, r| std::fs::remove_file(r.join("model/vocab.json")).unwrap(),
            args: EVAL,
            expect: &["vocab.json"],
        },
        Case {
            label: "eval on an unknown split",
            mutate: none,
            args: &[
                "eval",
                "--model",
                "{run}/model",
                "--data",
                "{data}",
                "--split",
                "valid",
            ],
            expect: &["valid"],
        },
        Case {
            label: "eval with a benchmark of another split",
            mutate: none,
            args: &[
                "eval",
                "--model",
                "{run}/model",
                "--data",
                "{data}",
                "--split",
                "dev",
                "--benchmark",
                "{run}/fine_grained_test.json",
            ],
            expect: &["fine_grained_test.json", "dev split"],
        },
        Case {
            label: "eval with a benchmark that is not JSON",
            mutate: |_, r| std::fs::write(r.join("fine_grained_test.json"), "[1, 2").unwrap(),
            args: &[
                "eval",
                "--model",
                "{run}/model",
                "--data",
                "{data}",
                "--benchmark",
                "{run}/fine_grained_test.json",
            ],
            expect: &["fine_grained_test.json"],
        },
        Case {
            label: "eval on a corpus of another width",
            mutate: |d, _| {
                // Every test clip as 5-wide features, read as the model's pose input.
                for name in std::fs::read_to_string(csv(d, "test"))
                    .unwrap()
                    .lines()
                    .filter(|l| !l.starts_with("name|"))
                    .filter_map(|l| l.split('|').next())
                {
                    npy(
                        &d.join("features/test").join(format!("{name}.npy")),
                        &[0.1; 10],
                        &[2, 5],
                    );
                }
            },
            args: &[
                "eval",
                "--model",
                "{run}/model",
                "--data",
                "{data}",
                "--set-input-features",
            ],
            expect: &["values per step", "trained on"],
        },
        Case {
            label: "table build --kind san without a model",
            mutate: none,
            args: &[
                "table",
                "build",
                "--data",
                "{data}",
                "--out",
                "{work}/t.json",
            ],
            expect: &["--model"],
        },
        Case {
            label: "table show of a file that is not a table",
            mutate: |_, w| std::fs::write(w.join("t.json"), "{\"links\": 5}").unwrap(),
            args: &["table", "show", "{work}/t.json"],
            expect: &["t.json"],
        },
        Case {
            label: "finegrained with a missing table",
            mutate: none,
            args: &[
                "finegrained",
                "--data",
                "{data}",
                "--table",
                "{work}/none.json",
                "--out",
                "{work}/fg.json",
            ],
            expect: &["none.json"],
        },
        Case {
            label: "embed into a path under a file",
            mutate: |_, w| std::fs::write(w.join("file"), "x").unwrap(),
            args: &[
                "embed",
                "--model",
                "{run}/model",
                "--data",
                "{data}",
                "--out",
                "{run}/file/index.safetensors",
            ],
            expect: &["file"],
        },
        Case {
            label: "search of an index that is not one",
            mutate: |_, w| {
                std::fs::write(
                    w.join("index.safetensors"),
                    b"\x08\x00\x00\x00\x00\x00\x00\x00{}",
                )
                .unwrap()
            },
            args: &[
                "search",
                "--model",
                "{run}/model",
                "--index",
                "{run}/index.safetensors",
                "--query",
                "regen",
            ],
            expect: &["index.safetensors"],
        },
        Case {
            label: "search of a missing index",
            mutate: none,
            args: &[
                "search",
                "--model",
                "{run}/model",
                "--index",
                "{work}/none.safetensors",
                "--query",
                "regen",
            ],
            expect: &["none.safetensors"],
        },
        Case {
            label: "resume from a corrupted checkpoint",
            mutate: |_, r| overwrite_checkpoint(r, "mpk", b"garbage"),
            args: &[
                "train", "--data", "{data}", "--out", "{run}", "--resume", "--tiny",
            ],
            expect: &["checkpoint"],
        },
        Case {
            label: "resume from a checkpoint whose model.mpk bytes do not fill a shape",
            mutate: |_, r| bump_first_shape(&r.join("checkpoint/model.mpk")),
            args: &[
                "train", "--data", "{data}", "--out", "{run}", "--resume", "--tiny",
            ],
            expect: &["checkpoint/model.mpk", "bytes, the record has"],
        },
        Case {
            label: "resume from a checkpoint with a truncated optimizer.mpk",
            mutate: |_, r| {
                let p = r.join("checkpoint/optimizer.mpk");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() / 2]).unwrap();
            },
            args: &[
                "train", "--data", "{data}", "--out", "{run}", "--resume", "--tiny",
            ],
            expect: &["checkpoint/optimizer.mpk", "optimiser record"],
        },
        Case {
            label: "resume from a checkpoint whose state is truncated",
            mutate: |_, r| overwrite_checkpoint(r, "json", b"{\"stage\""),
            args: &[
                "train", "--data", "{data}", "--out", "{run}", "--resume", "--tiny",
            ],
            expect: &["checkpoint"],
        },
        Case {
            label: "train into a folder with a checkpoint, without --resume",
            mutate: none,
            args: &["train", "--data", "{data}", "--out", "{run}"],
            expect: &["--resume"],
        },
    ]
}
