//! How costs grow (issue 13 item 7): small series, each over one variable,
//! run with `--scaling` (and at toy sizes inside `--smoke`).
//!
//! - `list-prefix`: ListObjectsV2 with a prefix matching 10 keys, in buckets
//!   of 10k, 100k and 1M keys (time and store rows read should stay flat);
//! - `list-delim`: a full ListObjectsV2 walk with delimiter `/` over 10k and
//!   100k keys in groups of 128 (cost follows the number of groups);
//! - `complete`: CompleteMultipartUpload of N parts of 5 MiB (path A only:
//!   the store has no multipart), timed alone, with s3gw's peak RSS;
//! - `slow-uploads`: N simultaneous PUTs whose bodies trickle in (path A),
//!   s3gw's peak RSS while all are open;
//! - `get-4k`: 4 KiB GETs at concurrency 1, 64, 256, 1024 (throughput, RSS,
//!   new store connections).
//!
//! The listing buckets are seeded straight into the started buckets-lite's
//! SQLite (`meta.db`, table `objects`, one transaction per bucket): a million
//! S3 PUTs would take an hour, an INSERT loop takes seconds. Seeded rows have
//! no body file (size 0): those buckets serve listings only. The bench must
//! start the store itself for this (no `--native-endpoint`).

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::data::Payload;
use crate::native::NativeClient;
use crate::procs::{self, StoreStats};
use crate::report::render;
use crate::s3::S3Client;
use crate::store::Store;
use crate::workload::{run_ops, Digests, Measured, Op, Path, Scale, Workload, SMALL};

/// S3's smallest part but the last (and the gateway's).
pub const PART_SIZE: u64 = 5 << 20;
/// Keys per "directory" of the delimiter series (fewer than 1000 groups per
/// 100k keys, so one native page never ends on a group, which the real
/// store answers with a crash).
pub const GROUP: u64 = 128;

/// The sizes of every series.
#[derive(Debug, Clone)]
pub struct Plan {
    pub list_sizes: Vec<u64>,
    pub list_reps: u64,
    pub delim_sizes: Vec<u64>,
    pub delim_reps: u64,
    pub complete_parts: Vec<u64>,
    pub get_concurrency: Vec<usize>,
    pub get_count: u64,
    pub get_duration: Duration,
    pub slow_uploads: Vec<usize>,
    pub slow_piece: usize,
    pub slow_pieces: usize,
    pub slow_gap: Duration,
}

impl Plan {
    /// `--scaling`. CompleteMultipartUpload stops at 1,000 parts by default:
    /// 10,000 parts of 5 MiB are 50 GiB to upload and assemble
    /// (`--complete-parts` asks for more).
    pub fn full() -> Plan {
        Plan {
            list_sizes: vec![10_000, 100_000, 1_000_000],
            list_reps: 50,
            delim_sizes: vec![10_000, 100_000],
            delim_reps: 5,
            complete_parts: vec![10, 100, 1000],
            get_concurrency: vec![1, 64, 256, 1024],
            get_count: 20_000,
            get_duration: Duration::from_secs(8),
            slow_uploads: vec![10, 100, 1000],
            slow_piece: 4096,
            slow_pieces: 16,
            slow_gap: Duration::from_millis(100),
        }
    }

    /// Inside `--smoke`: every series at toy sizes, results checked.
    pub fn smoke() -> Plan {
        Plan {
            list_sizes: vec![300, 1200],
            list_reps: 2,
            delim_sizes: vec![1000],
            delim_reps: 1,
            complete_parts: vec![2],
            get_concurrency: vec![1, 8],
            get_count: 16,
            get_duration: Duration::from_secs(30),
            slow_uploads: vec![8],
            slow_piece: 1024,
            slow_pieces: 2,
            slow_gap: Duration::from_millis(5),
        }
    }
}

