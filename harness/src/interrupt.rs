//! Ctrl-C and SIGTERM: remove every live node this process created
//! ([`crate::gc::remove_live_blocking`]), then hand over to the program,
//! which reports and exits (the library never prints or exits). While an
//! interactive child owns the terminal, SIGINT is that child's.

use std::sync::atomic::{AtomicBool, Ordering};

/// While true, SIGINT belongs to an interactive child (the terminal sends
/// it to the whole foreground group); SIGTERM still cleans up.
static INTERACTIVE: AtomicBool = AtomicBool::new(false);

/// Marks whether an interactive child owns the terminal.
pub fn set_interactive(on: bool) {
    INTERACTIVE.store(on, Ordering::SeqCst);
}

/// Set when a signal arrived: the cleanup is under way or done, and the
/// program's handler is about to exit.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once SIGINT/SIGTERM arrived. A program whose work fails because
/// the cleanup removed its node should not exit first (its own exit code
/// would win and the cleanup could be cut short): it waits for the handler.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What a signal did, for the program's handler.
#[derive(Debug)]
pub struct Interrupted {
    /// The exit code a shell expects: 130 (SIGINT) or 143 (SIGTERM).
    pub code: i32,
    /// Whether the cleanup removed everything (else what was left).
    pub cleanup: Result<(), String>,
}

/// Watches SIGINT and SIGTERM on a thread of its own (whatever the
/// caller's runtime is); on one, cleans up, then calls `then`, which
/// should exit the process. Idempotent: the first call's `then` stays.
pub fn watch(then: fn(Interrupted)) -> anyhow::Result<()> {
    static ONCE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("repro-signals".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return drop(tx.send(Err(format!("no runtime for the signal thread: {e}")))),
                };
                rt.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                        (Ok(i), Ok(t)) => (i, t),
                        _ => return drop(tx.send(Err("cannot watch SIGINT/SIGTERM".into()))),
                    };
                    let _ = tx.send(Ok(()));
                    let code = loop {
                        tokio::select! {
                            _ = int.recv() => {
                                if INTERACTIVE.load(Ordering::SeqCst) { continue; }
                                break 130;
                            }
                            _ = term.recv() => break 143,
                        }
                    };
                    INTERRUPTED.store(true, Ordering::SeqCst);
                    let cleanup = crate::gc::remove_live_blocking().map_err(|e| format!("{e:#}"));
                    then(Interrupted { code, cleanup });
                });
            })
            .map_err(|e| format!("cannot start the signal thread: {e}"))?;
        rx.recv().unwrap_or_else(|_| Err("the signal thread ended at once".into()))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!("{e}; after an interrupt run `repro gc`"))
}
