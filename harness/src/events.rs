//! The runner never prints: it emits [`Event`]s to the listener its caller
//! passes. The `repro` CLI draws them (a spinner while a step runs), tests
//! ignore or collect them, a transcript or JUnit writer is one more
//! listener. Waits below the runner (image builds, VM boots) report through
//! [`crate::progress`].

use crate::scenario::Stage;
use std::time::Duration;

/// Something the runner did.
#[derive(Debug, Clone)]
pub enum Event {
    /// A node is being created (image built on first use, then started).
    NodeStarting {
        /// e.g. `debian12 container`.
        what: String,
    },
    /// The node answered its readiness gate.
    NodeReady {
        /// The node's name.
        name: String,
        /// From create to ready.
        elapsed: Duration,
    },
    /// A stage begins.
    StageStarted(Stage),
    /// A step began (what it does, as the scenario file says).
    StepStarted {
        /// Its stage.
        stage: Stage,
        /// 1-based position in the stage.
        index: usize,
        /// What it does.
        step: String,
    },
    /// A step ended.
    StepFinished {
        /// Its stage.
        stage: Stage,
        /// 1-based index within the stage.
        index: usize,
        /// What it did.
        step: String,
        /// What happened (`exit 0`, `HTTP 200`, ...).
        result: String,
        /// Whether it met its expectation.
        passed: bool,
        /// How long it took.
        elapsed: Duration,
    },
    /// A stage ended (all steps passed).
    StageFinished {
        /// Which stage.
        stage: Stage,
        /// How long it took.
        elapsed: Duration,
    },
    /// The node is kept for inspection.
    NodeKept {
        /// How to reach and remove it.
        how: String,
    },
}