/// One measured point of a series on one path.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub x: u64,
    pub path: &'static str,
    pub ops: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub ops_per_sec: f64,
    pub s3gw_peak_rss: Option<u64>,
    pub store_peak_rss: Option<u64>,
    pub store_requests_per_op: Option<f64>,
    pub store_rows_per_op: Option<f64>,
    pub store_new_connections: Option<u64>,
    /// The point failed (why): shown in its row, the series go on. In
    /// smoke mode a failure fails the run instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Point {
    /// A point that could not be measured.
    pub fn failed(x: u64, path: &'static str, e: &anyhow::Error) -> Point {
        let why = format!("{e:#}");
        Point {
            x,
            path,
            ops: 0,
            seconds: 0.0,
            p50_ms: 0.0,
            ops_per_sec: 0.0,
            s3gw_peak_rss: None,
            store_peak_rss: None,
            store_requests_per_op: None,
            store_rows_per_op: None,
            store_new_connections: None,
            error: Some(why.split_whitespace().collect::<Vec<_>>().join(" ")),
        }
    }
}

/// A series: one variable, its points.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: &'static str,
    pub x_label: &'static str,
    pub what: &'static str,
    pub points: Vec<Point>,
}

/// Every series of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingReport {
    pub series: Vec<Series>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl ScalingReport {
    /// One table per series.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for s in &self.series {
            out.push_str(&format!("\n{} ({}):\n\n", s.name, s.what));
            let mut lines = vec![[
                s.x_label,
                "path",
                "ops",
                "p50 ms",
                "ops/s",
                "s3gw MiB",
                "store MiB",
                "store req/op",
                "store rows/op",
                "new conns",
            ]
            .map(String::from)
            .to_vec()];
            let opt = |v: Option<f64>, p: usize| v.map_or("-".into(), |x| format!("{x:.p$}"));
            let mib = |v: Option<u64>| opt(v.map(|b| b as f64 / MIB), 0);
            for p in &s.points {
                if p.error.is_some() {
                    let mut l = vec![p.x.to_string(), p.path.to_string(), "FAILED".to_string()];
                    l.resize(10, "-".to_string());
                    lines.push(l);
                    continue;
                }
                lines.push(vec![
                    p.x.to_string(),
                    p.path.to_string(),
                    p.ops.to_string(),
                    format!("{:.2}", p.p50_ms),
                    format!("{:.1}", p.ops_per_sec),
                    mib(p.s3gw_peak_rss),
                    mib(p.store_peak_rss),
                    opt(p.store_requests_per_op, 2),
                    opt(p.store_rows_per_op, 1),
                    p.store_new_connections
                        .map_or("-".into(), |n| n.to_string()),
                ]);
            }
            out.push_str(&render(&lines));
            for p in s.points.iter().filter(|p| p.error.is_some()) {
                out.push_str(&format!(
                    "  {} {} on {}: {}\n",
                    s.x_label,
                    p.x,
                    p.path,
                    p.error.as_deref().unwrap_or_default()
                ));
            }
        }
        out.push_str(
            "\nRSS = peak resident set (VmHWM) during the point; store req/op and rows/op = \
             requests the store served and rows its listings read, per operation; new conns = \
             connections the store accepted during the point.\n",
        );
        out
    }
}

/// What the series run against: the started cluster's two paths.
pub struct Env<'a> {
    pub a: &'a mut Path,
    pub b: &'a mut Path,
    pub s3: S3Client,
    pub native: NativeClient,
    pub s3gw_pid: u32,
    pub store_pid: u32,
    pub stats: &'a StoreStats,
    pub store_dir: &'a FsPath,
    pub account: &'a str,
    pub bucket_prefix: &'a str,
    pub scale: Scale,
    /// Smoke: check every answer, report nothing.
    pub verify: bool,
}

/// Counters around one point.
struct Probe {
    before: procs::StoreCounts,
}

