//! The command line and one run: start (or take) the endpoints, run every
//! selected workload on every path, print the table (or JSON, or the smoke
//! verdict).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use s3gw_httpsig::{KeyId, PrivateKey, Signer};

use crate::native::NativeClient;
use crate::procs::{self, Bins, Cluster};
use crate::report::{self, PathStats, Report, Row};
use crate::s3::S3Client;
use crate::scaling;
use crate::sigv4::Credentials;
use crate::store::Store;
use crate::workload::{self, Digests, Path, Scale, Workload};

/// Idle connections kept per host: above the highest concurrency, so the
/// 64-way workloads (and the 1,024-way scaling series) reuse their
/// connections instead of reconnecting.
pub const POOL_IDLE_PER_HOST: usize = 1100;

/// Side-by-side benchmark of s3gw (path A) against the native store it fronts
/// (path B), and optionally any other S3 endpoint (path C).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// Smaller counts and durations: finishes in under 3 minutes.
    #[arg(long, conflicts_with = "smoke")]
    pub quick: bool,
    /// Correctness only: a few operations per workload on both paths, checking
    /// that they succeed and return the same bytes; never timings. Exits
    /// non-zero on any failure.
    #[arg(long)]
    pub smoke: bool,
    /// Run the scaling series (issue 13 item 7: listings over 10k..1M keys,
    /// Complete of 10..1000 parts, GETs at 1..1024 connections, 1000 slow
    /// uploads) instead of the workloads. Long: minutes, and ~5 GiB of disk
    /// for the 1000-part Complete. Needs the bench to start the processes.
    #[arg(long, conflicts_with = "smoke")]
    pub scaling: bool,
    /// Part counts of the scaling Complete series (5 MiB parts).
    #[arg(long, value_delimiter = ',')]
    pub complete_parts: Vec<u64>,
    /// Print the results as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Run only these workloads (comma-separated names or name prefixes, e.g.
    /// `put-4k,get-1g`). `--list` shows the names.
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// List the workloads and exit.
    #[arg(long)]
    pub list: bool,
    /// Which paths to run, e.g. `AB`, `A`, `ABC` (default: AB, plus C when
    /// `--c-endpoint` is given).
    #[arg(long)]
    pub paths: Option<String>,
    /// Directory holding the `s3gw` and `buckets-lite` binaries to start
    /// (default: `target/release`, or next to this executable for `--smoke`).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Size in bytes of the "1 GiB" object (default: 1 GiB; 12 MiB for --smoke).
    #[arg(long)]
    pub large_size: Option<u64>,
    /// Prefix of the buckets the bench creates (`<prefix>-a`, `-b`, `-c`).
    #[arg(long, default_value = "s3gw-bench")]
    pub bucket_prefix: String,

    /// Path A: an already running s3gw instead of starting one.
    #[arg(long, requires_all = ["access_key", "secret_key"])]
    pub s3_endpoint: Option<String>,
    /// Path A: access key id.
    #[arg(long)]
    pub access_key: Option<String>,
    /// Path A: secret key.
    #[arg(long)]
    pub secret_key: Option<String>,
    /// Path A (and B's pid for RSS): pid of the running s3gw, for peak RSS.
    #[arg(long)]
    pub s3gw_pid: Option<u32>,

    /// Path B: an already running buckets-API store instead of starting one.
    #[arg(long, requires = "native_key")]
    pub native_endpoint: Option<String>,
    /// Path B: the operator's private key file (PEM or OpenSSH).
    #[arg(long)]
    pub native_key: Option<PathBuf>,
    /// Path B: the login the key belongs to.
    #[arg(long, default_value = procs::OPERATOR)]
    pub native_login: String,
    /// Path B: the account whose buckets are used (path A's tenant).
    #[arg(long, default_value = procs::TENANT)]
    pub native_account: String,
    /// Path B: pid of the running store, for peak RSS.
    #[arg(long)]
    pub store_pid: Option<u32>,

    /// Path C: any S3 endpoint (e.g. http://127.0.0.1:9000).
    #[arg(long, requires_all = ["c_access_key", "c_secret_key"])]
    pub c_endpoint: Option<String>,
    #[arg(long)]
    pub c_access_key: Option<String>,
    #[arg(long)]
    pub c_secret_key: Option<String>,
    /// Path C: pids of every process of that server (workers included,
    /// comma-separated), to charge their CPU to path C in the CPU table.
    #[arg(long, value_delimiter = ',')]
    pub c_pids: Vec<u32>,
    /// Signing region of every S3 path.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// PEM file of a CA to trust for https endpoints.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

