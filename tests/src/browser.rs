//! A real browser for end-to-end tests: Debian's `chromium-headless-shell`
//! loading a page served from loopback, so cross-origin requests from that
//! page to a gateway go through the browser's own CORS machinery
//! (preflights, response checks).
//!
//! - [`PageServer`]: serves registered HTML pages on `127.0.0.1:PORT`
//!   (port 0), one thread; its origin is `http://127.0.0.1:PORT`, a
//!   different origin from a gateway on another port.
//! - [`dump_dom`]: runs the browser on a URL until the page's scripts have
//!   settled (`--virtual-time-budget`) and returns the serialised DOM; the
//!   browser is a [`ChildProcess`], stopped by its pid at the deadline.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::procs::ChildProcess;

/// The browser binary: `S3GW_CHROMIUM` if set, else
/// `chromium-headless-shell` on PATH (Debian's package of that name,
/// installed by scripts/test-all.sh).
///
/// # Panics
/// When it is not installed.
pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("S3GW_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromium-headless-shell"))
        .find(|p| p.is_file())
        .expect(
            "chromium-headless-shell is needed (Debian package chromium-headless-shell; \
             scripts/test-all.sh installs it)",
        )
}

/// Serves HTML pages registered by path on a loopback port.
pub struct PageServer {
    pub origin: String,
    pages: Arc<Mutex<HashMap<String, String>>>,
}

impl PageServer {
    /// Binds `127.0.0.1:0` and serves in a background thread (which ends
    /// with the test process).
    pub fn start() -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
        let origin = format!("http://{}", listener.local_addr().expect("local addr"));
        let pages: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = pages.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let pages = served.clone();
                std::thread::spawn(move || serve(conn, &pages));
            }
        });
        PageServer { origin, pages }
    }

    /// Registers `html` at `path` (e.g. `/allowed`); its URL.
    pub fn page(&self, path: &str, html: &str) -> String {
        self.pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), html.to_owned());
        format!("{}{path}", self.origin)
    }
}

fn serve(conn: TcpStream, pages: &Mutex<HashMap<String, String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    // The rest of the head (no request bodies here).
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => {}
        }
    }
    let page = pages
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&path)
        .cloned();
    let (status, body) = match page {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", String::from("not found")),
    };
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.flush();
    let mut sink = [0u8; 64];
    let _ = (&conn).read(&mut sink);
}

/// Loads `url` in a fresh headless Chromium (its own temporary profile),
/// lets the page run for up to `budget` of virtual time (network waits
/// pause it), and returns the DOM as serialised at the end.
///
/// # Panics
/// When the browser does not finish within `deadline` or fails.
pub fn dump_dom(url: &str, budget: Duration, deadline: Duration) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out_path = profile.path().join("dom.html");
    let err_path = profile.path().join("stderr.log");
    let out = std::fs::File::create(&out_path).expect("dom file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut cmd = Command::new(chromium());
    cmd.arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg("--no-first-run")
        .arg("--disable-extensions")
        .arg("--disable-background-networking")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let child = cmd.spawn().expect("start chromium-headless-shell");
    let mut child = ChildProcess::new(child, "chromium-headless-shell");
    let status = child.wait_timeout(deadline);
    let dom = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => dom,
        other => panic!(
            "chromium-headless-shell on {url}: {other:?} within {deadline:?}\nDOM: {dom}\n\
             stderr:\n{stderr}"
        ),
    }
}
