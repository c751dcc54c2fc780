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
    /// CPU seconds buckets-lite used during this path's run (preparation
    /// excluded); on path C, every process given by `--c-pids`.
    pub store_cpu_secs: Option<f64>,
    /// CPU seconds the bench process itself (the load generator) used during
    /// this path's run, from `/proc/self/stat`.
    pub bench_cpu_secs: Option<f64>,
    /// Requests the store served during this path's run (buckets-lite's
    /// `stats` extension; `None` when the store does not offer it).
    pub store_requests: Option<u64>,
    /// Connections the store accepted during this path's run.
    pub store_connections: Option<u64>,
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
            bench_cpu_secs: None,
            store_requests: None,
            store_connections: None,
        }
    }

    /// What CPU is divided by: operations, or MiB for large objects.
    fn units(&self, bandwidth: bool) -> f64 {
        if bandwidth {
            self.bytes as f64 / MIB
        } else {
            self.ops as f64
        }
    }

    /// CPU milliseconds per operation (per MiB for large objects).
    pub fn cpu_ms_per_unit(&self, secs: Option<f64>, bandwidth: bool) -> Option<f64> {
        let u = self.units(bandwidth);
        (u > 0.0).then_some(secs? * 1e3 / u)
    }

    /// A count per operation (store requests or new connections per S3 op).
    pub fn per_op(&self, n: Option<u64>) -> Option<f64> {
        (self.ops > 0).then_some(n? as f64 / self.ops as f64)
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
    /// Path C could not do this workload (why): shown as "unsupported",
    /// and the run went on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c_unsupported: Option<String>,
}