/// HTTP client shared by every path: HTTP/1.1 (as S3 clients speak it), a
/// pool large enough for 64-way concurrency, rustls with `ring` explicitly.
fn http_client(ca_file: Option<&PathBuf>) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for cert in
            <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(
                &pem,
            )
        {
            roots.add(cert?)?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .tcp_nodelay(true)
        .no_proxy()
        .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
        .connect_timeout(Duration::from_secs(10))
        .build()?)
}

fn select(all: Vec<Workload>, names: &[String]) -> Result<Vec<Workload>> {
    if names.is_empty() {
        return Ok(all);
    }
    // A name that is some workload's exact name selects only that one
    // (`get-4k-c1` is not also `get-4k-c16`); any other name is a prefix.
    let exact = |n: &String| all.iter().any(|w| w.name == *n);
    let matches = |w: &Workload| {
        names
            .iter()
            .any(|n| w.name == *n || (!exact(n) && w.name.starts_with(n.as_str())))
    };
    let chosen: Vec<Workload> = all.iter().filter(|w| matches(w)).cloned().collect();
    if chosen.is_empty() {
        bail!("no workload matches {names:?} (see --list)");
    }
    Ok(chosen)
}

/// Entry point of the binary.
pub fn main(args: Args) -> Result<ExitCode> {
    // Both ring and aws-lc-rs may be compiled in (workspace features): name one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut scale = if args.smoke {
        Scale::SMOKE
    } else if args.quick {
        Scale::QUICK
    } else {
        Scale::FULL
    };
    if let Some(s) = args.large_size {
        scale.large_size = s;
    }
    let workloads = if args.scaling {
        Vec::new()
    } else {
        select(workload::all_workloads(&scale), &args.workloads)?
    };
    if args.list {
        for w in &workloads {
            println!(
                "{:<16} concurrency {:>2}, size {:>10} B, at most {} ops / {:?}, seed {}",
                w.name, w.concurrency, w.size, w.count, w.max_duration, w.seed
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args, scale, workloads))
}

