//! Workloads (issue 8, item 2) and the engine that runs one on one path.
//!
//! Every workload has a fixed seed (its data and its key choices are the same
//! on every path and every run), a bounded operation count and a bounded
//! duration (whichever ends first). Preparation (buckets, objects to read,
//! the 10,000 keys to list, payload digests) is done before the clock starts.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::data::Payload;
use crate::store::{PutMode, Store};

/// 4 KiB: the small-object size of the issue.
pub const SMALL: u64 = 4 * 1024;
/// Multipart part size of the issue (8 MiB).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Parts in flight during the multipart workload (the AWS CLI uses up to 10;
/// 4 keeps a 2-core machine busy without measuring queueing).
pub const PART_CONCURRENCY: usize = 4;

/// How an S3 PUT signs its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signing {
    Unsigned,
    Sha256,
    Chunked,
}

/// The operation a workload repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum Op {
    Put {
        signing: Signing,
    },
    Get,
    Head,
    /// A full ListObjectsV2 walk (every page) of the list prefix.
    List {
        delimiter: bool,
    },
    /// CreateMultipartUpload, the parts, Complete; path B: one native PUT.
    Multipart,
}

/// One workload, fully determined.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Workload {
    pub name: String,
    pub op: Op,
    /// Object size in bytes (0 for listings).
    pub size: u64,
    pub concurrency: usize,
    /// Upper bound on operations.
    pub count: u64,
    /// Upper bound on the measured time (checked before each operation starts).
    #[serde(serialize_with = "ser_secs")]
    pub max_duration: Duration,
    pub seed: u64,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Workload {
    /// Throughput is reported in MiB/s for large objects, ops/s otherwise.
    pub fn is_bandwidth(&self) -> bool {
        self.size >= 1024 * 1024
    }
}

/// Sizes and bounds of one kind of run.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Max operations of a 4 KiB workload.
    pub small_count: u64,
    /// Max duration of a 4 KiB / HEAD / list workload.
    pub small_duration: Duration,
    /// Distinct 4 KiB objects prepared for GET and HEAD.
    pub small_objects: u64,
    /// Size of the "1 GiB" object.
    pub large_size: u64,
    /// Repetitions of each large-object workload.
    pub large_count: u64,
    /// Max duration of a large-object workload.
    pub large_duration: Duration,
    /// Keys prepared for the listing workloads.
    pub list_keys: u64,
    /// Max full listings per listing workload.
    pub list_count: u64,
    /// Max full listings of the delimiter workload: a grouped walk of the
    /// same keys is a few ms, so a handful would time the noise.
    pub delim_list_count: u64,
}

impl Scale {
    pub const FULL: Scale = Scale {
        small_count: 20_000,
        small_duration: Duration::from_secs(20),
        small_objects: 1000,
        large_size: 1 << 30,
        large_count: 3,
        large_duration: Duration::from_secs(120),
        list_keys: 10_000,
        list_count: 20,
        delim_list_count: 2_000,
    };
    pub const QUICK: Scale = Scale {
        small_count: 4_000,
        small_duration: Duration::from_secs(3),
        small_objects: 500,
        large_size: 1 << 30,
        large_count: 1,
        large_duration: Duration::from_secs(60),
        list_keys: 10_000,
        list_count: 3,
        delim_list_count: 300,
    };
    /// Correctness only: a few operations each, small objects, never timings.
    pub const SMOKE: Scale = Scale {
        small_count: 4,
        small_duration: Duration::from_secs(60),
        small_objects: 16,
        large_size: 12 * 1024 * 1024,
        large_count: 1,
        large_duration: Duration::from_secs(60),
        list_keys: 1_200,
        list_count: 1,
        delim_list_count: 1,
    };
}

