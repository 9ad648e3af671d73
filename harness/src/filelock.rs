//! Exclusive file locks with a deadline, for the image and VM-disk build
//! caches and the per-VM guest agent socket. `std::fs::File::try_lock`
//! (flock(2), stable since Rust 1.89) does the locking, so no `unsafe` and
//! no crate; the kernel releases a lock when its holder dies, so a killed
//! build never blocks the next one.

use anyhow::{Context, Result, bail};
use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Takes the exclusive lock on `path` (created if missing), polling until
/// `wait` has passed; `what` says in the error who is likely holding it.
pub fn lock(path: &Path, wait: Duration, what: &str) -> Result<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(TryLockError::WouldBlock) => {
                bail!("{} is still locked after {} s: {what}", path.display(), wait.as_secs())
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_times_out_naming_its_holder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let held = lock(&p, Duration::from_secs(1), "first").unwrap();
        let t = Instant::now();
        let e = format!("{:#}", lock(&p, Duration::from_millis(200), "another build of the same image?").unwrap_err());
        assert!(e.contains("another build") && t.elapsed() < Duration::from_secs(2), "{e}");
        drop(held);
        lock(&p, Duration::from_millis(200), "x").unwrap();
    }
}