async fn run(args: Args, scale: Scale, workloads: Vec<Workload>) -> Result<ExitCode> {
    let started = Instant::now();
    let json = args.json;
    let (code, report) = measure(args, scale, workloads).await?;
    if let Some(report) = report {
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("s3gw-bench ({} run) on {}\n", report.mode, report.machine);
            print!("{}", report.table());
            println!("\nTotal time: {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(code)
}

/// Runs every workload on every path: the smoke verdict, or the report.
pub async fn measure(
    args: Args,
    scale: Scale,
    workloads: Vec<Workload>,
) -> Result<(ExitCode, Option<Report>)> {
    let paths_arg = args
        .paths
        .clone()
        .unwrap_or_else(|| {
            if args.c_endpoint.is_some() {
                "ABC"
            } else {
                "AB"
            }
            .into()
        })
        .to_ascii_uppercase();
    let want = |p: char| paths_arg.contains(p);
    let http = http_client(args.ca_file.as_ref())?;

    // Start what is not given. Both started together: A fronts the B store.
    let need_start =
        (want('A') && args.s3_endpoint.is_none()) || (want('B') && args.native_endpoint.is_none());
    let mut cluster = if need_start {
        if args.s3_endpoint.is_some() || args.native_endpoint.is_some() {
            bail!("give both --s3-endpoint and --native-endpoint, or neither (the bench starts both), or choose --paths");
        }
        let bins = Bins::locate(args.bin_dir.as_deref(), args.smoke)?;
        eprintln!(
            "starting {} and {}",
            bins.buckets_lite.display(),
            bins.s3gw.display()
        );
        let c = Cluster::start(&bins)?;
        eprintln!(
            "buckets-lite at {} (pid {}), s3gw at {} (pid {})",
            c.native_url,
            c.store.pid(),
            c.s3_url,
            c.gateway.pid()
        );
        Some(c)
    } else {
        None
    };
    // The started store offers its counters (buckets-lite's `stats` extension).
    let store_stats = cluster
        .as_ref()
        .map(|c| procs::StoreStats::new(http.clone(), &c.native_url))
        .transpose()?;
    let s3gw_pid = cluster.as_ref().map(|c| c.gateway.pid()).or(args.s3gw_pid);
    let store_pid = cluster.as_ref().map(|c| c.store.pid()).or(args.store_pid);

    let mut paths: Vec<Path> = Vec::new();
    if want('A') {
        let (url, creds) = match &cluster {
            Some(c) => (
                c.s3_url.clone(),
                Credentials {
                    access_key_id: procs::ACCESS_KEY_ID.into(),
                    secret: procs::SECRET_KEY.into(),
                    region: args.region.clone(),
                },
            ),
            None => (
                args.s3_endpoint.clone().context("--s3-endpoint")?,
                Credentials {
                    access_key_id: args.access_key.clone().context("--access-key")?,
                    secret: args.secret_key.clone().context("--secret-key")?,
                    region: args.region.clone(),
                },
            ),
        };
        let client = S3Client::new(http.clone(), &url, creds)?;
        paths.push(Path::new(
            "A",
            Store::S3(client),
            format!("{}-a", args.bucket_prefix),
        ));
    }
    if want('B') {
        let (url, signer) = match &cluster {
            Some(c) => (c.native_url.clone(), c.operator.clone()),
            None => {
                let file = args.native_key.as_ref().context("--native-key")?;
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let key = PrivateKey::from_pem_or_openssh(&text).context("parsing --native-key")?;
                let key_id = KeyId {
                    login: args.native_login.clone(),
                    subuser: None,
                    fingerprint: key.public_key().md5_fingerprint(),
                };
                (
                    args.native_endpoint.clone().context("--native-endpoint")?,
                    Arc::new(Signer::new(key_id, key)),
                )
            }
        };
        let client = NativeClient::new(http.clone(), &url, &args.native_account, signer)?;
        paths.push(Path::new(
            "B",
            Store::Native(client),
            format!("{}-b", args.bucket_prefix),
        ));
    }
    if want('C') {
        let creds = Credentials {
            access_key_id: args.c_access_key.clone().context("--c-access-key")?,
            secret: args.c_secret_key.clone().context("--c-secret-key")?,
            region: args.region.clone(),
        };
        let url = args.c_endpoint.clone().context("--c-endpoint")?;
        let client = S3Client::new(http.clone(), &url, creds)?;
        paths.push(Path::new(
            "C",
            Store::S3(client),
            format!("{}-c", args.bucket_prefix),
        ));
    }
    if paths.is_empty() {
        bail!("no path selected (--paths takes A, B and/or C)");
    }
    for p in &mut paths {
        p.setup().await?;
    }

    // Progress on a terminal only: quiet with --json or into a pipe or file.
    let show = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = progress_bar(show, (workloads.len() * paths.len()) as u64);
    let digests = Digests::default();
    let mut rss_per_workload = true;
    let mut rows = Vec::new();
    let (mut passed, mut failed) = (0u32, 0u32);
    for w in &workloads {
        let mut row = Row::new(w);
        let mut ok = true;
        for p in &mut paths {
            progress.set_message(format!("{} on {}", w.name, p.label));
            // Preparation first, so peaks and CPU time cover the measured part only.
            let prepared = p.prepare(w, &scale).await;
            // Then the dirty pages of everything before (the previous path's
            // 1 GiB writes, the preparation) go to disk, so that no path pays
            // for another's writeback. Blocking: nothing else runs meanwhile.
            rustix::fs::sync();
            for pid in [s3gw_pid, store_pid].into_iter().flatten() {
                rss_per_workload &= procs::reset_peak_rss(pid);
            }
            let counters =
                Counters::start(s3gw_pid, store_pid, &args.c_pids, store_stats.as_ref()).await;
            let result = match prepared {
                Ok(()) => p.run(w, &scale, args.smoke, &digests).await,
                Err(e) => Err(e.context(format!("path {}: preparing {}", p.label, w.name))),
            };
            match result {
                Ok(m) => {
                    let s3gw_peak = if p.label == "A" {
                        s3gw_pid.and_then(procs::peak_rss)
                    } else {
                        None
                    };
                    let store_peak = if p.label == "C" {
                        None
                    } else {
                        store_pid.and_then(procs::peak_rss)
                    };
                    let mut stats = PathStats::new(w, &m, s3gw_peak, store_peak);
                    counters.finish(p.label, &mut stats).await;
                    match p.label {
                        "A" => row.a = Some(stats),
                        "B" => row.b = Some(stats),
                        _ => row.c = Some(stats),
                    }
                    progress.inc(1);
                }
                Err(e) => {
                    if let Some(c) = cluster.as_mut() {
                        if let Err(dead) = c.gateway.check_alive().and(c.store.check_alive()) {
                            bail!("{dead:#}");
                        }
                    }
                    match on_failure(p.label, args.smoke) {
                        Failure::Unsupported => {
                            progress.suspend(|| {
                                eprintln!("path {} cannot do {}: {e:#}", p.label, w.name)
                            });
                            row.c_unsupported = Some(unsupported_reason(&e));
                            progress.inc(1);
                        }
                        Failure::Counted => {
                            ok = false;
                            progress.suspend(|| eprintln!("FAILED: {e:#}"));
                        }
                        Failure::Abort => return Err(e),
                    }
                }
            }
        }
        if args.smoke {
            if ok {
                passed += 1;
                println!("smoke: {} ok on {}", w.name, paths_arg);
            } else {
                failed += 1;
                println!("smoke: {} FAILED", w.name);
            }
        }
        rows.push(row);
    }
    progress.finish_and_clear();
    let mut scaling = None;
    if args.scaling || args.smoke {
        let mut plan = if args.smoke {
            scaling::Plan::smoke()
        } else {
            scaling::Plan::full()
        };
        if !args.complete_parts.is_empty() {
            plan.complete_parts = args.complete_parts.clone();
        }
        let verdict = run_scaling(&args, &scale, &plan, cluster.as_ref(), &mut paths).await;
        if args.smoke {
            match verdict {
                Ok(_) => {
                    passed += 1;
                    println!("smoke: scaling series ok on AB");
                }
                Err(e) => {
                    failed += 1;
                    println!("smoke: scaling series FAILED: {e:#}");
                }
            }
        } else {
            scaling = Some(verdict?);
        }
    }
    drop(cluster.take());
    if args.smoke {
        println!("smoke: {passed} passed, {failed} failed");
        let code = if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
        return Ok((code, None));
    }
    let mut report = Report {
        mode: if args.quick { "quick" } else { "full" }.into(),
        machine: report::machine(),
        rows,
        targets: Vec::new(),
        rss_per_workload,
        scaling,
    };
    report.check_targets();
    Ok((ExitCode::SUCCESS, Some(report)))
}

/// The scaling series on the started cluster's paths A and B.
async fn run_scaling(
    args: &Args,
    scale: &Scale,
    plan: &scaling::Plan,
    cluster: Option<&Cluster>,
    paths: &mut [Path],
) -> Result<scaling::ScalingReport> {
    let Some(c) = cluster else {
        bail!("the scaling series seed buckets-lite's SQLite: let the bench start the processes (no --s3-endpoint / --native-endpoint)");
    };
    let [a, b] = paths else {
        bail!("the scaling series need paths A and B (--paths AB)");
    };
    let (Store::S3(s3), Store::Native(native)) = (a.store.clone(), b.store.clone()) else {
        bail!("the scaling series need paths A and B (--paths AB)");
    };
    let stats = procs::StoreStats::new(s3.http(), &c.native_url)?;
    let mut env = scaling::Env {
        a,
        b,
        s3,
        native,
        s3gw_pid: c.gateway.pid(),
        store_pid: c.store.pid(),
        stats: &stats,
        store_dir: &c.store_dir,
        account: procs::TENANT,
        bucket_prefix: &args.bucket_prefix,
        scale: *scale,
        verify: args.smoke,
    };
    scaling::run(&mut env, plan).await
}

/// What a failed (workload, path) run does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Path C (someone else's S3 server) cannot do it: the row says
    /// "unsupported" and the run goes on (e.g. Swift refuses aws-chunked).
    Unsupported,
    /// Smoke mode: counted as a failure, the run goes on, exit non-zero.
    Counted,
    /// s3gw or its store failed a timed run: a defect, the run stops.
    Abort,
}

/// How a failure on `path` is handled.
pub fn on_failure(path: &str, smoke: bool) -> Failure {
    match (path, smoke) {
        (_, true) => Failure::Counted,
        ("C", false) => Failure::Unsupported,
        _ => Failure::Abort,
    }
}

/// The reason shown for an unsupported row: the innermost error (the
/// server's answer), on one line.
fn unsupported_reason(e: &anyhow::Error) -> String {
    let root = e.root_cause().to_string();
    let line = root.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(160).collect()
}

/// CPU and store counters around one (workload, path) run.
struct Counters<'a> {
    s3gw_pid: Option<u32>,
    store_pid: Option<u32>,
    c_pids: &'a [u32],
    cpu: [Option<f64>; 3],
    c_cpu: Option<f64>,
    stats: Option<(&'a procs::StoreStats, procs::StoreCounts)>,
}

/// CPU seconds of a server made of several processes (path C's `--c-pids`):
/// `None` without pids or when one of them is gone.
fn cpu_seconds_of_all(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| procs::cpu_seconds(*p)).sum()
}

