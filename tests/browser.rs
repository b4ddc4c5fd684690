//! The HTML pages in a real browser: headless Chromium opens a page; the check fails on
//! any console message (the pages have no script, so any message is a failed load or a
//! parse complaint), counts the page's elements of a class, and saves a screenshot under
//! `target/browser/`. Without Chromium the check is skipped with the reason printed
//! (`.ci/run` installs Debian's `chromium` when it can).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The first Chromium on the PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// Opens `page` in headless Chromium: no console message, `count` elements whose first
/// class is `class`, and a screenshot `target/browser/<shot>.png`. Returns false
/// (after printing why) when no Chromium is installed.
pub(crate) fn check_page(page: &Path, class: &str, count: usize, shot: &str) -> bool {
    let Some(chrome) = chromium() else {
        println!(
            "browser check of {} skipped: no chromium on the PATH (apt-get install chromium)",
            page.display()
        );
        return false;
    };
    let page = page.canonicalize().expect("the page exists");
    let url = format!("file://{}", page.display());
    let profile = tempfile::tempdir().expect("a profile folder");
    let run = |extra: &[String]| {
        let out = Command::new(&chrome)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                // containers often have a small /dev/shm
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(
            out.status.success(),
            "chromium failed on {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let dom = run(&["--dump-dom".into()]);
    let stderr = String::from_utf8_lossy(&dom.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "{url}: console messages: {console:?}");
    let html = String::from_utf8_lossy(&dom.stdout);
    let found = html.matches(&format!("class=\"{class}\"")).count()
        + html.matches(&format!("class=\"{class} ")).count();
    assert_eq!(
        found, count,
        "{url}: {found} elements of class {class}, expected {count}"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&dir).expect("target/browser");
    let png = dir.join(format!("{shot}.png"));
    run(&[
        format!("--screenshot={}", png.display()),
        "--window-size=1280,900".into(),
        "--hide-scrollbars".into(),
    ]);
    let img = image::open(&png).expect("a screenshot");
    assert_eq!((img.width(), img.height()), (1280, 900));
    println!(
        "browser check of {url}: {found} × {class}, screenshot {}",
        png.display()
    );
    true
}
