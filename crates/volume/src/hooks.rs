//! `[hooks]` commands run around a backup (seed 001 stops services while it copies):
//! each command runs through `sh -c` in its own process group with a timeout; on
//! timeout the whole group is killed. Output is captured so a failing hook can be shown.
//! A hook sees only the environment [`crate::child_env`] builds for it: none of
//! holdfast's own secrets.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child_env::ChildEnv;

/// The default time one hook command may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A hook command that did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// It could not be started.
    #[error("hook `{command}` could not start: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It exited non-zero or was killed by a signal.
    #[error("hook `{command}` failed ({status}){}", show_output(.output))]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// Its stdout and stderr, interleaved as far as pipes allow.
        output: String,
    },
    /// It ran past its timeout and was killed.
    #[error("hook `{command}` timed out after {} s and was killed{}", .timeout.as_secs(), show_output(.output))]
    TimedOut {
        /// The command line.
        command: String,
        /// The limit.
        timeout: Duration,
        /// What it printed before.
        output: String,
    },
}

fn show_output(output: &str) -> String {
    let t = output.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(":\n{t}")
    }
}

/// Runs each command in order with environment `env`, stopping at the first failure.
/// Returns each command's output on success.
pub fn run_all(
    commands: &[String],
    timeout: Duration,
    env: &ChildEnv,
) -> Result<Vec<String>, HookError> {
    commands.iter().map(|c| run_one(c, timeout, env)).collect()
}

/// Runs one command through `sh -c` with a timeout and environment `env`.
pub fn run_one(command: &str, timeout: Duration, env: &ChildEnv) -> Result<String, HookError> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("sh");
    env.apply(&mut cmd);
    let mut child = cmd
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| HookError::Spawn {
            command: command.to_string(),
            source,
        })?;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let mut wait = Duration::from_millis(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(HookError::Spawn {
                    command: command.to_string(),
                    source,
                });
            }
        }
    };
    if status.is_none() {
        let pgid = rustix::process::Pid::from_raw(child.id() as i32);
        if let Some(pgid) = pgid {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = child.wait();
    }
    let output: String = readers
        .into_iter()
        .map(|h| String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned())
        .collect::<Vec<_>>()
        .join("");
    match status {
        None => Err(HookError::TimedOut {
            command: command.to_string(),
            timeout,
            output,
        }),
        Some(s) if s.success() => Ok(output),
        Some(s) => Err(HookError::Failed {
            command: command.to_string(),
            status: s.to_string(),
            output,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_failure_and_timeout() {
        let env = ChildEnv::new(crate::child_env::ChildKind::Hook, &[]);
        let ok = run_all(
            &["echo one".into(), "echo two >&2".into()],
            DEFAULT_TIMEOUT,
            &env,
        )
        .expect("hooks");
        assert_eq!(ok, ["one\n", "two\n"]);
        let e = run_all(
            &["echo stopping; exit 4".into(), "echo never".into()],
            DEFAULT_TIMEOUT,
            &env,
        )
        .expect_err("fails");
        let msg = e.to_string();
        assert!(
            msg.contains("exit status: 4") && msg.contains("stopping"),
            "{msg}"
        );
        let e = run_one(
            "echo started; exec sleep 30",
            Duration::from_millis(200),
            &env,
        )
        .expect_err("times out");
        assert!(matches!(e, HookError::TimedOut { .. }), "{e}");
        assert!(e.to_string().contains("started"), "{e}");
    }
}