impl<'a> Counters<'a> {
    async fn start(
        s3gw_pid: Option<u32>,
        store_pid: Option<u32>,
        c_pids: &'a [u32],
        stats: Option<&'a procs::StoreStats>,
    ) -> Counters<'a> {
        let stats = match stats {
            Some(s) => s.read().await.map(|c| (s, c)),
            None => None,
        };
        Counters {
            s3gw_pid,
            store_pid,
            c_pids,
            cpu: [s3gw_pid, store_pid, Some(std::process::id())]
                .map(|p| p.and_then(procs::cpu_seconds)),
            c_cpu: cpu_seconds_of_all(c_pids),
            stats,
        }
    }

    /// Fills what `path` is charged with: s3gw only on A, the store on A and
    /// B, path C's server (`--c-pids`) on C, the bench on every path.
    async fn finish(self, path: &str, stats: &mut PathStats) {
        let used =
            |i: usize, pid: Option<u32>| Some(pid.and_then(procs::cpu_seconds)? - self.cpu[i]?);
        if path == "A" {
            stats.s3gw_cpu_secs = used(0, self.s3gw_pid);
        }
        if path == "C" {
            stats.store_cpu_secs = cpu_seconds_of_all(self.c_pids)
                .zip(self.c_cpu)
                .map(|(after, before)| after - before);
        } else {
            stats.store_cpu_secs = used(1, self.store_pid);
            if let Some((s, before)) = self.stats {
                if let Some(after) = s.read().await {
                    stats.store_requests = Some(after.requests.saturating_sub(before.requests));
                    stats.store_connections =
                        Some(after.connections.saturating_sub(before.connections));
                }
            }
        }
        stats.bench_cpu_secs = used(2, Some(std::process::id()));
    }
}

