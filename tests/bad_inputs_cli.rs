//! A bad-input corpus through the `san` binary: malformed and mismatched files swapped
//! into a small corpus in the PHOENIX-2014-T layout, one at a time, and run through every
//! command. Each case must exit with code 1 and exactly one `error:` line naming the file
//! (or key) and the problem; the valid controls must exit 0. Run with `--nocapture` to
//! see every case's error line.

use std::path::Path;
use std::process::Command;

mod cases;

use cases::{TRAIN, cases, edit_csv, npy};

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

/// `args` with the placeholders filled; `--tiny` expands to the tiny settings and
/// `--set-input-features` to `--split test` on a corpus whose test clips are features.
fn expand(args: &[&str], data: &Path, run: &Path, work: &Path) -> Vec<String> {
    let fill = |a: &str| {
        a.replace("{data}", &s(data))
            .replace("{run}", &s(run))
            .replace("{work}", &s(work))
    };
    let mut out = Vec::new();
    for a in args {
        match *a {
            "--tiny" => out.extend(TINY.iter().map(|s| s.to_string())),
            "{train}" => out.extend(TRAIN.iter().map(|a| fill(a))),
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
            a => out.push(fill(a)),
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
