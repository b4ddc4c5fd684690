//! The `san` binary, run as a user runs it: synth → train → (kill -9, resume) → eval →
//! table → finegrained → embed → search, and its error paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use san_train::checkpoint::read_metrics;
use san_train::report::RunReport;

const SAN: &str = env!("CARGO_BIN_EXE_san");

/// A small, fast training setting (about a second per run on 2 cores).
const SETS: &[&str] = &[
    "--set",
    "stage1.epochs=4",
    "--set",
    "stage2.epochs=3",
    "--set",
    "model.hidden=32",
    "--set",
    "model.dim=32",
    "--set",
    "data.batch_size=16",
];

fn san(args: &[&str]) -> Output {
    Command::new(SAN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{SAN}: {e}"))
}

pub(crate) fn ok(args: &[&str]) -> String {
    let out = san(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "san {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// Runs a command that must fail: exit code 1, one `error:` line on stderr, no panic.
pub(crate) fn fails(args: &[&str]) -> String {
    let out = san(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "san {args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked"),
        "san {args:?} panicked: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "san {args:?}: expected one line, got {stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{stderr}");
    stderr
}

pub(crate) fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn synth(dir: &Path) -> PathBuf {
    let corpus = dir.join("corpus");
    ok(&[
        "synth",
        "--out",
        p(&corpus),
        "--train",
        "80",
        "--dev",
        "24",
        "--test",
        "24",
    ]);
    corpus
}

fn train_args<'a>(corpus: &'a Path, out: &'a Path) -> Vec<&'a str> {
    let mut a = vec!["train", "--data", p(corpus), "--out", p(out)];
    a.extend_from_slice(SETS);
    a
}

/// report.json without wall times.
fn metrics_of(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let report: RunReport = serde_json::from_str(&text).expect("report.json parses");
    let mut v = serde_json::to_value(report).expect("serialises");
    for k in ["stage1", "stage2"] {
        v[k].as_object_mut().expect("stage").remove("seconds");
    }
    v.as_object_mut().expect("report").remove("table_seconds");
    v
}

#[test]
fn train_survives_kill_9_and_resumes_to_the_same_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = synth(dir.path());

    // Uninterrupted.
    let full = dir.path().join("full");
    let log = ok(&train_args(&corpus, &full));
    assert!(log.contains("FG-V2T R@1"), "{log}");
    for name in [
        "config.json",
        "metrics.jsonl",
        "report.json",
        "report.md",
        "report.html",
        "san_table.json",
        "fine_grained_test.json",
        "loss.png",
        "dev_r1.png",
        "coarse_vs_fine.png",
        "model/model.mpk",
        "model/config.json",
        "model/train.json",
        "model/vocab.json",
        "checkpoint/state.json",
        "checkpoint/model.mpk",
        "checkpoint/best.mpk",
        "checkpoint/optimizer.mpk",
    ] {
        assert!(full.join(name).is_file(), "{name} missing");
    }
    let history = read_metrics(&full.join("metrics.jsonl")).expect("metrics.jsonl parses");
    assert_eq!(history.len(), 4 + 3, "one line per epoch");
    assert_eq!(
        history
            .iter()
            .map(|r| (r.stage, r.epoch))
            .collect::<Vec<_>>(),
        vec![(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3)]
    );
    let md = std::fs::read_to_string(full.join("report.md")).expect("report.md");
    for part in [
        "## Metrics",
        "FG-V2T R@1",
        "## SAN table",
        "## Epochs",
        "loss.png",
        "## Config",
    ] {
        assert!(md.contains(part), "report.md lacks {part}");
    }
    for png in ["loss.png", "dev_r1.png", "coarse_vs_fine.png"] {
        let img = image::open(full.join(png)).expect("a PNG");
        assert_eq!((img.width(), img.height()), (800, 500));
    }

    // Killed mid-run (SIGKILL once three epochs are checkpointed), then resumed.
    let part = dir.path().join("part");
    let mut child = Command::new(SAN)
        .args(train_args(&corpus, &part))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let metrics = part.join("metrics.jsonl");
    loop {
        let lines = std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count());
        if lines >= 3 || started.elapsed() > Duration::from_secs(300) {
            break;
        }
        if child.try_wait().expect("wait").is_some() {
            panic!("the run ended before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().expect("reaped");
    let done = read_metrics(&metrics)
        .expect("metrics.jsonl after the kill")
        .len();
    assert!((3..7).contains(&done), "killed after {done} epochs");
    assert!(
        !part.join("report.json").exists(),
        "the kill came before the end"
    );

    // Without --resume, the checkpoint is not overwritten.
    let e = fails(&train_args(&corpus, &part));
    assert!(e.contains("--resume"), "{e}");

    let mut resume = train_args(&corpus, &part);
    resume.push("--resume");
    let log = ok(&resume);
    assert!(log.contains("resuming from"), "{log}");
    // At most the interrupted epoch is repeated: the resumed process trains exactly the
    // epochs that were not checkpointed.
    let trained = log.lines().filter(|l| l.starts_with("epoch ")).count();
    assert_eq!(trained, 7 - done, "{log}");
    assert_eq!(metrics_of(&part), metrics_of(&full));
    let (a, b) = (
        read_metrics(&full.join("metrics.jsonl")).expect("full"),
        read_metrics(&metrics).expect("resumed"),
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.stage, x.epoch, x.loss, &x.dev),
            (y.stage, y.epoch, y.loss, &y.dev)
        );
    }
    assert_eq!(a.len(), b.len());

    // The rest of the worked example on the trained model.
    let model = full.join("model");
    let out = ok(&[
        "eval",
        "--model",
        p(&model),
        "--data",
        p(&corpus),
        "--split",
        "test",
    ]);
    assert!(out.contains("T2V") && out.contains("FG-V2T"), "{out}");
    let shown = ok(&[
        "table",
        "show",
        p(&full.join("san_table.json")),
        "--top",
        "5",
    ]);
    assert!(shown.contains("links"), "{shown}");
    let table = dir.path().join("semantic.json");
    ok(&[
        "table",
        "build",
        "--kind",
        "semantic",
        "--data",
        p(&corpus),
        "--out",
        p(&table),
    ]);
    assert!(san_data::tables::read_table(&table).is_ok());
    let bench = dir.path().join("fg.json");
    ok(&[
        "finegrained",
        "--data",
        p(&corpus),
        "--split",
        "test",
        "--table",
        p(&table),
        "--out",
        p(&bench),
    ]);
    let b = san_data::tables::read_benchmark(&bench).expect("benchmark");
    assert_eq!(b.items.len(), 24);
    let index = dir.path().join("test.safetensors");
    ok(&[
        "embed",
        "--model",
        p(&model),
        "--data",
        p(&corpus),
        "--split",
        "test",
        "--out",
        p(&index),
    ]);
    let npy = dir.path().join("npy");
    ok(&[
        "embed",
        "--model",
        p(&model),
        "--data",
        p(&corpus),
        "--split",
        "test",
        "--format",
        "npy",
        "--out",
        p(&npy),
    ]);
    let names = std::fs::read_to_string(npy.join("names.txt")).expect("names.txt");
    assert_eq!(names.lines().count(), 24);
    let video = std::fs::read(npy.join("video.npy")).expect("video.npy");
    assert!(video.starts_with(b"\x93NUMPY"));
    let caption =
        std::fs::read_to_string(corpus.join("annotations/manual/PHOENIX-2014-T.test.corpus.csv"))
            .expect("csv")
            .lines()
            .filter_map(|l| l.split('|').nth(6).map(str::to_string))
            .find(|c| c != "translation")
            .expect("a caption");
    let found = ok(&[
        "search",
        "--model",
        p(&model),
        "--index",
        p(&index),
        "--query",
        &caption,
        "-k",
        "3",
    ]);
    let ranked: Vec<f64> = found
        .lines()
        .skip(1)
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("a score in {l:?}"))
        })
        .collect();
    assert_eq!(ranked.len(), 3, "{found}");
    assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{found}");

    // The pages, checked in a browser when one is installed.
    let page = dir.path().join("results.html");
    let shown = ok(&[
        "search",
        "--model",
        p(&model),
        "--index",
        p(&index),
        "--query",
        &caption,
        "-k",
        "10",
        "--html",
        p(&page),
        "--data",
        p(&corpus),
    ]);
    let html = std::fs::read_to_string(&page).expect("results.html");
    assert_eq!(
        html.matches("<img class=\"preview\"").count(),
        10,
        "a pose preview per card"
    );
    let listed_exact = shown
        .lines()
        .any(|l| l.ends_with(&format!("\"{caption}\"")));
    assert_eq!(
        html.contains("caption = query"),
        listed_exact,
        "the clip whose caption is the query is marked"
    );
    assert!(!html.contains("http://") && !html.contains("https://"));
    println!("results.html: {} KB for 10 results", html.len() / 1024);
    crate::browser::check_page(&page, "card", 10, "search");
    let report = std::fs::read_to_string(full.join("report.html")).expect("report.html");
    assert_eq!(
        report.matches("data:image/png;base64,").count(),
        3,
        "the plots inline"
    );
    crate::browser::check_page(&full.join("report.html"), "plot", 3, "report");
    // A query with markup in it is shown as text.
    let evil = dir.path().join("evil.html");
    ok(&[
        "search",
        "--model",
        p(&model),
        "--index",
        p(&index),
        "--query",
        "<script>alert(1)</script> regen",
        "-k",
        "2",
        "--html",
        p(&evil),
    ]);
    let html = std::fs::read_to_string(&evil).expect("evil.html");
    assert!(
        !html.contains("<script>") && html.contains("&lt;script&gt;"),
        "{html}"
    );
    crate::browser::check_page(&evil, "card", 2, "search-markup");
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    // `san synth … | head -0` and `san table show … | head -0`: the reader is gone before
    // the first line is written. The command must not panic (exit 101) or print to
    // stderr; it ends as other Unix tools do.
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth(dir.path());
    let table = dir.path().join("semantic.json");
    ok(&[
        "table",
        "build",
        "--kind",
        "semantic",
        "--data",
        p(&corpus),
        "--out",
        p(&table),
    ]);
    let again = dir.path().join("again");
    for args in [
        vec!["table", "show", p(&table), "--top", "5"],
        vec![
            "synth",
            "--out",
            p(&again),
            "--train",
            "8",
            "--dev",
            "2",
            "--test",
            "2",
        ],
    ] {
        let mut child = Command::new(SAN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "san {args:?} wrote to stderr: {stderr}");
        assert_ne!(out.status.code(), Some(101), "san {args:?} panicked");
    }
}

