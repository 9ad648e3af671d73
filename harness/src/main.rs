//! `repro`: reproduce Docker-host networking incidents on disposable nodes.
//!
//! Each subcommand lives in its own module under `cmd/`; add one by adding
//! a variant to [`Command`] and an arm to `dispatch`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "repro", version, about = "Reproduce Docker-host networking incidents on disposable nodes")]
struct Cli {
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenarios with the platforms and backends they run on.
    List(cmd::list::ListArgs),
    /// Run a scenario end to end: create, prepare, fault, symptom, diagnose, remediate, verify.
    Run(cmd::run::RunArgs),
    /// From a customer's bundle (or saved facts) to a node in the same state,
    /// the doctor's findings compared, and scenarios/NAME.toml to keep.
    Replay(cmd::replay::ReplayArgs),
    /// Build or inspect node images (offline, from images/<platform>/).
    #[command(subcommand)]
    Images(cmd::images::ImagesCommand),
    /// Start a node and open an interactive shell in it.
    Shell(cmd::shell::ShellArgs),
    /// Remove labelled containers, volumes, networks and qemu processes left by killed runs.
    Gc(cmd::gc::GcArgs),
    /// Measure image builds and node start-up; prints `name: median=… min=… max=… n=…`.
    Bench(cmd::bench::BenchArgs),
    /// Run a script read from stdin inside a VM node through its guest agent
    /// (the transport of `netdoctor --target cmd:...`); exits with the script's code.
    #[command(name = "vm-exec")]
    VmExec {
        /// The VM's guest agent socket (printed by the VM node's doctor target).
        #[arg(long)]
        qga: std::path::PathBuf,
        /// Seconds the script may run in the guest.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::List(a) => cmd::list::run(a).await,
        Command::Run(a) => cmd::run::run(a).await,
        Command::Replay(a) => cmd::replay::run(a).await,
        Command::Images(c) => cmd::images::run(c).await,
        Command::Shell(a) => cmd::shell::run(a).await,
        Command::Gc(a) => cmd::gc::run(a).await,
        Command::Bench(a) => cmd::bench::run(a).await,
        Command::VmExec { qga, timeout } => std::process::exit(cmd::vm_exec::main(&qga, timeout)),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::init_tracing(cli.verbose);
    harness::progress::listen(cmd::draw::progress);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("repro: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        cmd::signals::install();
        dispatch(cli.command).await
    });
    // Interrupted: the signal thread is removing this run's nodes and then
    // exits with 130/143; what failed meanwhile is the cleanup's doing.
    while harness::interrupt::interrupted() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("repro: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
