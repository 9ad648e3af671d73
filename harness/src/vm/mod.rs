//! QEMU virtual machines as nodes: the disk image (`disk`), the qemu
//! process (`qemu`), the accelerator choice (`accel`), the guest agent that
//! controls the guest (`qga`), and `repro vm-exec` (`exec_cli`).

pub mod accel;
pub mod bench;
pub mod disk;
pub mod exec_cli;
pub mod qemu;
pub mod qga;
