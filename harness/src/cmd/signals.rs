//! Ctrl-C / SIGTERM: remove every live node this process created, then exit.

use std::sync::atomic::{AtomicBool, Ordering};

/// While true (an interactive shell owns the terminal), Ctrl-C belongs to
/// the shell: the terminal sends SIGINT to us too, and we ignore it.
static INTERACTIVE: AtomicBool = AtomicBool::new(false);

/// Marks whether an interactive child currently owns the terminal.
pub fn set_interactive(on: bool) {
    INTERACTIVE.store(on, Ordering::SeqCst);
}

/// Spawns the handler task on the current runtime.
pub fn install() {
    tokio::spawn(async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                return;
            }
        };
        let code = loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() { return; }
                    if INTERACTIVE.load(Ordering::SeqCst) { continue; }
                    break 130;
                }
                _ = term.recv() => break 143,
            }
        };
        eprintln!("repro: interrupted; removing this run's nodes");
        // Blocking on purpose: nothing else should run while we clean up.
        tokio::task::block_in_place(harness::gc::remove_live_blocking);
        std::process::exit(code);
    });
}
