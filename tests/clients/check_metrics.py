"""Parses s3gw /metrics scrapes with the Prometheus project's Python parsers.

Usage: check_metrics.py SCRAPE_FILE...

Each file is parsed twice: by prometheus_client.parser (the Prometheus text
parser) and by prometheus_client.openmetrics.parser (strict OpenMetrics, the
format s3gw serves). For every histogram series (labels without `le`) the
buckets must be non-decreasing in `le` order, `+Inf` must be present and equal
`_count`. Prints one JSON object: the number of scrapes and histogram series
checked, and the families of the last scrape (type and label names).
Exits 1 with the reason on the first violation.
"""

import json
import math
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families


def check_histograms(families, where):
    checked = 0
    for fam in families:
        if fam.type != "histogram":
            continue
        series = {}
        for s in fam.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            entry = series.setdefault(key, {"buckets": [], "count": None})
            if s.name == fam.name + "_bucket":
                le = s.labels["le"]
                entry["buckets"].append((math.inf if le == "+Inf" else float(le), s.value))
            elif s.name == fam.name + "_count":
                entry["count"] = s.value
        for key, e in series.items():
            b = sorted(e["buckets"])
            if not b or b[-1][0] != math.inf:
                fail(f"{where}: {fam.name}{dict(key)} has no +Inf bucket")
            for (le1, v1), (le2, v2) in zip(b, b[1:]):
                if v2 < v1:
                    fail(f"{where}: {fam.name}{dict(key)} bucket le={le2} ({v2}) < le={le1} ({v1})")
            if e["count"] is None or b[-1][1] != e["count"]:
                fail(f"{where}: {fam.name}{dict(key)} +Inf {b[-1][1]} != _count {e['count']}")
            checked += 1
    return checked


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def main(paths):
    checked = 0
    last = {}
    for p in paths:
        with open(p, encoding="utf-8") as f:
            text = f.read()
        try:
            fams = list(text_families(text))
            strict = list(openmetrics_families(text))
        except ValueError as e:
            fail(f"{p}: does not parse: {e}")
        checked += check_histograms(fams, p + " (text parser)")
        check_histograms(strict, p + " (openmetrics parser)")
        last = {
            f.name: {
                "type": f.type,
                "labels": sorted({k for s in f.samples for k in s.labels if k != "le"}),
            }
            for f in strict
        }
    print(json.dumps({"scrapes": len(paths), "histograms_checked": checked, "families": last}))


if __name__ == "__main__":
    main(sys.argv[1:])