impl Row {
    /// An empty row for `w`.
    pub fn new(w: &Workload) -> Row {
        Row {
            workload: w.clone(),
            unit: if w.is_bandwidth() { "MiB/s" } else { "ops/s" },
            a: None,
            b: None,
            c: None,
            c_unsupported: None,
        }
    }

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
    /// The scaling series (`--scaling`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<crate::scaling::ScalingReport>,
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
        let mut out = if self.rows.is_empty() {
            String::new()
        } else {
            self.workload_table()
        };
        if let Some(s) = &self.scaling {
            out.push_str("Scaling series:\n");
            out.push_str(&s.table());
        }
        out
    }

    fn workload_table(&self) -> String {
        let has_c = self
            .rows
            .iter()
            .any(|r| r.c.is_some() || r.c_unsupported.is_some());
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
                l.push(if r.c_unsupported.is_some() {
                    "unsupported".into()
                } else {
                    num(c.map(|s| s.throughput), 1)
                });
                l.push(num(a.zip(c).map(|(a, c)| a.throughput / c.throughput), 2));
                l.push(num(c.map(|s| s.p50_ms), 2));
                l.push(num(c.map(|s| s.p99_ms), 2));
            }
            lines.push(l);
        }
        let mut out = render(&lines);
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
        let _ = writeln!(out);
        out.push_str(&self.cpu_table());
        let unsupported: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.c_unsupported.is_some())
            .collect();
        if !unsupported.is_empty() {
            let _ = writeln!(out, "\nUnsupported on path C:");
            for r in unsupported {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    r.workload.name,
                    r.c_unsupported.as_deref().unwrap_or_default()
                );
            }
        }
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

    /// Where the CPU went (issue 13 item 1): per path, CPU ms per operation
    /// (per MiB for large objects) of s3gw, the store and the bench itself,
    /// and the store's requests and new connections per operation.
    pub fn cpu_table(&self) -> String {
        let has_c = self.rows.iter().any(|r| r.c.is_some());
        let mut head = vec![
            "workload", "per", "s3gw A", "store A", "bench A", "store B", "bench B",
        ];
        if has_c {
            head.extend(["server C", "bench C"]);
        }
        head.extend([
            "store req/op A",
            "new conns A",
            "store req/op B",
            "new conns B",
        ]);
        let mut lines: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
        for r in &self.rows {
            let bw = r.workload.is_bandwidth();
            let (a, b) = (r.a.as_ref(), r.b.as_ref());
            let cpu = |s: Option<&PathStats>, f: fn(&PathStats) -> Option<f64>| {
                num(s.and_then(|s| s.cpu_ms_per_unit(f(s), bw)), 3)
            };
            let mut l = vec![
                r.workload.name.clone(),
                if bw { "MiB" } else { "op" }.to_string(),
                cpu(a, |s| s.s3gw_cpu_secs),
                cpu(a, |s| s.store_cpu_secs),
                cpu(a, |s| s.bench_cpu_secs),
                cpu(b, |s| s.store_cpu_secs),
                cpu(b, |s| s.bench_cpu_secs),
            ];
            if has_c {
                // Path C's server: every process given by --c-pids.
                l.push(cpu(r.c.as_ref(), |s| s.store_cpu_secs));
                l.push(cpu(r.c.as_ref(), |s| s.bench_cpu_secs));
            }
            let count = |s: Option<&PathStats>, f: fn(&PathStats) -> Option<u64>| -> [String; 2] {
                [
                    num(s.and_then(|s| s.per_op(f(s))), 2),
                    s.and_then(f).map_or("-".into(), |n| n.to_string()),
                ]
            };
            let [ra, _] = count(a, |s| s.store_requests);
            let [_, ca] = count(a, |s| s.store_connections);
            let [rb, _] = count(b, |s| s.store_requests);
            let [_, cb] = count(b, |s| s.store_connections);
            l.extend([ra, ca, rb, cb]);
            lines.push(l);
        }
        let mut out = render(&lines);
        let _ = writeln!(
            out,
            "\nCPU in ms per operation (per MiB for large objects), user + system, from /proc/<pid>/stat \
             (bench = this load generator, /proc/self/stat). store req/op = requests the store served \
             per operation; new conns = connections the store accepted during the run."
        );
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

/// A Markdown table of `lines` (the first is the header), numbers right-aligned.
pub fn render(lines: &[Vec<String>]) -> String {
    let mut out = String::new();
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
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
    out
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
            s3gw_cpu_secs: Some(0.5),
            store_cpu_secs: Some(1.0),
            bench_cpu_secs: Some(0.25),
            store_requests: Some(20),
            store_connections: Some(3),
        }
    }

    #[test]
    fn cpu_table_divides_by_operations_or_mib_and_unsupported_c_is_shown() {
        let all = all_workloads(&Scale::QUICK);
        let pick = |n: &str| all.iter().find(|w| w.name == n).unwrap().clone();
        let mut small = Row::new(&pick("get-4k-c16"));
        small.a = Some(stats(100.0, 1.0, None)); // 10 ops
        small.b = Some(stats(100.0, 1.0, None));
        let mut large = Row::new(&pick("put-1g-chunked"));
        let mut s = stats(100.0, 1.0, None);
        s.bytes = 4 << 20; // 4 MiB
        large.a = Some(s);
        large.c_unsupported = Some("HTTP 501 NotImplemented".into());
        let r = Report {
            mode: "quick".into(),
            machine: "test".into(),
            rows: vec![small, large],
            targets: vec![],
            rss_per_workload: true,
            scaling: None,
        };
        let cpu = r.cpu_table();
        let cells = |name: &str| -> Vec<String> {
            let line = cpu
                .lines()
                .find(|l| l.starts_with(&format!("| {name} ")))
                .unwrap_or_else(|| panic!("no {name} line in\n{cpu}"));
            line.split('|')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        };
        // get-4k-c16: s3gw 0.5 s / 10 ops = 50 ms, store 100 ms, bench 25 ms,
        // 2 store requests per op, 3 new connections.
        assert_eq!(
            cells("get-4k-c16"),
            [
                "get-4k-c16",
                "op",
                "50.000",
                "100.000",
                "25.000",
                "100.000",
                "25.000",
                "2.00",
                "3",
                "2.00",
                "3"
            ]
        );
        // put-1g-chunked: per MiB (4 MiB): s3gw 125 ms/MiB; no path B.
        assert_eq!(
            cells("put-1g-chunked"),
            [
                "put-1g-chunked",
                "MiB",
                "125.000",
                "250.000",
                "62.500",
                "-",
                "-",
                "2.00",
                "3",
                "-",
                "-"
            ]
        );
        let table = r.table();
        assert!(table.contains("unsupported"), "{table}");
        assert!(
            table.contains("put-1g-chunked: HTTP 501 NotImplemented"),
            "{table}"
        );
    }

    #[test]
    fn cpu_table_shows_path_c_server_and_bench_cpu() {
        let all = all_workloads(&Scale::QUICK);
        let pick = |n: &str| all.iter().find(|w| w.name == n).unwrap().clone();
        let mut row = Row::new(&pick("get-4k-c16"));
        row.a = Some(stats(100.0, 1.0, None)); // 10 ops
        let mut c = stats(50.0, 1.0, None);
        c.store_cpu_secs = Some(2.0); // the server C: 200 ms per op
        c.bench_cpu_secs = Some(0.1); // 10 ms per op
        row.c = Some(c);
        let r = Report {
            mode: "quick".into(),
            machine: "test".into(),
            rows: vec![row],
            targets: vec![],
            rss_per_workload: true,
            scaling: None,
        };
        let cpu = r.cpu_table();
        let cell = |line: &str, i: usize| -> String {
            line.split('|')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .nth(i)
                .unwrap()
        };
        let head = cpu.lines().find(|l| l.starts_with("| workload")).unwrap();
        let line = cpu
            .lines()
            .find(|l| l.starts_with("| get-4k-c16 "))
            .unwrap();
        assert_eq!(cell(head, 7), "server C", "{cpu}");
        assert_eq!(cell(line, 7), "200.000", "{cpu}");
        assert_eq!(cell(head, 8), "bench C", "{cpu}");
        assert_eq!(cell(line, 8), "10.000", "{cpu}");
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
                    c_unsupported: None,
                },
                Row {
                    workload: pick("put-4k-c16"),
                    unit: "ops/s",
                    a: Some(stats(600.0, 1.8, Some(300 << 20))),
                    b: Some(stats(1000.0, 1.0, None)),
                    c: None,
                    c_unsupported: None,
                },
            ],
            targets: vec![],
            rss_per_workload: true,
            scaling: None,
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
