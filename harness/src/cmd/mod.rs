//! The `repro` subcommands, one module each, plus what they share.

pub mod bench;
pub mod draw;
pub mod gc;
pub mod images;
pub mod list;
pub mod replay;
pub mod run;
pub mod shell;
pub mod signals;
pub mod vm_exec;

use anyhow::{Result, anyhow};
use harness::platform::Platform;

/// Logs to stderr; `-v` shows debug, `-vv` trace; RUST_LOG overrides.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
}

/// Parses a platform name given on the command line.
pub fn parse_platform(s: &str) -> Result<Platform> {
    Platform::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
        anyhow!("unknown platform {s:?}; expected one of: {}", names.join(", "))
    })
}

/// The workspace (scenarios/, target/ live there); see [`harness::config`].
pub fn workspace_dir() -> std::path::PathBuf {
    harness::config::workspace_dir().unwrap_or_else(|| std::path::PathBuf::from("."))
}
