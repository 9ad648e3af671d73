//! The reproducer: declarative scenarios start Debian 12 and CentOS 7 nodes
//! (containers running systemd + dockerd, or QEMU VMs), put them into a
//! Docker networking incident on purpose, run the doctor, remediate, verify,
//! and return an [`outcome::Outcome`] that tests snapshot.
#![deny(missing_docs)]

pub mod platform;
pub mod config;
pub mod recipe;
pub mod filelock;
pub mod progress;
pub mod apt_sources;
pub mod matrix;
pub mod node;
pub mod docker;
pub mod images;
pub mod centos;
pub mod gc;
pub mod interrupt;
pub mod bench;
pub mod http_probe;
pub mod udp_probe;
pub mod scenario;
pub mod runner;
pub mod admin_rules;
pub mod outcome;
pub mod events;
pub mod doctor_cli;
pub mod redact;
pub mod vm;
pub mod logged;
pub mod replay;
