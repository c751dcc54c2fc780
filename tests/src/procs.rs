//! Child processes for end-to-end tests and the bench: locating the
//! workspace's binaries and running them so that they are always stopped, by
//! their own pid. This is the one `ChildProcess` of the workspace: the bench
//! (`s3gw-bench`) uses it too, through this crate built without its default
//! `harness` feature (this module only).
//!
//! - [`workspace_bin`]: `target/<profile>/<name>`, next to the running test
//!   executable (`cargo build --bins` must have run; `cargo test` builds the
//!   binaries of the package under test only).
//! - [`ChildProcess`]: owns a child; on drop sends SIGTERM to its pid (kill(2)
//!   through rustix, never `kill(1)`), waits up to its stop deadline
//!   ([`STOP_DEADLINE`] unless set), then SIGKILLs it. Never a signal by name
//!   or group.
//! - [`ChildProcess::spawn_until_line`]: starts a command and reads its stdout
//!   until a line with a given prefix (e.g. `buckets-lite listening on
//!   http://`); the rest of stdout keeps being drained so the child never
//!   blocks on a full pipe. [`spawn_and_wait_for_line`] is the same for tests
//!   (panics instead of returning an error).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// How long a child gets to exit after SIGTERM before it is SIGKILLed.
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// `target/<profile>/<name>` of this workspace, found next to the running
/// test executable (`target/<profile>/deps/<test>-<hash>`).
///
/// # Panics
/// When the binary is missing: run `cargo build --bins` first.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let mut dir = exe
        .parent()
        .expect("executable has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

/// A running child process, stopped by its own pid when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    name: String,
    /// Where the child's stderr goes (set by the caller), for [`Self::log_tail`].
    log: Option<PathBuf>,
    stop_deadline: Duration,
}

impl ChildProcess {
    /// Wraps an already spawned child.
    pub fn new(child: Child, name: impl Into<String>) -> Self {
        ChildProcess {
            child,
            name: name.into(),
            log: None,
            stop_deadline: STOP_DEADLINE,
        }
    }

    /// Names the file the child's stderr was sent to: [`Self::log_tail`]
    /// and the errors of [`Self::check_alive`] quote it.
    #[must_use]
    pub fn with_log(mut self, log: impl Into<PathBuf>) -> Self {
        self.log = Some(log.into());
        self
    }

    /// How long [`Self::stop`] (and drop) waits after SIGTERM before SIGKILL.
    #[must_use]
    pub fn with_stop_deadline(mut self, deadline: Duration) -> Self {
        self.stop_deadline = deadline;
        self
    }

