//! A bad-input corpus through the `san` binary: malformed and mismatched files swapped
//! into a small corpus in the PHOENIX-2014-T layout, one at a time, and run through every
//! command. Each case must exit with code 1 and exactly one `error:` line naming the file
//! (or key) and the problem; the valid controls must exit 0. Run with `--nocapture` to
//! see every case's error line.

use std::path::{Path, PathBuf};
use std::process::Command;

const SAN: &str = env!("CARGO_BIN_EXE_san");

/// One-epoch stages of a tiny model: a control run takes a few seconds.
const TINY: &[&str] = &[
    "--set",
    "stage1.epochs=1",
    "--set",
    "stage2.epochs=1",
    "--set",
    "model.hidden=16",
    "--set",
    "model.dim=16",
    "--set",
    "data.batch_size=8",
];

fn san(args: &[String]) -> (Option<i32>, String, String) {
    let out = Command::new(SAN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

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

fn edit_csv(root: &Path, split: &str, f: impl Fn(Vec<String>) -> Vec<String>) {
    let path = csv(root, split);
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    std::fs::write(&path, f(lines).join("\n") + "\n").unwrap();
}

fn npy(path: &Path, values: &[f32], shape: &[u64]) {
    san_data::gallery::write_npy(path, values, shape).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A case: what it does to a fresh copy of the corpus (and of the trained run), the
/// command (with `{data}`, `{run}`, `{work}` replaced), and what the error line must say.
struct Case {
    label: &'static str,
    mutate: fn(&Path, &Path),
    args: &'static [&'static str],
    expect: &'static [&'static str],
}

fn none(_: &Path, _: &Path) {}

const TRAIN: &[&str] = &["train", "--data", "{data}", "--out", "{work}/out"];
const TRAIN_FEATURES: &[&str] = &[
    "train",
    "--data",
    "{data}",
    "--out",
    "{work}/out",
    "--set",
    "data.input=Features",
];
const EVAL: &[&str] = &["eval", "--model", "{run}/model", "--data", "{data}"];

fn cases() -> Vec<Case> {
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
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
                "--set",
                "data.input=Frames",
            ],
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
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
                "--config",
                "{work}/none.toml",
            ],
            expect: &["none.toml"],
        },
        Case {
            label: "config file not TOML",
            mutate: |_, w| std::fs::write(w.join("bad.toml"), "[stage1\nepochs = 2").unwrap(),
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
                "--config",
                "{work}/bad.toml",
            ],
            expect: &["bad.toml", "TOML"],
        },
        Case {
            label: "unknown setting",
            mutate: none,
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
                "--set",
                "model.widht=3",
            ],
            expect: &["model.widht"],
        },
        Case {
            label: "setting of the wrong type",
            mutate: none,
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
                "--set",
                "mining.n_hard=\"many\"",
            ],
            expect: &["n_hard"],
        },
        Case {
            label: "BERT text side without a checkpoint",
            mutate: none,
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
                "--set",
                "model.text.kind=Bert",
            ],
            expect: &["model.text.checkpoint"],
        },
        Case {
            label: "BERT checkpoint folder missing",
            mutate: none,
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
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
            args: &[
                "train",
                "--data",
                "{data}",
                "--out",
                "{work}/out",
                "--set",
                "model.encoder=Frames",
            ],
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
            mutate: |_, r| {
                for entry in std::fs::read_dir(r.join("checkpoint")).unwrap() {
                    let p = entry.unwrap().path();
                    if p.extension().is_some_and(|e| e == "mpk") {
                        std::fs::write(&p, b"garbage").unwrap();
                    }
                }
            },
            args: &[
                "train", "--data", "{data}", "--out", "{run}", "--resume", "--tiny",
            ],
            expect: &["checkpoint"],
        },
        Case {
            label: "resume from a checkpoint whose state is truncated",
            mutate: |_, r| {
                for entry in std::fs::read_dir(r.join("checkpoint")).unwrap() {
                    let p = entry.unwrap().path();
                    if p.extension().is_some_and(|e| e == "json") {
                        std::fs::write(&p, b"{\"stage\"").unwrap();
                    }
                }
            },
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

/// `args` with the placeholders filled; `--tiny` expands to the tiny settings and
/// `--set-input-features` to `--split test` on a corpus whose test clips are features.
fn expand(args: &[&str], data: &Path, run: &Path, work: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        match *a {
            "--tiny" => out.extend(TINY.iter().map(|s| s.to_string())),
            "--set-input-features" => {
                // The saved model reads pose; its train.json is switched to features so the
                // corpus is read as 5-wide clips.
                let train = run.join("model/train.json");
                let mut v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&train).unwrap()).unwrap();
                v["data"]["input"] = "Features".into();
                std::fs::write(&train, v.to_string()).unwrap();
                out.extend(["--split".to_string(), "test".to_string()]);
            }
            a => out.push(
                a.replace("{data}", &s(data))
                    .replace("{run}", &s(run))
                    .replace("{work}", &s(work)),
            ),
        }
    }
    if out.first().is_some_and(|c| c == "train") && !args.contains(&"--tiny") {
        out.extend(TINY.iter().map(|s| s.to_string()));
    }
    out
}