/// A bar of `steps` (workload, path) runs with the elapsed time and the one
/// running; hidden when `show` is false.
fn progress_bar(show: bool, steps: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A minimal S3 endpoint that, like Swift's S3 layer, refuses aws-chunked
    /// uploads (501 NotImplemented) and otherwise stores object sizes and
    /// serves zero bytes of that size. One request per connection.
    async fn refusing_chunked_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sizes: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let sizes = sizes.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let mut words = head.split_whitespace();
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                    let path = path.split('?').next().unwrap_or("").to_string();
                    let header = |n: &str| {
                        head.lines().find_map(|l| {
                            l.strip_prefix(&format!("{n}:"))
                                .map(|v| v.trim().to_string())
                        })
                    };
                    let len: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let chunked =
                        header("x-amz-content-sha256").is_some_and(|v| v.starts_with("streaming-"));
                    let (status, body_len) = match method {
                        "put" if chunked => ("501 Not Implemented", None),
                        "put" => {
                            sizes.lock().unwrap().insert(path, len);
                            ("200 OK", Some(0))
                        }
                        "get" => match sizes.lock().unwrap().get(&path) {
                            Some(n) => ("200 OK", Some(*n)),
                            None => ("404 Not Found", None),
                        },
                        _ => ("405 Method Not Allowed", None),
                    };
                    let answer = match body_len {
                        Some(n) => {
                            let mut a = format!(
                                "HTTP/1.1 {status}\r\ncontent-length: {n}\r\netag: \"0\"\r\nconnection: close\r\n\r\n"
                            )
                            .into_bytes();
                            a.resize(a.len() + n, 0);
                            a
                        }
                        None => {
                            let xml = "<Error><Code>NotImplemented</Code><Message>no aws-chunked here</Message></Error>";
                            format!(
                                "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{xml}",
                                xml.len()
                            )
                            .into_bytes()
                        }
                    };
                    let _ = sock.write_all(&answer).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn only_path_c_failures_are_unsupported_and_smoke_counts_every_failure() {
        assert_eq!(on_failure("C", false), Failure::Unsupported);
        assert_eq!(on_failure("A", false), Failure::Abort);
        assert_eq!(on_failure("B", false), Failure::Abort);
        assert_eq!(on_failure("C", true), Failure::Counted);
        assert_eq!(on_failure("A", true), Failure::Counted);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_path_c_that_refuses_a_workload_marks_it_unsupported_and_the_run_goes_on() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = refusing_chunked_server().await;
        let args = Args::parse_from([
            "s3gw-bench",
            "--paths",
            "C",
            "--c-endpoint",
            &url,
            "--c-access-key",
            "AKIDEXAMPLE",
            "--c-secret-key",
            "secret",
            "--large-size",
            "65536",
            "--workloads",
            "put-1g-chunked,get-1g",
            // The stub server runs in this process: its CPU is path C's server's.
            "--c-pids",
            &std::process::id().to_string(),
        ]);
        let mut scale = Scale::FULL;
        scale.large_size = 65536;
        let workloads = select(
            workload::all_workloads(&scale),
            &["put-1g-chunked".into(), "get-1g".into()],
        )
        .unwrap();
        let (code, report) = measure(args, scale, workloads).await.unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let report = report.expect("a report");
        let row = |n: &str| report.rows.iter().find(|r| r.workload.name == n).unwrap();
        let chunked = row("put-1g-chunked");
        assert!(chunked.c.is_none());
        let why = chunked
            .c_unsupported
            .as_deref()
            .expect("marked unsupported");
        assert!(why.contains("501"), "{why}");
        // The workload after it ran and was measured.
        let get = row("get-1g").c.as_ref().expect("get-1g ran on C");
        // get-1g runs three times the large PUTs' count (workload.rs).
        assert_eq!(get.ops, 3 * Scale::FULL.large_count);
        assert_eq!(get.bytes, get.ops * 65536);
        assert!(row("get-1g").c_unsupported.is_none());
        assert!(report.table().contains("unsupported"));
        // --c-pids charges the server's CPU to path C (the CPU table's "server C").
        let server = get.store_cpu_secs.expect("path C server CPU from --c-pids");
        assert!(server >= 0.0, "{server}");
        assert!(report.cpu_table().contains("server C"));
    }

    #[test]
    fn path_c_cpu_is_the_sum_of_its_processes_and_unknown_without_them() {
        let me = std::process::id();
        assert_eq!(cpu_seconds_of_all(&[]), None);
        // A pid that cannot exist (above the kernel's pid_max limit of 2^22).
        assert_eq!(cpu_seconds_of_all(&[me, 1 << 23]), None);
        let one = cpu_seconds_of_all(&[me]).expect("own CPU");
        let twice = cpu_seconds_of_all(&[me, me]).expect("own CPU twice");
        assert!(twice >= 2.0 * one, "{twice} < 2 x {one}");
    }
}