impl Env<'_> {
    async fn probe(&self) -> Result<Probe> {
        procs::reset_peak_rss(self.s3gw_pid);
        procs::reset_peak_rss(self.store_pid);
        let before = self
            .stats
            .read()
            .await
            .context("the store's /stats (buckets-lite `stats` extension)")?;
        Ok(Probe { before })
    }

    async fn point(&self, probe: Probe, x: u64, path: &'static str, m: &Measured) -> Point {
        let after = self.stats.read().await.unwrap_or(probe.before);
        let per = |n: u64| (m.ops > 0).then(|| n as f64 / m.ops as f64);
        Point {
            x,
            path,
            ops: m.ops,
            seconds: m.elapsed.as_secs_f64(),
            p50_ms: m.percentile(50.0).as_secs_f64() * 1e3,
            ops_per_sec: m.ops_per_sec(),
            s3gw_peak_rss: (path == "A")
                .then(|| procs::peak_rss(self.s3gw_pid))
                .flatten(),
            store_peak_rss: procs::peak_rss(self.store_pid),
            store_requests_per_op: per(after.requests.saturating_sub(probe.before.requests)),
            store_rows_per_op: per(after.list_rows.saturating_sub(probe.before.list_rows)),
            store_new_connections: Some(after.connections.saturating_sub(probe.before.connections)),
            error: None,
        }
    }

    /// A bucket of `names`, created natively and filled straight into the
    /// store's SQLite.
    async fn seeded_bucket(&self, bucket: &str, names: Vec<String>) -> Result<()> {
        self.native.create_bucket(bucket).await?;
        let db = self.store_dir.join("meta.db");
        let account = self.account.to_string();
        let bucket = bucket.to_string();
        tokio::task::spawn_blocking(move || seed_sqlite(&db, &account, &bucket, &names))
            .await
            .context("seeding task")?
    }
}

