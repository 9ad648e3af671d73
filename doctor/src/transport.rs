//! How a script reaches a target: a shell on this host, `docker exec`, ssh,
//! or any command that runs a shell script from its stdin (`cmd:`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where the doctor looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// This host: `sh -s`.
    Local,
    /// A container: `docker exec -i NAME sh -s`.
    Docker(String),
    /// A remote host: `ssh -o BatchMode=yes USER@HOST sh -s`.
    Ssh(String),
    /// Anything else: `sh -c COMMAND` with the script on its stdin.
    Cmd(String),
}

/// What a script printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether [`Transport::run_timeout`] killed it for taking too long.
    pub timed_out: bool,
}

/// A target string that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid --target {0:?}: use local, docker:CONTAINER, ssh:USER@HOST or cmd:COMMAND")]
pub struct BadTarget(String);

/// The transport itself failed (not the script).
#[derive(Debug, thiserror::Error)]
#[error("could not run the script on {target}: {source}; check that `{program}` is installed and the target is reachable")]
pub struct TransportError {
    target: String,
    program: String,
    #[source]
    source: std::io::Error,
}

impl FromStr for Transport {
    type Err = BadTarget;
    fn from_str(s: &str) -> Result<Self, BadTarget> {
        let nonempty = |v: &str| (!v.trim().is_empty()).then(|| v.to_string()).ok_or_else(|| BadTarget(s.into()));
        match s.split_once(':') {
            _ if s == "local" => Ok(Transport::Local),
            Some(("docker", v)) => nonempty(v).map(Transport::Docker),
            Some(("ssh", v)) => nonempty(v).map(Transport::Ssh),
            Some(("cmd", v)) => nonempty(v).map(Transport::Cmd),
            _ => Err(BadTarget(s.into())),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Local => write!(f, "local"),
            Transport::Docker(n) => write!(f, "docker:{n}"),
            Transport::Ssh(h) => write!(f, "ssh:{h}"),
            Transport::Cmd(c) => write!(f, "cmd:{c}"),
        }
    }
}

impl Transport {
    fn argv(&self) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Transport::Local => v(&["sh", "-s"]),
            Transport::Docker(n) => v(&["docker", "exec", "-i", n, "sh", "-s"]),
            Transport::Ssh(h) => v(&["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", h, "sh", "-s"]),
            Transport::Cmd(c) => v(&["sh", "-c", c]),
        }
    }

    /// Run `script` on the target (fed on stdin) and capture what it printed.
    /// A non-zero exit is returned in [`Output::code`], not as an error.
    pub fn run(&self, script: &str) -> Result<Output, TransportError> {
        let argv = self.argv();
        let start = std::time::Instant::now();
        let out = duct::cmd(&argv[0], &argv[1..])
            .stdin_bytes(script.as_bytes().to_vec())
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|source| TransportError { target: self.to_string(), program: argv[0].clone(), source })?;
        Ok(Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
            elapsed: start.elapsed(),
            timed_out: false,
        })
    }

    /// Like [`Transport::run`], but gives up after `limit`: the command is
    /// killed and the output has `timed_out` set and code 255 (a transport
    /// that does not answer in time is a failed transport).
    pub fn run_timeout(&self, script: &str, limit: Duration) -> Result<Output, TransportError> {
        let argv = self.argv();
        let start = std::time::Instant::now();
        let err = |source| TransportError { target: self.to_string(), program: argv[0].clone(), source };
        let handle = duct::cmd(&argv[0], &argv[1..])
            .stdin_bytes(script.as_bytes().to_vec())
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .start()
            .map_err(err)?;
        loop {
            if let Some(out) = handle.try_wait().map_err(err)? {
                return Ok(Output {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    code: out.status.code().unwrap_or(-1),
                    elapsed: start.elapsed(),
                    timed_out: false,
                });
            }
            if start.elapsed() >= limit {
                let _ = handle.kill();
                return Ok(Output {
                    stdout: String::new(),
                    stderr: format!("no answer within {:.1}s", limit.as_secs_f64()),
                    code: 255,
                    elapsed: start.elapsed(),
                    timed_out: true,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for t in ["local", "docker:n1", "ssh:root@10.0.0.2", "cmd:repro exec vm1 --stdin"] {
            assert_eq!(t.parse::<Transport>().unwrap().to_string(), t);
        }
        assert!("docker:".parse::<Transport>().is_err());
        assert!("vm1".parse::<Transport>().is_err());
    }

    #[test]
    fn cmd_transport_feeds_script_on_stdin() {
        let t: Transport = "cmd:sh -s".parse().unwrap();
        let o = t.run("echo hi; exit 3").unwrap();
        assert_eq!((o.stdout.as_str(), o.code), ("hi\n", 3));
    }

    #[test]
    fn a_transport_that_does_not_answer_in_time_is_a_failed_one() {
        let t: Transport = "cmd:sh -s".parse().unwrap();
        let o = t.run_timeout("sleep 5", Duration::from_millis(200)).unwrap();
        assert!(o.timed_out && o.code == 255, "{o:?}");
        assert!(o.elapsed < Duration::from_secs(3));
        let o = t.run_timeout("echo ok", Duration::from_secs(5)).unwrap();
        assert_eq!((o.stdout.as_str(), o.timed_out), ("ok\n", false));
    }
}
