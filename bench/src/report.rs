//! The run's results: one table (issue 8, item 3), the targets checked
//! against it, and the same data as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::workload::{Measured, Workload};

/// One path's numbers for one workload.
#[derive(Debug, Clone, Serialize)]
pub struct PathStats {
    /// ops/s, or MiB/s for large objects.
    pub throughput: f64,
    pub ops: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Peak RSS (VmHWM) of s3gw during this path's run, bytes.
    pub s3gw_peak_rss: Option<u64>,
    /// Peak RSS (VmHWM) of buckets-lite during this path's run, bytes.
    pub store_peak_rss: Option<u64>,
    /// CPU seconds s3gw used during this path's run (preparation excluded).
    pub s3gw_cpu_secs: Option<f64>,
    /// CPU seconds buckets-lite used during this path's run (preparation excluded).
    pub store_cpu_secs: Option<f64>,
}

impl PathStats {
    pub fn new(w: &Workload, m: &Measured, s3gw: Option<u64>, store: Option<u64>) -> Self {
        PathStats {
            throughput: if w.is_bandwidth() {
                m.mib_per_sec()
            } else {
                m.ops_per_sec()
            },
            ops: m.ops,
            bytes: m.bytes,
            seconds: m.elapsed.as_secs_f64(),
            p50_ms: m.percentile(50.0).as_secs_f64() * 1e3,
            p99_ms: m.percentile(99.0).as_secs_f64() * 1e3,
            s3gw_peak_rss: s3gw,
            store_peak_rss: store,
            s3gw_cpu_secs: None,
            store_cpu_secs: None,
        }
    }
}

/// One workload's line.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: Workload,
    pub unit: &'static str,
    pub a: Option<PathStats>,
    pub b: Option<PathStats>,
    pub c: Option<PathStats>,
}

impl Row {
    /// Throughput of A over B.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.a.as_ref()?.throughput / self.b.as_ref()?.throughput)
    }
    /// p50 latency A adds over B, ms.
    pub fn added_p50_ms(&self) -> Option<f64> {
        Some(self.a.as_ref()?.p50_ms - self.b.as_ref()?.p50_ms)
    }
}

/// One target of issue 8 and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: String,
    pub machine: String,
    pub rows: Vec<Row>,
    pub targets: Vec<TargetCheck>,
    /// Whether peak RSS was reset before each path's run (per-workload peaks)
    /// or is the processes' lifetime peak.
    pub rss_per_workload: bool,
}

const MIB: f64 = 1024.0 * 1024.0;

fn rss(v: Option<u64>) -> String {
    v.map_or("-".into(), |b| format!("{:.0}", b as f64 / MIB))
}