/// Inserts `names` as empty objects of `bucket` (which must exist) in
/// buckets-lite's `objects` table, in one transaction. Idempotent.
pub fn seed_sqlite(db: &FsPath, account: &str, bucket: &str, names: &[String]) -> Result<()> {
    let mut conn = rusqlite::Connection::open(db).with_context(|| format!("{}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(60))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // The MD5 of nothing, base64 (what the store keeps for an empty body).
    let empty_md5 = "1B2M2Y8AsgTpgAmY7PhCfg==";
    // Object ids are unique per store: the bucket's hash and the index.
    let tag = bucket.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT OR IGNORE INTO objects (account, bucket, name, id, size, content_type, md5, \
             created_ms, modified_ms, durability, headers) \
             VALUES (?1, ?2, ?3, ?4, 0, 'application/octet-stream', ?5, ?6, ?6, 2, '[]')",
        )?;
        for (i, n) in names.iter().enumerate() {
            let id = format!("{tag:016x}{i:016x}");
            stmt.execute(rusqlite::params![
                account,
                bucket.as_bytes(),
                n.as_bytes(),
                id,
                empty_md5,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The names of a `list-prefix` bucket of `n` keys: `n - 10` keys
/// `k/NNNNNNN`, and 10 keys under the prefix `k/<middle>/`.
pub fn prefix_bucket_names(n: u64) -> (Vec<String>, String) {
    let mid = n / 2;
    let prefix = format!("k/{mid:07}/");
    let mut names: Vec<String> = (0..n.saturating_sub(10))
        .map(|i| format!("k/{i:07}"))
        .collect();
    names.extend((0..10).map(|j| format!("{prefix}{j:02}")));
    (names, prefix)
}

/// Keys `d/GGGG/NNNNNNN`, [`GROUP`] per group.
pub fn delim_bucket_names(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| format!("d/{:04}/{i:07}", i / GROUP))
        .collect()
}

/// Runs every series of `plan`.
pub async fn run(env: &mut Env<'_>, plan: &Plan) -> Result<ScalingReport> {
    let mut series = Vec::new();

    // ListObjectsV2, 10 keys out of N.
    let mut points = Vec::new();
    for &n in &plan.list_sizes {
        let bucket = format!("{}-s{n}", env.bucket_prefix);
        let (names, prefix) = prefix_bucket_names(n);
        env.seeded_bucket(&bucket, names).await?;
        for (label, store) in [
            ("A", Store::S3(env.s3.clone())),
            ("B", Store::Native(env.native.clone())),
        ] {
            let probe = env.probe().await?;
            let (b, p, st) = (bucket.clone(), prefix.clone(), store.clone());
            let m = run_ops(1, plan.list_reps, Duration::from_secs(600), move |_| {
                let (b, p, st) = (b.clone(), p.clone(), st.clone());
                async move {
                    let l = st.list_all(&b, &p, None).await?;
                    ensure!(
                        l.keys.len() == 10,
                        "prefix listing gave {} keys, want 10",
                        l.keys.len()
                    );
                    Ok(0)
                }
            })
            .await
            .with_context(|| format!("list-prefix {n} on {label}"))?;
            points.push(env.point(probe, n, label, &m).await);
        }
    }
    series.push(Series {
        name: "list-prefix",
        x_label: "keys in bucket",
        what: "ListObjectsV2 with a prefix matching 10 keys; should stay flat",
        points,
    });

    // Full delimiter walks.
    let mut points = Vec::new();
    for &n in &plan.delim_sizes {
        let bucket = format!("{}-d{n}", env.bucket_prefix);
        env.seeded_bucket(&bucket, delim_bucket_names(n)).await?;
        let groups = n.div_ceil(GROUP) as usize;
        for (label, store) in [
            ("A", Store::S3(env.s3.clone())),
            ("B", Store::Native(env.native.clone())),
        ] {
            let probe = env.probe().await?;
            let (b, st) = (bucket.clone(), store.clone());
            let m = run_ops(1, plan.delim_reps, Duration::from_secs(600), move |_| {
                let (b, st) = (b.clone(), st.clone());
                async move {
                    let l = st.list_all(&b, "d/", Some("/")).await?;
                    ensure!(
                        l.keys.is_empty() && l.prefixes.len() == groups,
                        "delimiter listing gave {} keys and {} prefixes, want 0 and {groups}",
                        l.keys.len(),
                        l.prefixes.len()
                    );
                    Ok(0)
                }
            })
            .await
            .with_context(|| format!("list-delim {n} on {label}"))?;
            points.push(env.point(probe, n, label, &m).await);
        }
    }
    series.push(Series {
        name: "list-delim",
        x_label: "keys in bucket",
        what: "a full ListObjectsV2 walk with delimiter '/', 128 keys per common prefix",
        points,
    });

    // CompleteMultipartUpload of N parts, timed alone.
    let mut points = Vec::new();
    for (i, &parts) in plan.complete_parts.iter().enumerate() {
        let key = "scale/complete";
        // The last part is half a part: Complete accepts a small last part.
        let size = (parts - 1) * PART_SIZE + PART_SIZE / 2;
        let payload = Payload::new(700 + i as u64, size);
        let r: Result<Point> = async {
            let up = env
                .s3
                .upload_parts(&env.a.bucket, key, payload, PART_SIZE, 4)
                .await
                .with_context(|| format!("uploading {parts} parts"))?;
            let probe = env.probe().await?;
            let t = Instant::now();
            env.s3
                .complete_multipart(&env.a.bucket, key, &up)
                .await
                .with_context(|| format!("completing {parts} parts"))?;
            let m = Measured {
                ops: 1,
                bytes: size,
                elapsed: t.elapsed(),
                latencies: vec![t.elapsed()],
            };
            let point = env.point(probe, parts, "A", &m).await;
            if env.verify {
                let got = Store::S3(env.s3.clone())
                    .get(&env.a.bucket, key, true)
                    .await?;
                ensure!(
                    got.bytes == size && got.md5 == Some(payload.md5()),
                    "the assembled object differs from its parts"
                );
            }
            Ok(point)
        }
        .await;
        points.push(match r {
            Ok(p) => p,
            Err(e) if !env.verify => Point::failed(parts, "A", &e),
            Err(e) => return Err(e),
        });
    }
    series.push(Series {
        name: "complete",
        x_label: "parts",
        what: "CompleteMultipartUpload of N parts of 5 MiB, timed alone (path A)",
        points,
    });

    // Slow uploads, all open at once (before the GETs: a peak RSS reset
    // cannot go below the current RSS, which 1024 connections raise).
    let mut points = Vec::new();
    for &n in &plan.slow_uploads {
        let probe = env.probe().await?;
        let s3 = Arc::new(env.s3.clone());
        let bucket = env.a.bucket.clone();
        let (piece, pieces, gap) = (plan.slow_piece, plan.slow_pieces, plan.slow_gap);
        let t = Instant::now();
        let lat: Result<Vec<Duration>> = stream::iter(0..n)
            .map(|i| {
                let (s3, bucket) = (s3.clone(), bucket.clone());
                async move {
                    let t = Instant::now();
                    s3.put_slowly(&bucket, &format!("slow/{i:05}"), piece, pieces, gap)
                        .await?;
                    Ok::<_, anyhow::Error>(t.elapsed())
                }
            })
            .buffer_unordered(n)
            .try_collect()
            .await
            .with_context(|| format!("{n} slow uploads"));
        let mut latencies = match lat {
            Ok(l) => l,
            Err(e) if !env.verify => {
                points.push(Point::failed(n as u64, "A", &e));
                continue;
            }
            Err(e) => return Err(e),
        };
        latencies.sort_unstable();
        let m = Measured {
            ops: n as u64,
            bytes: (n * piece * pieces) as u64,
            elapsed: t.elapsed(),
            latencies,
        };
        points.push(env.point(probe, n as u64, "A", &m).await);
    }
    series.push(Series {
        name: "slow-uploads",
        x_label: "uploads open",
        what: "simultaneous PutObjects whose bodies trickle in (path A); s3gw RSS should stay bounded",
        points,
    });

    // 4 KiB GETs at growing concurrency.
    let mut points = Vec::new();
    let digests = Digests::default();
    for (i, &c) in plan.get_concurrency.iter().enumerate() {
        let w = Workload {
            name: format!("get-4k-c{c}"),
            op: Op::Get,
            size: SMALL,
            concurrency: c,
            count: plan.get_count,
            max_duration: plan.get_duration,
            seed: 800 + i as u64,
        };
        let mut prepared = Ok(());
        for p in [&mut *env.a, &mut *env.b] {
            if prepared.is_ok() {
                prepared = p
                    .prepare(&w, &env.scale)
                    .await
                    .with_context(|| format!("preparing the 4 KiB objects on {}", p.label));
            }
        }
        if let Err(e) = prepared {
            if env.verify {
                return Err(e);
            }
            points.push(Point::failed(c as u64, "AB", &e));
            continue;
        }
        for label in ["A", "B"] {
            let probe = env.probe().await?;
            let p = if label == "A" {
                &mut *env.a
            } else {
                &mut *env.b
            };
            let r = p
                .run(&w, &env.scale, env.verify, &digests)
                .await
                .with_context(|| format!("get-4k at concurrency {c} on {label}"));
            points.push(match r {
                Ok(m) => env.point(probe, c as u64, label, &m).await,
                Err(e) if !env.verify => Point::failed(c as u64, label, &e),
                Err(e) => return Err(e),
            });
        }
    }
    series.push(Series {
        name: "get-4k",
        x_label: "concurrency",
        what: "4 KiB GETs at N connections",
        points,
    });

    if env.verify {
        for s in &series {
            if s.points.is_empty() {
                bail!("series {} has no point", s.name);
            }
        }
    }
    Ok(ScalingReport { series })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_names_have_the_promised_shape() {
        let (names, prefix) = prefix_bucket_names(1000);
        assert_eq!(names.len(), 1000);
        assert_eq!(names.iter().filter(|n| n.starts_with(&prefix)).count(), 10);
        let d = delim_bucket_names(100_000);
        let mut groups: Vec<&str> = d.iter().map(|n| &n[..7]).collect();
        groups.dedup();
        assert_eq!(groups.len(), 782);
        assert!(groups.len() < 1000, "one native page never ends on a group");
    }

    #[test]
    fn the_full_plan_has_the_series_of_the_issue() {
        let p = Plan::full();
        assert_eq!(p.list_sizes, [10_000, 100_000, 1_000_000]);
        assert!(p.delim_sizes.contains(&100_000));
        assert_eq!(p.get_concurrency, [1, 64, 256, 1024]);
        assert!(p.slow_uploads.contains(&1000));
        assert!(p.complete_parts.contains(&10) && p.complete_parts.contains(&1000));
    }
}
