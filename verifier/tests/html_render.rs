//! The `replay --html` page rendered by a real browser (headless Chromium, Debian's
//! `chromium`): the page loads with no network, its script runs (it fills in the step count),
//! and a screenshot is taken. `AUDITGATE_UPDATE_SCREENSHOT=1` also writes it to
//! `docs/replay-report.png` (the README's picture).
//!
//! Skipped, saying so, when no Chromium is installed — unless `AUDITGATE_REQUIRE_CHROMIUM` is
//! set, in which case a missing browser fails the test.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{pubkey, run_in, text};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AUDITGATE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

fn browser(bin: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn replay_page_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var_os("AUDITGATE_REQUIRE_CHROMIUM").is_none(),
            "AUDITGATE_REQUIRE_CHROMIUM is set but no chromium is installed (apt-get install chromium)"
        );
        eprintln!(
            "SKIPPED replay_page_renders_in_headless_chromium: no chromium on PATH \
             (apt-get install chromium, or set AUDITGATE_CHROMIUM)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    support::standard_ledger(&dir.path().join("ledger"));
    let html = dir.path().join("replay.html");
    let o = run_in(
        dir.path(),
        &[
            "replay",
            "ledger",
            "--session",
            "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
            "--pubkey",
            &pubkey(),
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("profile");

    // The DOM after scripts ran: the filter script fills in the count of shown steps.
    let dom = browser(&bin, &profile, &["--dump-dom", &url]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let counted = dom_text
        .split("<span id=\"shown\" class=\"reason\">")
        .nth(1)
        .and_then(|rest| rest.split(" steps shown").next())
        .and_then(|c| c.split_once(" of "))
        .is_some_and(|(a, b)| a == b && a.parse::<u32>().is_ok_and(|n| n > 5));
    assert!(
        counted,
        "the page's script did not run: {}",
        String::from_utf8_lossy(&dom.stderr)
    );

    let png = dir.path().join("replay.png");
    let shot = browser(
        &bin,
        &profile,
        &[
            "--window-size=1280,1500",
            &format!("--screenshot={}", png.display()),
            &url,
        ],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|_| {
        panic!(
            "no screenshot written: {}",
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // A blank page compresses to a few KiB; the rendered timeline is far larger.
    assert!(
        bytes.len() > 50_000,
        "screenshot suspiciously small: {} bytes",
        bytes.len()
    );
    if std::env::var_os("AUDITGATE_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/replay-report.png");
        std::fs::write(docs, &bytes).unwrap();
    }
}
