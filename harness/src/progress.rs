//! Progress of long waits deep in the engine and node layers (image and VM
//! disk builds, VM boots) that have no run to report to. The program picks
//! who hears it ([`listen`]: the `repro` CLI draws a spinner, a test prints
//! a line); without a listener it goes to `tracing`. The library itself
//! never writes to the terminal.

use std::sync::OnceLock;

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A node image or VM disk is being built (`what`: the milestone).
    Build {
        /// Image tag or disk name.
        image: String,
        /// What is happening, e.g. `mmdebstrap (cold build, minutes)`.
        what: String,
    },
    /// A build finished.
    Built {
        /// Image tag or disk name.
        image: String,
        /// Seconds it took.
        secs: u64,
    },
    /// A VM node is booting (`what`: the milestone).
    Boot {
        /// Node name.
        node: String,
        /// What is happening, e.g. `kernel 6.1.0-56-amd64`.
        what: String,
    },
}

static LISTENER: OnceLock<fn(&Progress)> = OnceLock::new();

/// Sends progress to `f` from now on (first call wins).
pub fn listen(f: fn(&Progress)) {
    let _ = LISTENER.set(f);
}

/// Reports `p` to the listener, else to `tracing`.
pub fn report(p: Progress) {
    match LISTENER.get() {
        Some(f) => f(&p),
        None => match &p {
            Progress::Build { image, what } => tracing::info!("building {image}: {what}"),
            Progress::Built { image, secs } => tracing::info!("built {image} in {secs} s"),
            Progress::Boot { node, what } => tracing::info!("VM {node}: {what}"),
        },
    }
}
