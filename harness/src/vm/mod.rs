//! QEMU virtual machines as nodes: the disk image, the qemu process, and
//! the guest agent that controls the guest.

pub mod qga;
