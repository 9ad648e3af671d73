//! The connection to the host's Docker engine.
//!
//! We talk to the engine with bollard directly (not testcontainers): Debian
//! 12's Docker 20.10 speaks API 1.41, and testcontainers 0.28 hard-codes 1.53,
//! which that engine refuses. bollard negotiates the version down.

use anyhow::{Context, Result, anyhow};
use bollard::Docker;
use std::collections::HashMap;


/// The engine address in use: `$DOCKER_HOST`, or the default local socket.
pub fn engine_address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// Connects to the local engine and negotiates the API version.
///
/// Fails with a message naming the fix when no engine answers. Each tokio
/// runtime needs its own connection (the client's pool lives on the runtime
/// that made it), so callers connect where they run rather than sharing one.
pub async fn connect() -> Result<Docker> {
    let addr = engine_address();
    let hint = || {
        format!(
            "no Docker engine answers at {addr}: run `sudo ci/bootstrap` \
             (installs docker.io and starts dockerd)"
        )
    };
    let docker = Docker::connect_with_local_defaults().with_context(hint)?;
    let docker = tokio::time::timeout(std::time::Duration::from_secs(10), docker.negotiate_version())
        .await
        .map_err(|_| anyhow!("the engine did not answer within 10 s"))
        .with_context(hint)?
        .with_context(hint)?;
    Ok(docker)
}

/// The labels every resource we create carries: the managed-by label, the
/// creating process (so a sweep can tell its own from a neighbour's), and
/// `extra`.
pub fn labels(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut l = HashMap::new();
    l.insert(MANAGED_LABEL.0.to_string(), MANAGED_LABEL.1.to_string());
    l.insert(RUN_LABEL.to_string(), std::process::id().to_string());
    for (k, v) in extra {
        l.insert(k.to_string(), v.to_string());
    }
    l
}

/// The label every resource the harness creates carries, so `repro gc`
/// can find what a killed run left behind.
pub const MANAGED_LABEL: (&str, &str) = ("org.repro.managed-by", "repro");

/// Label holding the pid of the process that created a resource.
pub const RUN_LABEL: &str = "org.repro.run";

/// A list filter selecting everything carrying the managed-by label.
pub fn managed_filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{}={}", MANAGED_LABEL.0, MANAGED_LABEL.1)])])
}

/// True when a bollard error is the engine's "404 not found" (already gone).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// Runs `f` on a fresh current-thread runtime in a new OS thread and waits.
///
/// Cleanup from `Drop` and signal handlers must work when the caller's
/// runtime is shutting down, panicking, or absent; a private runtime with
/// its own engine connection works in all three.
pub fn block_on_private<F, T>(f: F) -> Result<T>
where
    F: FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send>> + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building a private tokio runtime for cleanup")?;
        rt.block_on(f())
    })
    .join()
    .map_err(|_| anyhow!("the cleanup thread panicked"))?
}
