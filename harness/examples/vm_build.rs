//! Builds (or finds cached) the VM disk of a recipe (dev aid).
fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let name = std::env::args().nth(1).unwrap_or_else(|| "debian12".into());
    let recipe = harness::images::Recipe::load(harness::platform::Platform::parse(&name).unwrap())?;
    let r = harness::vm::disk::ensure(&recipe, std::env::args().any(|a| a == "--force"))?;
    println!("{} cached={} in {:.1}s {:?}", r.image.dir.display(), r.cached, r.duration.as_secs_f64(), r.image.meta.kernel_packages);
    Ok(())
}