#[test]
fn every_bad_input_is_one_error_line_and_the_controls_run() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let (code, _, err) = san(&[
        "synth".into(),
        "--out".into(),
        s(&base),
        "--train".into(),
        "24".into(),
        "--dev".into(),
        "8".into(),
        "--test".into(),
        "8".into(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    // Clip features beside the poses: each clip's pose features as a `.npy`.
    let corpus = san_data::corpus::Corpus::load(&base).unwrap();
    for (split, samples) in [
        ("train", &corpus.train),
        ("dev", &corpus.dev),
        ("test", &corpus.test),
    ] {
        let d = base.join("features").join(split);
        std::fs::create_dir_all(&d).unwrap();
        for x in samples.iter() {
            let f = &x.features;
            npy(
                &d.join(format!("{}.npy", x.name)),
                &f.values,
                &[f.frames as u64, f.dim as u64],
            );
        }
    }
    // One trained run for the commands that read a model.
    let base_run = dir.path().join("base_run");
    let mut train: Vec<String> = ["train", "--data", &s(&base), "--out", &s(&base_run)]
        .iter()
        .map(|a| a.to_string())
        .collect();
    train.extend(TINY.iter().map(|a| a.to_string()));
    let (code, _, err) = san(&train);
    assert_eq!(code, Some(0), "{err}");

    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let work = dir.path().join(format!("case{i}"));
        let (data, run) = (work.join("data"), work.join("run"));
        copy_dir(&base, &data);
        copy_dir(&base_run, &run);
        (case.mutate)(
            &data,
            if case.args.iter().any(|a| a.contains("{run}")) {
                &run
            } else {
                &work
            },
        );
        let args = expand(case.args, &data, &run, &work);
        let (code, _, stderr) = san(&args);
        let lines: Vec<&str> = stderr.lines().collect();
        let line = lines.first().copied().unwrap_or("");
        println!("{:>2}. {}: {line}", i + 1, case.label);
        let ok = code == Some(1)
            && lines.len() == 1
            && line.starts_with("error: ")
            && !stderr.contains("panicked")
            && case.expect.iter().all(|e| line.contains(e));
        if !ok {
            failures.push(format!("{}: exit {code:?}, stderr {stderr:?}", case.label));
        }
        std::fs::remove_dir_all(&work).ok();
    }

    // Controls: a CRLF CSV, a CSV with its header row, and the untouched corpus train.
    type Control = (&'static str, fn(&Path));
    let controls: [Control; 3] = [
        ("CRLF CSV", |d| {
            edit_csv(d, "train", |l| l.into_iter().map(|x| x + "\r").collect())
        }),
        ("CSV with a header row", |d| {
            edit_csv(d, "dev", |l| {
                let mut out = vec![san_data::phoenix::HEADER.to_string()];
                out.extend(l.into_iter().filter(|x| !x.starts_with("name|")));
                out
            })
        }),
        ("untouched corpus", |_| {}),
    ];
    for (label, mutate) in controls {
        let work = dir.path().join("control");
        let data = work.join("data");
        copy_dir(&base, &data);
        mutate(&data);
        let args = expand(TRAIN, &data, &work, &work);
        let (code, _, stderr) = san(&args);
        println!("control {label}: exit {code:?}");
        if code != Some(0) {
            failures.push(format!("control {label}: exit {code:?}, stderr {stderr:?}"));
        }
        std::fs::remove_dir_all(&work).ok();
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