#[test]
fn errors_are_one_line_with_a_nonzero_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Missing data.
    let e = fails(&[
        "train",
        "--data",
        "/definitely/not/here",
        "--out",
        p(&d.join("o")),
    ]);
    assert!(e.contains("/definitely/not/here"), "{e}");
    // A bad config key, in a file and in --set.
    let cfg = d.join("bad.toml");
    std::fs::write(&cfg, "[stage1]\nepochs = 2\n[mining.table]\nbetta = 0.5\n").expect("write");
    let e = fails(&[
        "train",
        "--data",
        p(d),
        "--out",
        p(&d.join("o")),
        "--config",
        p(&cfg),
    ]);
    assert!(
        e.contains("bad.toml") && e.contains("mining.table.betta"),
        "{e}"
    );
    // A key of the flat layout names its new home.
    let e = fails(&[
        "train",
        "--data",
        p(d),
        "--out",
        p(&d.join("o")),
        "--set",
        "table.alpha=0.4",
    ]);
    assert!(e.contains("moved to mining.reliable.alpha"), "{e}");
    let e = fails(&[
        "train",
        "--data",
        p(d),
        "--out",
        p(&d.join("o")),
        "--set",
        "lr=1",
    ]);
    assert!(e.contains("\"lr\""), "{e}");
    let e = fails(&[
        "train",
        "--data",
        p(d),
        "--out",
        p(&d.join("o")),
        "--set",
        "seed",
    ]);
    assert!(e.contains("KEY=VALUE"), "{e}");
    std::fs::write(&cfg, "[stage1]\nepochs = [").expect("write");
    let e = fails(&[
        "train",
        "--data",
        p(d),
        "--out",
        p(&d.join("o")),
        "--config",
        p(&cfg),
    ]);
    assert!(e.contains("expected TOML"), "{e}");
    // An unreadable model folder: garbage weights, then a missing folder.
    let model = d.join("model");
    std::fs::create_dir_all(&model).expect("mkdir");
    std::fs::write(model.join("config.json"), "{not json").expect("write");
    std::fs::write(model.join("model.mpk"), b"\x00garbage").expect("write");
    let e = fails(&["eval", "--model", p(&model), "--data", p(d)]);
    assert!(e.contains("config.json"), "{e}");
    let e = fails(&["eval", "--model", p(&d.join("nope")), "--data", p(d)]);
    assert!(e.contains("nope"), "{e}");
    // An unreadable checkpoint.
    let out = d.join("run");
    std::fs::create_dir_all(out.join("checkpoint")).expect("mkdir");
    std::fs::write(out.join("checkpoint/state.json"), "{}").expect("write");
    std::fs::write(out.join("checkpoint/config.json"), "{}").expect("write");
    let corpus = synth(d);
    let mut resume = train_args(&corpus, &out);
    resume.push("--resume");
    let e = fails(&resume);
    assert!(e.contains("checkpoint"), "{e}");
    // Files that are not what they should be.
    let e = fails(&["table", "show", p(&cfg)]);
    assert!(e.contains("bad.toml"), "{e}");
    let e = fails(&[
        "search",
        "--model",
        p(&model),
        "--index",
        p(&cfg),
        "--query",
        "regen",
    ]);
    assert!(e.contains("config.json") || e.contains("bad.toml"), "{e}");
    let e = fails(&["finegrained", "--data", p(d), "--out", p(&d.join("f.json"))]);
    assert!(e.contains("corpus.csv") || e.contains("--table"), "{e}");
    let e = fails(&[
        "eval",
        "--model",
        p(&model),
        "--data",
        p(&corpus),
        "--split",
        "val",
    ]);
    assert!(e.contains("config.json") || e.contains("--split"), "{e}");
}

