//! Ctrl-C / SIGTERM: remove every live node this process created, then
//! exit. The logic lives in the library (`harness::gc`) so custom test
//! harnesses can install the same handler.

/// Marks whether an interactive child currently owns the terminal.
pub fn set_interactive(on: bool) {
    harness::gc::set_interactive(on);
}

/// Installs the handler (idempotent).
pub fn install() {
    harness::gc::install_signal_cleanup();
}