    /// Spawns `cmd` with stdout piped (stdin and stderr as the caller set
    /// them) and waits up to `timeout` for a stdout line starting
    /// with `prefix`. Returns the child and that line's remainder after the
    /// prefix (trimmed). Other stdout lines are appended to `log` when given,
    /// else echoed to this process's stderr with the program's name.
    ///
    /// # Errors
    /// When the command cannot start, or exits or stays silent past
    /// `timeout` before the line (then it is stopped; the error quotes the
    /// end of `log`).
    pub fn spawn_until_line(
        mut cmd: Command,
        prefix: &str,
        timeout: Duration,
        log: Option<&Path>,
    ) -> std::io::Result<(ChildProcess, String)> {
        let name = Path::new(cmd.get_program())
            .file_name()
            .unwrap_or(cmd.get_program())
            .to_string_lossy()
            .into_owned();
        cmd.stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("spawning {name}: {e}")))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut child = ChildProcess::new(child, name.clone());
        let mut sink = match log {
            Some(path) => {
                child.log = Some(path.to_path_buf());
                Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                )
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel::<String>();
        let thread_name = name.clone();
        let prefix_owned = prefix.to_owned();
        // The reader thread keeps draining stdout after the line, so a
        // chatty child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(rest) = line.strip_prefix(&prefix_owned) {
                        sent = true;
                        let _ = tx.send(rest.trim().to_owned());
                        continue;
                    }
                }
                match sink.as_mut() {
                    Some(f) => {
                        let _ = writeln!(f, "{line}");
                    }
                    None => eprintln!("[{thread_name}] {line}"),
                }
            }
        });
        match rx.recv_timeout(timeout) {
            Ok(rest) => Ok((child, rest)),
            Err(e) => {
                let why = match e {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("did not print it within {timeout:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        let status = child.wait_timeout(Duration::from_secs(5));
                        format!("exited ({status:?}) first")
                    }
                };
                let tail = child.log_tail();
                child.stop();
                Err(std::io::Error::other(format!(
                    "{name} was to print {prefix:?} but {why}; its log ends with:\n{tail}"
                )))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to this child's pid only.
    ///
    /// # Panics
    /// When the signal cannot be sent (the child is ours and not yet
    /// reaped, so this is a harness bug).
    pub fn signal(&self, sig: Signal) {
        if let Err(e) = self.try_signal(sig) {
            panic!("{}: sending signal {sig:?}: {e}", self.name);
        }
    }

    /// Sends a signal to this child's pid only.
    ///
    /// # Errors
    /// As kill(2).
    pub fn try_signal(&self, sig: Signal) -> std::io::Result<()> {
        signal_pid(self.child.id(), sig)
    }

    /// The exit status if the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the child to exit, up to `deadline`.
    pub fn wait_timeout(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(deadline, || {
            status = self.try_wait();
            status.is_some()
        });
        status
    }

    /// SIGTERM, wait up to the stop deadline, then SIGKILL. Returns the exit
    /// status (`None` when it had to be killed).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        if let Err(e) = self.try_signal(Signal::TERM) {
            eprintln!("{}: SIGTERM failed ({e}); killing it", self.name);
            self.kill9();
            return None;
        }
        match self.wait_timeout(self.stop_deadline) {
            Some(status) => Some(status),
            None => {
                eprintln!("{} ignored SIGTERM; killing it", self.name);
                self.kill9();
                None
            }
        }
    }

    /// SIGKILL (by pid, through std) and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last 20 lines of the child's log (see [`Self::with_log`]); empty
    /// without one.
    pub fn log_tail(&self) -> String {
        let text = self
            .log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fails when the child has exited, quoting its log's end.
    ///
    /// # Errors
    /// The child is no longer running.
    pub fn check_alive(&mut self) -> std::io::Result<()> {
        match self.try_wait() {
            None => Ok(()),
            Some(status) => Err(std::io::Error::other(format!(
                "{} exited ({status}); its log ends with:\n{}",
                self.name,
                self.log_tail()
            ))),
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `sig` to `pid` only, by kill(2) (rustix: no `unsafe` here). For a
/// pid that is not a [`ChildProcess`] (e.g. a child another thread waits
/// for); the caller must know the pid is still its own, unreaped child.
///
/// # Errors
/// As kill(2); a pid out of range is `InvalidInput`.
pub fn signal_pid(pid: u32, sig: Signal) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "pid out of range"))?;
    rustix::process::kill_process(pid, sig)?;
    Ok(())
}

/// Spawns `cmd` with stdout piped and waits (up to `timeout`) for a stdout
/// line starting with `prefix`. Returns the child and that line's remainder
/// after the prefix (trimmed). Later stdout lines are drained and echoed to
/// the test's stderr with the program's name.
///
/// # Panics
/// When the process exits or the deadline passes before the line appears.
pub fn spawn_and_wait_for_line(
    cmd: Command,
    prefix: &str,
    timeout: Duration,
) -> (ChildProcess, String) {
    ChildProcess::spawn_until_line(cmd, prefix, timeout, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `cond` every 20 ms until it holds or `deadline` passes; returns
/// whether it held. Tests synchronise with this, never with sleeps.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]).stdin(Stdio::null());
        cmd
    }

    #[test]
    fn spawn_until_line_returns_the_rest_and_stop_terminates_by_sigterm() {
        let (mut child, rest) = ChildProcess::spawn_until_line(
            sh("echo noise; echo 'listening on  http://x '; exec sleep 600"),
            "listening on ",
            Duration::from_secs(30),
            None,
        )
        .unwrap();
        assert_eq!(rest, "http://x");
        assert!(child.check_alive().is_ok());
        let status = child.stop().expect("exits on SIGTERM");
        assert_eq!(status.signal(), Some(Signal::TERM.as_raw()));
    }

    #[test]
    fn stop_escalates_to_sigkill_when_sigterm_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (child, _) = ChildProcess::spawn_until_line(
            sh("trap '' TERM; echo ready; while :; do sleep 1; done"),
            "ready",
            Duration::from_secs(30),
            Some(&log),
        )
        .unwrap();
        let mut child = child.with_stop_deadline(Duration::from_millis(300));
        assert_eq!(child.stop(), None, "SIGKILLed after the deadline");
        let status = child.try_wait().expect("reaped");
        assert_eq!(status.signal(), Some(Signal::KILL.as_raw()));
    }

    #[test]
    fn a_child_that_exits_before_the_line_is_an_error_quoting_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut cmd = sh("echo 'bad config: nope' >&2; exit 3");
        cmd.stderr(std::fs::File::create(&log).unwrap());
        let err = ChildProcess::spawn_until_line(cmd, "ready", Duration::from_secs(30), Some(&log))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("exited") && msg.contains("bad config: nope"),
            "{msg}"
        );
    }
}
