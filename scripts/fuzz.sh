#!/usr/bin/env bash
# The gateway's property/fuzz targets (gateway/src/fuzz.rs: SigV4 and SigV2
# parsers and canonicalisers, the aws-chunked decoder, XML request documents,
# router and addressing, Range, listing continuation tokens), on stable Rust
# with proptest.
#
#   scripts/fuzz.sh                 one bounded pass (what scripts/test-all.sh runs;
#                                   S3GW_FUZZ_CASES cases per target, default 10000,
#                                   about a minute in all)
#   scripts/fuzz.sh --cases N       one pass of N cases per target
#   scripts/fuzz.sh --hours H       passes with fresh random seeds until H hours
#                                   (fractions allowed: --hours 0.5) have passed,
#                                   20000 cases per target per pass
#
# A failing case prints its minimal (shrunk) input and the seed; the script
# stops at the first failing pass, exits 1 and keeps the output in
# target/fuzz-failure.log. Turn the input into a named test in the
# `regressions` module of gateway/src/fuzz.rs (and fix the parser).
# Replay a run with PROPTEST_RNG_SEED=<seed> scripts/fuzz.sh --cases N.
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${S3GW_FUZZ_CASES:-10000}"
hours=""
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) cases="$2"; shift 2 ;;
        --hours) hours="$2"; cases="${S3GW_FUZZ_CASES:-20000}"; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

# Same feature set as the rest of the suite: --workspace, narrowed by filter.
run_pass() {
    S3GW_FUZZ_CASES="$cases" cargo test --workspace --lib --quiet -- fuzz:: 2>&1 \
        | tee target/fuzz-last.log
}

if [ -z "$hours" ]; then
    run_pass
    exit 0
fi

end=$(( $(date +%s) + $(awk "BEGIN { printf \"%d\", $hours * 3600 }") ))
pass=0
while [ "$(date +%s)" -lt "$end" ]; do
    pass=$((pass + 1))
    echo "==> fuzz pass $pass ($cases cases per target)"
    if ! run_pass; then
        cp target/fuzz-last.log target/fuzz-failure.log
        echo "fuzz pass $pass FAILED: see target/fuzz-failure.log" >&2
        exit 1
    fi
done
echo "fuzz: $pass passes, no failure"
