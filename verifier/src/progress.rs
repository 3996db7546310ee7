//! The progress bar of long runs: drawn on stderr only when stderr is a terminal (indicatif
//! hides it otherwise), and only for inputs large enough to take a noticeable time.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Below this many bytes a run is too short for a bar to help.
const MIN_BYTES: u64 = 32 * 1024 * 1024;

/// A bar over `total` bytes, labelled `what`; hidden when stderr is not a terminal.
pub fn bytes(total: u64, what: &str) -> ProgressBar {
    if total < MIN_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}
