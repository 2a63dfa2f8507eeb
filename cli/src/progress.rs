//! The progress line of the commands that scan the table (`reseal`, `keys check`, `migrate
//! keys`): a Scan's size is unknown up front, so a spinner with the counts so far, on stderr.

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner showing items scanned and elapsed time (hidden with `--quiet`); the command sets
/// its own counts as the message.
pub fn table_scan(quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} items scanned, {elapsed} {msg}")
            .expect("valid template"),
    );
    bar
}
