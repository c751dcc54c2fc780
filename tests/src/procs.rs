//! Child processes for end-to-end tests: locating the workspace's binaries and
//! running them so that they are always stopped, by their own pid.
//!
//! - [`workspace_bin`]: `target/<profile>/<name>`, next to the running test
//!   executable (`cargo build --bins` must have run; `cargo test` builds the
//!   binaries of the package under test only).
//! - [`ChildProcess`]: owns a child; on drop sends SIGTERM to its pid, waits up
//!   to [`STOP_DEADLINE`], then SIGKILLs it. Never a signal by name or group.
//! - [`spawn_and_wait_for_line`]: starts a command and reads its stdout until a
//!   line with a given prefix (e.g. `buckets-lite listening on http://`); the
//!   rest of stdout keeps being drained so the child never blocks on a full pipe.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
}

impl ChildProcess {
    /// Wraps an already spawned child.
    pub fn new(child: Child, name: impl Into<String>) -> Self {
        ChildProcess {
            child,
            name: name.into(),
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
    pub fn signal(&self, sig: libc::c_int) {
        if let Err(e) = self.try_signal(sig) {
            panic!("{}: sending signal {sig}: {e}", self.name);
        }
    }

    /// Sends a signal to this child's pid only, by `kill(2)` (rustix: no
    /// `unsafe` here).
    pub fn try_signal(&self, sig: libc::c_int) -> std::io::Result<()> {
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("pid out of range"))?;
        rustix::process::kill_process(pid, to_signal(sig))?;
        Ok(())
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

    /// SIGTERM, wait up to [`STOP_DEADLINE`], then SIGKILL. Returns the exit
    /// status (`None` when it had to be killed).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Some(status);
        }
        if let Err(e) = self.try_signal(libc::SIGTERM) {
            eprintln!("{}: SIGTERM failed ({e}); killing it", self.name);
            self.kill9();
            return None;
        }
        match self.wait_timeout(STOP_DEADLINE) {
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
}

fn to_signal(sig: libc::c_int) -> rustix::process::Signal {
    use rustix::process::Signal;
    match sig {
        libc::SIGTERM => Signal::TERM,
        libc::SIGINT => Signal::INT,
        libc::SIGKILL => Signal::KILL,
        libc::SIGHUP => Signal::HUP,
        libc::SIGSTOP => Signal::STOP,
        libc::SIGCONT => Signal::CONT,
        _ => panic!("unsupported signal {sig}"),
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns `cmd` with stdout piped and waits (up to `timeout`) for a stdout
/// line starting with `prefix`. Returns the child and that line's remainder
/// after the prefix (trimmed). Later stdout lines are drained and echoed to
/// the test's stderr with the program's name.
///
/// # Panics
/// When the process exits or the deadline passes before the line appears.
pub fn spawn_and_wait_for_line(
    mut cmd: Command,
    prefix: &str,
    timeout: Duration,
) -> (ChildProcess, String) {
    let name = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let thread_name = name.clone();
    std::thread::spawn(move || {
        let reader = BufReader::new(stdout);
        for line in reader.lines() {
            match line {
                Ok(line) => {
                    if tx.send(Some(line.clone())).is_err() {
                        eprintln!("[{thread_name}] {line}");
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(None);
    });
    let mut child = ChildProcess::new(child, name.clone());
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(line)) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    // Dropping `rx` turns the reader thread into a drain.
                    return (child, rest.trim().to_owned());
                }
                eprintln!("[{name}] {line}");
            }
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait_timeout(Duration::from_secs(5));
                panic!("{name} exited ({status:?}) before printing {prefix:?}");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name} did not print {prefix:?} within {timeout:?}");
            }
        }
    }
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
