//! Draws the library's events and progress on the terminal: a spinner on
//! every wait (image builds, node start, each step), replaced by one line
//! when it ends. indicatif hides the spinner when stderr is not a terminal;
//! the lines are printed either way.

use harness::events::Event;
use harness::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::time::Duration;

static SPINNER: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Shows `msg` with a spinner until [`line`] or the next [`wait`].
pub fn wait(msg: String) {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(120));
    if let Some(old) = SPINNER.lock().unwrap_or_else(|e| e.into_inner()).replace(pb) {
        old.finish_and_clear();
    }
}

/// Ends the current spinner (if any) and prints `text` on stderr.
pub fn line(text: String) {
    if let Some(pb) = SPINNER.lock().unwrap_or_else(|e| e.into_inner()).take() {
        pb.finish_and_clear();
    }
    eprintln!("{text}");
}

/// The `repro run` listener.
pub fn event(e: &Event) {
    match e {
        Event::NodeStarting { what } => wait(format!("creating {what} node (building its image on first use)")),
        Event::NodeReady { name, elapsed } => line(format!("  node {name} ready in {} ms", elapsed.as_millis())),
        Event::StageStarted(s) => line(format!("  ── {s}")),
        Event::StepStarted { index, step, .. } => wait(format!("  {index}. {step}")),
        Event::StepFinished { index, step, result, passed, elapsed, .. } => {
            let mark = if *passed { "✓" } else { "✗" };
            line(format!("    {mark} {index}. {step} → {result} ({} ms)", elapsed.as_millis()));
        }
        Event::StageFinished { stage, elapsed } => line(format!("     {stage} done in {} ms", elapsed.as_millis())),
        Event::NodeKept { how } => line(format!("  node kept: {how}")),
    }
}

/// The listener for [`harness::progress`]: builds and boots.
pub fn progress(p: &Progress) {
    match p {
        Progress::Build { image, what } => wait(format!("building {image}: {what}")),
        Progress::Built { image, secs } => line(format!("  built {image} in {secs} s")),
        Progress::Boot { node, what } => wait(format!("VM {node}: {what}")),
    }
}
