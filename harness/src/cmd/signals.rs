//! Ctrl-C / SIGTERM: the library removes every live node this process
//! created ([`harness::interrupt`]); this reports it and exits.

/// Marks whether an interactive child currently owns the terminal.
pub fn set_interactive(on: bool) {
    harness::interrupt::set_interactive(on);
}

/// Installs the handler (idempotent).
pub fn install() {
    if let Err(e) = harness::interrupt::watch(exit) {
        eprintln!("repro: {e:#}");
    }
}

fn exit(i: harness::interrupt::Interrupted) {
    match i.cleanup {
        Ok(()) => eprintln!("repro: interrupted; this run's nodes are removed"),
        Err(e) => eprintln!("repro: interrupted; cleanup incomplete ({e}); run `repro gc`"),
    }
    std::process::exit(i.code);
}
