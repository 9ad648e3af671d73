//! An example crate using the harness as a library: see `tests/port.rs`.
