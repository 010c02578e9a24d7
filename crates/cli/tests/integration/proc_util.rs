//! Real `holdfast` processes driven by the safety suites: trial counts, a fixed-seed
//! generator for random moments, and the wait for a process that a failpoint stopped
//! (`=stop`, SIGSTOP) or parked (`=park`, a line on stderr).

use std::io::BufRead;
use std::process::{Child, ChildStderr};
use std::time::Duration;

/// Trials of a suite: `HOLDFAST_TORTURE_TRIALS`, else `default`.
pub fn trials(default: usize) -> usize {
    std::env::var("HOLDFAST_TORTURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fixed-seed xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A duration drawn uniformly from `0..span`.
    pub fn within(&mut self, span: Duration) -> Duration {
        let nanos = span.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next() % nanos)
    }
}

/// Waits (bounded) until the process is stopped; panics if it exits first.
pub fn wait_stopped(child: &mut Child) {
    let stat = format!("/proc/{}/stat", child.id());
    for _ in 0..60_000 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the process exited before its failpoint: {status}");
        }
        let state = std::fs::read_to_string(&stat).unwrap_or_default();
        if let Some((_, rest)) = state.rsplit_once(") ")
            && rest.starts_with('T')
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the process never reached its failpoint");
}

/// Sends `sig` to the process.
pub fn signal(child: &Child, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, sig).expect("kill");
}

/// Reads stderr until the line that says the failpoint `step` parked the process;
/// returns what came before it. Panics if stderr ends first.
pub fn wait_parked(stderr: &mut std::io::BufReader<ChildStderr>, step: &str) -> String {
    let marker = format!("failpoint {step}: parked");
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "the process ended before its failpoint: {seen}");
        if line.contains(&marker) {
            return seen;
        }
        seen.push_str(&line);
    }
}
