#!/usr/bin/env bash
# The whole s3gw test suite, as CI runs it (`.ci/run` calls exactly this).
#
# Installs what it needs on a fresh Debian machine (slapd, ldap-utils, s3cmd,
# rclone, curl; awscli and boto3 in a virtual environment under target/),
# then: cargo fmt --check, clippy with -D warnings, builds every binary, runs
# every Rust test (unit, contract, LDAP, end-to-end, and the real-code suite
# against the real Manta buckets stack that scripts/real-manta.sh brings up
# from ../shared/real-manta), the real-client matrix, and the benchmark's
# smoke mode.
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
    step "system packages (slapd, ldap-utils, s3cmd, rclone, curl)"
    missing=()
    for pair in slapd:slapd ldapsearch:ldap-utils s3cmd:s3cmd rclone:rclone curl:curl; do
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
    if [ ! -x target/venv/bin/aws ] || ! target/venv/bin/python -c 'import boto3' 2>/dev/null; then
        python3 -m venv target/venv
        target/venv/bin/pip install -q --disable-pip-version-check -r tests/clients/requirements.txt
    fi
    echo "ok: $(target/venv/bin/aws --version 2>&1)"
fi
export PATH="$ROOT/target/venv/bin:/usr/sbin:$PATH"

# ---------------------------------------------------------------- static checks
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# ---------------------------------------------------------------- tests
step "build every binary (tests start them as real processes)"
cargo build --workspace --bins --quiet

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
cargo test --workspace --no-fail-fast -- --test-threads="${S3GW_TEST_THREADS:-4}"

step "real Manta stack down"
$SUDO scripts/real-manta.sh down
trap - EXIT

if [ -x tests/clients/run.sh ]; then
    step "real-client matrix (aws cli, boto3, s3cmd, rclone)"
    tests/clients/run.sh
fi

if cargo metadata --no-deps --format-version 1 | grep -q '"name":"s3gw-bench"' && [ -f bench/src/main.rs ]; then
    step "benchmark smoke mode (correctness only, never timings)"
    cargo run --quiet -p s3gw-bench -- --smoke
fi

step "all passed in $(( $(date +%s) - start ))s"