#[test]
fn help_texts_name_every_command() {
    let help = ok(&["--help"]);
    for cmd in [
        "synth",
        "train",
        "eval",
        "table",
        "finegrained",
        "search",
        "embed",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }
    let train = ok(&["train", "--help"]);
    for flag in [
        "--data", "--out", "--config", "--set", "--resume", "--device",
    ] {
        assert!(train.contains(flag), "train --help lacks {flag}");
    }
    assert!(ok(&["table", "--help"]).contains("build"));
    // The defaults `table build --help` states are the ones it uses: β without a model is
    // the library's (TrainConfig's) β; --model is required for the SAN table (the default
    // kind), which help says and a one-line error enforces.
    let build = ok(&["table", "build", "--help"]);
    let beta = san_train::config::TrainConfig::new().mining.table.beta;
    assert!(
        build.contains(&format!("or the library's {beta} without a")),
        "{build}"
    );
    assert!(build.contains("required with --kind san"), "{build}");
    let dir = tempfile::tempdir().unwrap();
    let corpus = synth(dir.path());
    let out = p(&dir.path().join("t.json")).to_string();
    let e = fails(&["table", "build", "--data", p(&corpus), "--out", &out]);
    assert!(e.contains("needs --model"), "{e}");
}

#[test]
fn peer_settings_that_cannot_work_are_one_line_errors() {
    // Several machines: refused with burn-collective 0.21.0's reason (README, "Several
    // devices"); a device named twice: refused. Both before any data is read.
    let e = fails(&[
        "train",
        "--data",
        "no-such-corpus",
        "--out",
        "no-such-out",
        "--nodes",
        "2",
        "--node-rank",
        "0",
        "--orchestrator",
        "ws://127.0.0.1:3000",
        "--node-address",
        "ws://127.0.0.1:3001",
    ]);
    assert!(e.contains("machines") && e.contains("sync.rs"), "{e}");
    let e = fails(&["train", "--data", "x", "--out", "y", "--devices", "0,0"]);
    assert!(e.contains("twice"), "{e}");
    let e = fails(&[
        "train",
        "--data",
        "x",
        "--out",
        "y",
        "--device",
        "cpu",
        "--devices",
        "cuda:0,cuda:1",
    ]);
    assert!(e.contains("cuda"), "{e}");
}
