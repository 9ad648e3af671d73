//! netdoctor: detects, explains and remediates Docker-host networking
//! incidents. Facts come from one batched probe run through a
//! [`transport::Transport`]; [`rules::analyse`] turns them into findings with
//! plans; [`fix::apply`] runs a plan and checks it worked.
#![deny(missing_docs)]

pub mod bundle;
pub mod collect;
pub mod explain;
pub mod facts;
pub mod finding;
pub mod fix;
pub mod report;
pub mod rules;
pub mod transport;

use facts::Facts;
use std::path::{Path, PathBuf};
use transport::Transport;

/// Everything that stops the doctor from running (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transport could not start.
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    /// The probe ran but its output is unusable.
    #[error("{target}: {source}{stderr}")]
    Collect {
        /// Target.
        target: String,
        /// What went wrong.
        source: collect::CollectError,
        /// The transport's stderr, when it said something.
        stderr: String,
    },
    /// A facts file that cannot be read or parsed.
    #[error("facts file {path}: {msg}")]
    FactsFile {
        /// The file.
        path: PathBuf,
        /// Line/column/field and what is wrong.
        msg: String,
    },
    /// Anything else, already worded for the user.
    #[error("{0}")]
    Other(String),
}

/// How long the whole probe may take through its transport: each command
/// in it is bounded (30 s), a dozen run one after another at worst; past
/// this the transport itself is hung (an ssh or `docker exec` that never
/// returns) and the doctor says so rather than wait forever.
pub const PROBE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// Run the probe on `t` and parse its output.
pub fn collect(t: &Transport) -> Result<Facts, Error> {
    let out = t.run_timeout(collect::PROBE_SCRIPT, PROBE_DEADLINE)?;
    if out.timed_out {
        return Err(Error::Other(format!(
            "the probe on {t} did not finish within {} s (killed): the transport or the host does not answer",
            PROBE_DEADLINE.as_secs()
        )));
    }
    collect::parse_probe(&out.stdout, &t.to_string()).map_err(|source| {
        let err = out.stderr.lines().take(3).collect::<Vec<_>>().join(" | ");
        Error::Collect {
            target: t.to_string(),
            source,
            stderr: if err.is_empty() { String::new() } else { format!(" (exit {}, stderr: {err})", out.code) },
        }
    })
}

/// Parse facts JSON; errors name line, column and the field path.
pub fn parse_facts(text: &str, path: &Path) -> Result<Facts, Error> {
    // A bundle (`collect --bundle`) carries the facts under `facts`.
    let unbundled;
    let text = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(mut o)) if o.contains_key("bundle") && o.contains_key("facts") => {
            unbundled = serde_json::to_string_pretty(&o.remove("facts").unwrap_or_default()).unwrap_or_default();
            unbundled.as_str()
        }
        _ => text,
    };
    let de = &mut serde_json::Deserializer::from_str(text);
    let facts: Facts = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let field = if field == "." { "(top level)".to_string() } else { format!("`{field}`") };
        // serde_json appends " at line L column C"; it is said once, up front.
        let text = inner.to_string();
        let what = text.rsplit_once(" at line ").map_or(text.as_str(), |(w, _)| w);
        Error::FactsFile {
            path: path.to_path_buf(),
            msg: format!(
                "line {}, column {}, field {field}: {what}; re-create it with `netdoctor collect > FILE`",
                inner.line(),
                inner.column()
            ),
        }
    })?;
    if facts.schema != facts::SCHEMA {
        return Err(Error::FactsFile {
            path: path.to_path_buf(),
            msg: format!("field `schema`: version {} not supported (this netdoctor reads {})", facts.schema, facts::SCHEMA),
        });
    }
    Ok(facts)
}

/// Read and parse a facts file written by `netdoctor collect`.
pub fn load_facts(path: &Path) -> Result<Facts, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::FactsFile { path: path.to_path_buf(), msg: format!("cannot read: {e}") })?;
    parse_facts(&text, path)
}