fn num(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

impl Report {
    /// The human table: one row per workload.
    pub fn table(&self) -> String {
        let has_c = self.rows.iter().any(|r| r.c.is_some());
        let mut head = vec![
            "workload",
            "unit",
            "A",
            "B",
            "A/B",
            "p50 A",
            "p50 B",
            "+p50",
            "p99 A",
            "p99 B",
            "s3gw MiB",
            "store MiB",
        ];
        if has_c {
            head.extend(["C", "A/C", "p50 C", "p99 C"]);
        }
        let mut lines: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
        for r in &self.rows {
            let a = r.a.as_ref();
            let b = r.b.as_ref();
            let store_peak = [
                a.and_then(|s| s.store_peak_rss),
                b.and_then(|s| s.store_peak_rss),
            ]
            .into_iter()
            .flatten()
            .max();
            let mut l = vec![
                r.workload.name.clone(),
                r.unit.to_string(),
                num(a.map(|s| s.throughput), 1),
                num(b.map(|s| s.throughput), 1),
                num(r.ratio(), 2),
                num(a.map(|s| s.p50_ms), 2),
                num(b.map(|s| s.p50_ms), 2),
                num(r.added_p50_ms(), 2),
                num(a.map(|s| s.p99_ms), 2),
                num(b.map(|s| s.p99_ms), 2),
                rss(a.and_then(|s| s.s3gw_peak_rss)),
                rss(store_peak),
            ];
            if has_c {
                let c = r.c.as_ref();
                l.push(num(c.map(|s| s.throughput), 1));
                l.push(num(a.zip(c).map(|(a, c)| a.throughput / c.throughput), 2));
                l.push(num(c.map(|s| s.p50_ms), 2));
                l.push(num(c.map(|s| s.p99_ms), 2));
            }
            lines.push(l);
        }
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (n, l) in lines.iter().enumerate() {
            let cells: Vec<String> = l
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
            if n == 0 {
                let rule: Vec<String> = widths
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        if i == 0 {
                            "-".repeat(*w)
                        } else {
                            format!("{}:", "-".repeat(w.saturating_sub(1)))
                        }
                    })
                    .collect();
                let _ = writeln!(out, "| {} |", rule.join(" | "));
            }
        }
        let _ = writeln!(
            out,
            "\nA = S3 through s3gw in front of buckets-lite, B = native buckets API straight to buckets-lite{}.\n\
             Latencies in ms; +p50 = p50 A - p50 B; RSS = peak resident set (VmHWM) {}.",
            if has_c { ", C = the other S3 endpoint" } else { "" },
            if self.rss_per_workload {
                "during the workload (s3gw: path A; store: max of A and B)"
            } else {
                "over the processes' lifetime (could not reset it per workload)"
            }
        );
        if !self.targets.is_empty() {
            let _ = writeln!(out, "\nTargets (issue 8):");
            for t in &self.targets {
                let _ = writeln!(
                    out,
                    "  [{}] {}: {}",
                    if t.met { " met " } else { "MISSED" },
                    t.target,
                    t.measured
                );
            }
        }
        out
    }

    /// Checks the targets against the rows that were run.
    pub fn check_targets(&mut self) {
        let mut out = Vec::new();
        let find = |name: &str| self.rows.iter().find(|r| r.workload.name == name);
        for (name, min) in [
            ("get-1g", 0.90),
            ("put-1g-unsigned", 0.85),
            ("put-1g-sha256", 0.70),
            ("put-1g-chunked", 0.70),
            ("get-4k-c16", 0.70),
            ("put-4k-c16", 0.70),
            ("multipart-1g", 0.45),
        ] {
            if let Some(ratio) = find(name).and_then(Row::ratio) {
                out.push(TargetCheck {
                    target: format!("{name} A/B >= {min:.2}"),
                    measured: format!("{ratio:.2}"),
                    met: ratio >= min,
                });
            }
        }
        for name in ["get-4k-c16", "put-4k-c16"] {
            if let Some(added) = find(name).and_then(Row::added_p50_ms) {
                out.push(TargetCheck {
                    target: format!("{name} added p50 < 0.5 ms"),
                    measured: format!("{added:.2} ms"),
                    met: added < 0.5,
                });
            }
        }
        let peak = |pred: &dyn Fn(&Row) -> bool| {
            self.rows
                .iter()
                .filter(|r| pred(r))
                .filter_map(|r| r.a.as_ref()?.s3gw_peak_rss)
                .max()
        };
        if let Some(p) = peak(&|r| r.workload.is_bandwidth()) {
            out.push(TargetCheck {
                target: "s3gw peak RSS < 64 MiB while moving a 1 GiB object".into(),
                measured: format!("{:.1} MiB", p as f64 / MIB),
                met: (p as f64) < 64.0 * MIB,
            });
        }
        if let Some(p) = peak(&|r| r.workload.concurrency >= 64) {
            out.push(TargetCheck {
                target: "s3gw peak RSS < 256 MiB at concurrency 64".into(),
                measured: format!("{:.1} MiB", p as f64 / MIB),
                met: (p as f64) < 256.0 * MIB,
            });
        }
        self.targets = out;
    }
}

/// A one-line description of this machine (CPU model, cores, memory, kernel).
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or("? GiB".into(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, {mem} RAM, Linux {}", kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{all_workloads, Scale};

    fn stats(throughput: f64, p50: f64, rss: Option<u64>) -> PathStats {
        PathStats {
            throughput,
            ops: 10,
            bytes: 0,
            seconds: 1.0,
            p50_ms: p50,
            p99_ms: p50 * 2.0,
            s3gw_peak_rss: rss,
            store_peak_rss: Some(10 << 20),
            s3gw_cpu_secs: None,
            store_cpu_secs: None,
        }
    }

    #[test]
    fn table_has_ratios_and_targets_are_checked() {
        let all = all_workloads(&Scale::QUICK);
        let pick = |n: &str| all.iter().find(|w| w.name == n).unwrap().clone();
        let mut r = Report {
            mode: "quick".into(),
            machine: "test".into(),
            rows: vec![
                Row {
                    workload: pick("get-1g"),
                    unit: "MiB/s",
                    a: Some(stats(450.0, 1.0, Some(40 << 20))),
                    b: Some(stats(500.0, 1.0, None)),
                    c: None,
                },
                Row {
                    workload: pick("put-4k-c16"),
                    unit: "ops/s",
                    a: Some(stats(600.0, 1.8, Some(300 << 20))),
                    b: Some(stats(1000.0, 1.0, None)),
                    c: None,
                },
            ],
            targets: vec![],
            rss_per_workload: true,
        };
        r.check_targets();
        let table = r.table();
        assert!(table.contains("| get-1g "), "{table}");
        assert!(table.contains("0.90"), "{table}");
        let met = |t: &str| {
            r.targets
                .iter()
                .find(|c| c.target.starts_with(t))
                .unwrap()
                .met
        };
        assert!(met("get-1g A/B"));
        assert!(!met("put-4k-c16 A/B"));
        assert!(!met("put-4k-c16 added p50"));
        assert!(met("s3gw peak RSS < 64 MiB"));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"throughput\":450.0"));
    }
}