/// Every workload of issue 8, in run order, at a scale.
pub fn all_workloads(scale: &Scale) -> Vec<Workload> {
    let mut w = Vec::new();
    let small = |name: String, op: Op, concurrency: usize, seed: u64| Workload {
        name,
        op,
        size: SMALL,
        concurrency,
        count: scale.small_count,
        max_duration: scale.small_duration,
        seed,
    };
    for (i, c) in [1usize, 16, 64].into_iter().enumerate() {
        w.push(small(
            format!("put-4k-c{c}"),
            Op::Put {
                signing: Signing::Unsigned,
            },
            c,
            100 + i as u64,
        ));
    }
    for (i, c) in [1usize, 16, 64].into_iter().enumerate() {
        w.push(small(format!("get-4k-c{c}"), Op::Get, c, 200 + i as u64));
    }
    w.push(small("head-4k-c64".into(), Op::Head, 64, 300));
    let large = |name: &str, op: Op, seed: u64| Workload {
        name: name.into(),
        op,
        size: scale.large_size,
        concurrency: 1,
        count: scale.large_count,
        max_duration: scale.large_duration,
        seed,
    };
    w.push(large(
        "put-1g-unsigned",
        Op::Put {
            signing: Signing::Unsigned,
        },
        400,
    ));
    w.push(large(
        "put-1g-sha256",
        Op::Put {
            signing: Signing::Sha256,
        },
        401,
    ));
    w.push(large(
        "put-1g-chunked",
        Op::Put {
            signing: Signing::Chunked,
        },
        402,
    ));
    // A GET of the GiB takes about a second from the page cache: three of
    // them, so that one scheduling hiccup does not make the ratio.
    w.push(Workload {
        count: scale.large_count * 3,
        ..large("get-1g", Op::Get, 403)
    });
    w.push(large("multipart-1g", Op::Multipart, 404));
    for (name, delimiter, seed) in [("list-10k", false, 500), ("list-10k-delim", true, 501)] {
        w.push(Workload {
            name: name.into(),
            op: Op::List { delimiter },
            size: 0,
            concurrency: 1,
            count: if delimiter {
                scale.delim_list_count
            } else {
                scale.list_count
            },
            max_duration: scale.small_duration.max(Duration::from_secs(5)),
            seed,
        });
    }
    w
}

/// Timings of one workload on one path.
#[derive(Debug, Clone)]
pub struct Measured {
    pub ops: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
}

impl Measured {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64()
    }
    /// Nearest-rank percentile.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

