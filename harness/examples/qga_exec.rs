//! Runs a shell command in a VM through its guest agent socket (dev aid).
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let t = std::time::Instant::now();
    let mut q = harness::vm::qga::Qga::connect(std::path::Path::new(&args[1]), std::time::Duration::from_secs(120))?;
    eprintln!("connected+synced in {:?}", t.elapsed());
    let out = q.exec(&["/bin/sh", "-c", &args[2]], None, std::time::Duration::from_secs(600))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("exit {} after {:?}", out.exit_code, t.elapsed());
    Ok(())
}
