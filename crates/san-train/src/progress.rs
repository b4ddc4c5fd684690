//! Progress bars: one per epoch, with the running loss and the time left, on stderr. They
//! draw only when stderr is a terminal, so logs and CI output stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress bar of a stage's epochs (hidden when not wanted or not a terminal).
#[derive(Debug, Clone)]
pub struct EpochProgress {
    bar: ProgressBar,
}

impl EpochProgress {
    /// Draws on stderr when it is a terminal.
    pub fn stderr() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} batches, loss {msg}, {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar }
    }

    /// Draws nothing.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Names the epoch.
    pub fn set_epoch(&self, stage: u8, epoch: usize, epochs: usize) {
        self.bar
            .set_prefix(format!("stage {stage} epoch {epoch}/{epochs}"));
    }

    /// Starts an epoch of `batches` steps.
    pub fn start(&self, batches: usize) {
        self.bar.reset();
        self.bar.set_length(batches as u64);
        self.bar.set_position(0);
        self.bar.set_message("-");
    }

    /// One step done with this loss.
    pub fn step(&self, loss: f64) {
        self.bar.set_message(format!("{loss:.4}"));
        self.bar.inc(1);
    }

    /// The epoch is done: the bar is cleared (the caller prints the epoch's line).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_counts_without_drawing() {
        let p = EpochProgress::hidden();
        assert!(!p.is_visible());
        p.set_epoch(1, 1, 2);
        p.start(3);
        p.step(0.5);
        p.step(0.25);
        assert_eq!(p.bar.position(), 2);
        p.finish();
    }
}
