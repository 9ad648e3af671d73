//! The runner never prints: it emits [`Event`]s. The `repro` CLI draws
//! progress from them; tests ignore them or log them.

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