/// Runs `op(i)` for i = 0.. with `concurrency` workers until `count` operations
/// were started or `max_duration` passed. `op` returns bytes moved.
pub async fn run_ops<F, Fut>(
    concurrency: usize,
    count: u64,
    max_duration: Duration,
    op: F,
) -> Result<Measured>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut bytes = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || start.elapsed() >= max_duration {
                    return Ok::<_, anyhow::Error>((lat, bytes));
                }
                let t = Instant::now();
                bytes += op(i).await.with_context(|| format!("operation {i}"))?;
                lat.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut bytes = 0;
    let mut first_err = None;
    for t in tasks {
        match t.await.context("worker panicked")? {
            Ok((l, b)) => {
                latencies.extend(l);
                bytes += b;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let elapsed = start.elapsed();
    if let Some(e) = first_err {
        return Err(e);
    }
    latencies.sort_unstable();
    Ok(Measured {
        ops: latencies.len() as u64,
        bytes,
        elapsed,
        latencies,
    })
}

/// One path under test: its client, its bucket and what is already prepared.
pub struct Path {
    pub label: &'static str,
    pub store: Store,
    pub bucket: String,
    prepared_small: u64,
    prepared_list: u64,
    /// (seed, size) of the large object readable at `LARGE_KEY`.
    prepared_large: Option<(u64, u64)>,
}

/// Key prefix of the prepared 4 KiB objects.
const SMALL_PREFIX: &str = "obj4k/";
/// Key prefix of the listing keys.
pub const LIST_PREFIX: &str = "list/";
/// Key of the large object GET reads.
const LARGE_KEY: &str = "large/get";
/// Seed of the prepared 4 KiB objects (object i uses seed `SMALL_SEED + i`).
const SMALL_SEED: u64 = 10_000;
/// Parallel PUTs while preparing.
const PREPARE_CONCURRENCY: usize = 32;

/// The listing keys: `list/dNN/kNNNNN`, 100 keys per "directory".
pub fn list_key(i: u64) -> String {
    format!("{LIST_PREFIX}d{:03}/k{i:05}", i / 100)
}

impl Path {
    pub fn new(label: &'static str, store: Store, bucket: String) -> Self {
        Path {
            label,
            store,
            bucket,
            prepared_small: 0,
            prepared_list: 0,
            prepared_large: None,
        }
    }

    /// Creates the bucket and checks the path answers at all.
    pub async fn setup(&mut self) -> Result<()> {
        self.store
            .create_bucket(&self.bucket)
            .await
            .with_context(|| format!("path {}: creating bucket {}", self.label, self.bucket))
    }

    async fn put_many(&self, keys: Vec<(String, Payload)>) -> Result<()> {
        let store = &self.store;
        let bucket = &self.bucket;
        stream::iter(keys)
            .map(|(k, p)| async move { store.put(bucket, &k, p, &PutMode::Unsigned).await })
            .buffer_unordered(PREPARE_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    /// Makes what `w` reads exist (idempotent: [`Path::run`] calls it too).
    pub async fn prepare(&mut self, w: &Workload, scale: &Scale) -> Result<()> {
        match w.op {
            Op::Get | Op::Head if w.size == SMALL && self.prepared_small < scale.small_objects => {
                let keys = (self.prepared_small..scale.small_objects)
                    .map(|i| {
                        (
                            format!("{SMALL_PREFIX}{i:05}"),
                            Payload::new(SMALL_SEED + i, SMALL),
                        )
                    })
                    .collect();
                self.put_many(keys).await?;
                self.prepared_small = scale.small_objects;
            }
            Op::Get if w.size > SMALL && self.prepared_large != Some((w.seed, w.size)) => {
                let p = Payload::new(w.seed, w.size);
                self.store
                    .put(&self.bucket, LARGE_KEY, p, &PutMode::Unsigned)
                    .await?;
                self.prepared_large = Some((w.seed, w.size));
            }
            Op::List { .. } if self.prepared_list < scale.list_keys => {
                let keys = (self.prepared_list..scale.list_keys)
                    .map(|i| (list_key(i), Payload::new(i, 0)))
                    .collect();
                self.put_many(keys).await?;
                self.prepared_list = scale.list_keys;
            }
            _ => {}
        }
        Ok(())
    }

    /// Prepares and runs one workload. With `verify`, every operation checks its
    /// result (bytes read back and compared by MD5, listings counted): smoke mode.
    pub async fn run(
        &mut self,
        w: &Workload,
        scale: &Scale,
        verify: bool,
        digests: &Digests,
    ) -> Result<Measured> {
        self.prepare(w, scale)
            .await
            .with_context(|| format!("path {}: preparing {}", self.label, w.name))?;
        let store = self.store.clone();
        let bucket = self.bucket.clone();
        let w2 = w.clone();
        let small_objects = scale.small_objects;
        let list_keys = scale.list_keys;
        let sha = match w.op {
            Op::Put {
                signing: Signing::Sha256,
            } => Some(digests.sha256(Payload::new(w.seed, w.size))),
            _ => None,
        };
        // Per-workload deterministic key choice for reads.
        let picks: Arc<Vec<u64>> = Arc::new({
            let mut rng = StdRng::seed_from_u64(w.seed);
            let n = w.count.min(1_000_000);
            (0..n)
                .map(|_| rng.gen_range(0..small_objects.max(1)))
                .collect()
        });
        let label = self.label;
        run_ops(w.concurrency, w.count, w.max_duration, move |i| {
            let (store, bucket, w, picks, sha) =
                (store.clone(), bucket.clone(), w2.clone(), picks.clone(), sha.clone());
            async move {
                match w.op {
                    Op::Put { signing } => {
                        // Small PUTs write distinct objects; large ones overwrite one key.
                        let (key, p) = if w.size == SMALL {
                            (format!("put4k/{i:06}"), Payload::new(w.seed * 1_000_000 + i, w.size))
                        } else {
                            // One key for every large PUT variant: each overwrites the
                            // last, so the disk holds one copy, not one per variant.
                            ("large/put".to_string(), Payload::new(w.seed, w.size))
                        };
                        let mode = match signing {
                            Signing::Unsigned => PutMode::Unsigned,
                            Signing::Sha256 => PutMode::SignedSha256(sha.expect("digest computed")),
                            Signing::Chunked => PutMode::Chunked,
                        };
                        store.put(&bucket, &key, p, &mode).await?;
                        if verify {
                            check_read(&store, &bucket, &key, p).await?;
                        }
                        Ok(p.len)
                    }
                    Op::Get => {
                        let (key, p) = if w.size == SMALL {
                            let k = picks[(i as usize) % picks.len()];
                            (format!("{SMALL_PREFIX}{k:05}"), Payload::new(SMALL_SEED + k, SMALL))
                        } else {
                            (LARGE_KEY.to_string(), Payload::new(w.seed, w.size))
                        };
                        let got = store.get(&bucket, &key, verify).await?;
                        ensure!(got.bytes == p.len, "GET {key}: {} bytes, want {}", got.bytes, p.len);
                        if verify {
                            ensure!(got.md5 == Some(p.md5()), "GET {key}: wrong bytes");
                        }
                        Ok(got.bytes)
                    }
                    Op::Head => {
                        let k = picks[(i as usize) % picks.len()];
                        let len = store.head(&bucket, &format!("{SMALL_PREFIX}{k:05}")).await?;
                        ensure!(len == SMALL, "HEAD: Content-Length {len}, want {SMALL}");
                        Ok(0)
                    }
                    Op::List { delimiter } => {
                        let l = store
                            .list_all(&bucket, LIST_PREFIX, delimiter.then_some("/"))
                            .await?;
                        if delimiter {
                            let want = list_keys.div_ceil(100) as usize;
                            ensure!(
                                l.keys.is_empty() && l.prefixes.len() == want,
                                "{label}: delimiter listing gave {} keys and {} prefixes, want 0 and {want}",
                                l.keys.len(),
                                l.prefixes.len()
                            );
                        } else {
                            ensure!(
                                l.keys.len() as u64 == list_keys,
                                "{label}: listing gave {} keys, want {list_keys}",
                                l.keys.len()
                            );
                            if verify {
                                let want: Vec<String> = (0..list_keys).map(list_key).collect();
                                ensure!(l.keys == want, "{label}: listing keys differ");
                            }
                        }
                        Ok(0)
                    }
                    Op::Multipart => {
                        let key = "large/multipart";
                        let p = Payload::new(w.seed, w.size);
                        store
                            .multipart_put(&bucket, key, p, PART_SIZE, PART_CONCURRENCY)
                            .await?;
                        if verify {
                            check_read(&store, &bucket, key, p).await?;
                        }
                        Ok(p.len)
                    }
                }
            }
        })
        .await
        .with_context(|| format!("path {}: {}", self.label, w.name))
    }
}

/// Reads an object back and compares its MD5 with the payload's.
async fn check_read(store: &Store, bucket: &str, key: &str, p: Payload) -> Result<()> {
    let got = store.get(bucket, key, true).await?;
    if got.bytes != p.len || got.md5 != Some(p.md5()) {
        bail!(
            "{key}: read back {} bytes that differ from what was written",
            got.bytes
        );
    }
    Ok(())
}

/// SHA-256 digests of large payloads, computed once per (seed, size) before
/// the clock starts.
#[derive(Default)]
pub struct Digests {
    cache: std::sync::Mutex<std::collections::HashMap<(u64, u64), String>>,
}

impl Digests {
    pub fn sha256(&self, p: Payload) -> String {
        let mut c = self.cache.lock().expect("digest cache");
        c.entry((p.seed, p.len))
            .or_insert_with(|| p.sha256_hex())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn run_ops_stops_at_the_count() {
        let m = run_ops(4, 10, Duration::from_secs(60), |_| async { Ok(3) })
            .await
            .unwrap();
        assert_eq!(m.ops, 10);
        assert_eq!(m.bytes, 30);
    }

    #[tokio::test]
    async fn run_ops_stops_at_the_duration() {
        let m = run_ops(2, u64::MAX, Duration::from_millis(50), |_| async {
            tokio::task::yield_now().await;
            Ok(0)
        })
        .await
        .unwrap();
        assert!(m.ops > 0 && m.ops < u64::MAX);
        assert!(m.elapsed >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn run_ops_reports_the_first_error() {
        let r = run_ops(2, 100, Duration::from_secs(60), |i| async move {
            if i == 5 {
                bail!("boom")
            }
            Ok(0)
        })
        .await;
        assert!(format!("{:#}", r.unwrap_err()).contains("boom"));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let m = Measured {
            ops: 100,
            bytes: 0,
            elapsed: Duration::from_secs(1),
            latencies: (1..=100).map(Duration::from_millis).collect(),
        };
        assert_eq!(m.percentile(50.0), Duration::from_millis(50));
        assert_eq!(m.percentile(99.0), Duration::from_millis(99));
        assert_eq!(m.percentile(100.0), Duration::from_millis(100));
    }

    #[test]
    fn every_workload_of_the_issue_is_there_with_bounds() {
        let all = all_workloads(&Scale::FULL);
        let names: Vec<&str> = all.iter().map(|w| w.name.as_str()).collect();
        for n in [
            "put-4k-c1",
            "put-4k-c16",
            "put-4k-c64",
            "get-4k-c1",
            "get-4k-c16",
            "get-4k-c64",
            "head-4k-c64",
            "put-1g-unsigned",
            "put-1g-sha256",
            "put-1g-chunked",
            "get-1g",
            "multipart-1g",
            "list-10k",
            "list-10k-delim",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
        assert!(all
            .iter()
            .all(|w| w.count > 0 && w.max_duration > Duration::ZERO));
        let mut seeds: Vec<u64> = all.iter().map(|w| w.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), all.len(), "seeds are distinct");
    }

    #[test]
    fn list_keys_group_by_hundred() {
        assert_eq!(list_key(0), "list/d000/k00000");
        assert_eq!(list_key(9_999), "list/d099/k09999");
    }
}
