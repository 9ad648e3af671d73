//! QEMU virtual machines as nodes: the disk image (`disk`), the qemu
//! process (`qemu`), the accelerator choice (`accel`), the guest agent that
//! controls the guest (`qga`). `repro vm-exec`, the doctor's transport
//! through the agent, is a subcommand of the CLI (`cmd/vm_exec.rs`).

pub mod accel;
pub mod disk;
pub mod qemu;
pub mod qga;
