#!/usr/bin/env bash
#
# real-manta.sh up|down|status -- the real Manta buckets stack on 127.0.0.1,
# for the real-code suite (tests/tests/real_manta.rs, docs/operations.md).
#
# Wraps the pinned stack beside the repository (../shared/real-manta: the real
# manta-buckets-api, buckets-mdapi over PostgreSQL, mdplacement and mahi,
# with stand-ins for storinfo, storage nodes and DNS; see its README.md) and
# adds the identity s3gw runs with in production: an operator account (member
# of cn=operators) with an ECDSA P-256 key, and tenant accounts without keys,
# loaded into the stand-in mahi through mahi's real replicator transforms.
#
#   up      install what is missing (apt, as root), start the stack (cold
#           about 2.5 minutes; when it is already up and healthy, seconds),
#           load the s3gw identity, print where everything is
#   down    stop everything by recorded pid (--purge also drops the data)
#   status  exit 0 and print the endpoint when the stack answers, else 1
#
# Environment:
#   REAL_MANTA_DIR   working directory (default /var/tmp/real-manta)
#   REAL_MANTA_SRC   the pinned stack (default <repo>/../shared/real-manta,
#                    else <repo>/../../shared/real-manta)
#
# Identity written to $REAL_MANTA_DIR/s3gw/ (what the test harness reads):
#   operator.key     the operator's private key (SEC1 PEM, P-256)
#   identity.env     OPERATOR_LOGIN, OPERATOR_UUID, TENANTS (login:uuid ...)
#   changelog.json   the UFDS-style changelog mahi loaded
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The pinned stack sits beside the repository (CI: a read-only shared/ next
# to the clone); a worktree one level further down finds it one level up.
if [[ -z ${REAL_MANTA_SRC:-} ]]; then
    for d in "$ROOT/../shared/real-manta" "$ROOT/../../shared/real-manta"; do
        [[ -x $d/up.sh ]] && { REAL_MANTA_SRC=$(cd "$d" && pwd); break; }
    done
fi
SRC=${REAL_MANTA_SRC:-$ROOT/../shared/real-manta}
export REAL_MANTA_DIR=${REAL_MANTA_DIR:-/var/tmp/real-manta}
S=$REAL_MANTA_DIR
ID=$S/s3gw
API_PORT=8081
MAHI_PORT=18080
NODE6=$S/node6/package/bin/node

OPERATOR_LOGIN=s3gw-operator
OPERATOR_UUID=5b0a9a44-2f6b-4f0e-9c52-5d1f2a7b0c01
# Tenants without keys: s3gw's operator acts for them.
TENANTS="alice:0e3b4a8e-7c1d-4c51-9a55-1f7a6b2c3d01 bob:0e3b4a8e-7c1d-4c51-9a55-1f7a6b2c3d02 carol:0e3b4a8e-7c1d-4c51-9a55-1f7a6b2c3d03 dave:0e3b4a8e-7c1d-4c51-9a55-1f7a6b2c3d04"
# The account up.sh creates (with its own RSA key), kept as it is.
SPIKE_LOGIN=spike
SPIKE_UUID=930896af-bf8c-48d4-885c-6573a94b1853

T0=$(date +%s)
say() { echo "[real-manta +$(( $(date +%s) - T0 ))s] $*"; }
die() { echo "real-manta: $*" >&2; exit 1; }

alive() { [[ -f $S/run/$1.pid ]] && kill -0 "$(cat "$S/run/$1.pid")" 2>/dev/null; }

healthy() {   # every service alive, buckets-api answers, mahi knows the operator
    for svc in buckets-api mahi storinfo buckets-mdplacement buckets-mdapi zookeeper; do
        alive $svc || return 1
    done
    curl -fs -m 10 -o /dev/null "http://127.0.0.1:$API_PORT/ping" || return 1
    knows_operator
}

knows_operator() {   # mahi has loaded the s3gw identity
    local a
    a=$(curl -fs -m 10 "http://127.0.0.1:$MAHI_PORT/accounts?login=$OPERATOR_LOGIN" 2>/dev/null) || return 1
    [[ $a == *'"isOperator":true'* ]]
}

install_prereqs() {
    [[ $(id -u) -eq 0 ]] || die "up needs root (apt packages, nginx on :80, dnsmasq on :53)"
    local need=()
    command -v npm >/dev/null || need+=(nodejs npm)
    command -v ssh-keygen >/dev/null || need+=(openssh-client)
    command -v openssl >/dev/null || need+=(openssl)
    command -v curl >/dev/null || need+=(curl)
    command -v python3 >/dev/null || need+=(python3)
    command -v git >/dev/null || need+=(git)
    if (( ${#need[@]} )); then
        say "apt packages: ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    command -v cargo >/dev/null || die "need a Rust toolchain (cargo) to build buckets-mdapi"
    # up.sh runs PostgreSQL as the postgres user, which the client package
    # alone does not create.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

write_identity() {
    mkdir -p "$ID"
    if [[ ! -f $ID/operator.key ]]; then
        ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -f "$ID/operator.key" -C "$OPERATOR_LOGIN"
    fi
    python3 - "$S/etc" "$ID" "$SPIKE_LOGIN" "$SPIKE_UUID" "$OPERATOR_LOGIN" "$OPERATOR_UUID" $TENANTS \
        > "$ID/changelog.json" <<'EOF'
# A UFDS-style changelog (newline-delimited JSON) that mahi's real replicator
# transforms turn into mahi's redis layout: up.sh's account and key, the
# operator account with its key and its membership of cn=operators, and
# tenant accounts without keys.
import json, subprocess, sys
etc, ident, spike, spike_uuid, op, op_uuid, *tenants = sys.argv[1:]
n = 0
def ent(dn, changes):
    global n
    n += 1
    print(json.dumps({"dn": "changenumber=%d, cn=changelog" % n, "controls": [], "targetdn": dn,
        "changetype": "add", "objectclass": "changeLogEntry", "changetime": "2020-01-01T00:00:00.000Z",
        "changes": json.dumps(changes), "changenumber": str(n)}))
def acct_dn(uuid):
    return 'uuid=%s, ou=users, o=smartdc' % uuid
def account(login, uuid):
    ent(acct_dn(uuid), {"email": [login + "@example.com"], "login": [login], "objectclass": ["sdcperson"],
        "uuid": [uuid], "_owner": [uuid], "approved_for_provisioning": ["true"],
        "_parent": ["ou=users, o=smartdc"]})
def key(uuid, name, private, pub):
    pem = subprocess.check_output(['openssl', 'pkey', '-in', private, '-pubout'],
                                  stderr=subprocess.DEVNULL).decode()
    fp = subprocess.check_output(['ssh-keygen', '-E', 'md5', '-lf', pub]).decode().split()[1][4:]
    ent('fingerprint=%s, %s' % (fp, acct_dn(uuid)), {"name": [name], "objectclass": ["sdckey"],
        "openssh": [open(pub).read().strip()], "pkcs": [pem], "fingerprint": [fp],
        "_owner": [uuid], "_parent": [acct_dn(uuid)]})
account(spike, spike_uuid)
key(spike_uuid, 'spikekey', etc + '/id_rsa', etc + '/id_rsa.pub')
account(op, op_uuid)
key(op_uuid, 'operatorkey', ident + '/operator.key', ident + '/operator.key.pub')
ent('cn=operators, ou=groups, o=smartdc', {"objectclass": ["groupofuniquenames"],
    "uniquemember": [acct_dn(op_uuid)]})
for t in tenants:
    login, uuid = t.split(':')
    account(login, uuid)
EOF
    {
        echo "OPERATOR_LOGIN=$OPERATOR_LOGIN"
        echo "OPERATOR_UUID=$OPERATOR_UUID"
        echo "TENANTS=\"$TENANTS\""
        echo "SPIKE_LOGIN=$SPIKE_LOGIN"
        echo "SPIKE_UUID=$SPIKE_UUID"
        echo "API_URL=http://127.0.0.1:$API_PORT"
    } > "$ID/identity.env"
}

restart_mahi() {   # with the s3gw identity instead of up.sh's one account
    if alive mahi; then
        local pid; pid=$(cat "$S/run/mahi.pid")
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    cd "$S/src/mahi"
    nohup "$NODE6" bin/mahi-server-in-memory.js -p $MAHI_PORT -c "$ID/changelog.json" \
        >> "$S/log/mahi.log" 2>&1 < /dev/null &
    echo $! > "$S/run/mahi.pid"
    cd - > /dev/null
    for _ in $(seq 1 100); do
        knows_operator && return 0
        sleep 0.2
    done
    die "mahi did not load the operator account; see $S/log/mahi.log"
}

print_status() {
    echo "Endpoint:  http://127.0.0.1:$API_PORT  (buckets-api, pid $(cat "$S/run/buckets-api.pid"))"
    echo "Operator:  $OPERATOR_LOGIN (cn=operators), key $ID/operator.key (ECDSA P-256)"
    echo "Tenants:   $(for t in $TENANTS; do printf '%s ' "${t%%:*}"; done)(no keys)"
    echo "Logs:      $S/log/"
}

case ${1:-} in
up)
    [[ -x $SRC/up.sh ]] || die "the pinned stack is missing: $SRC/up.sh (set REAL_MANTA_SRC)"
    if healthy; then
        say "already up"
        print_status
        exit 0
    fi
    install_prereqs
    say "starting the stack ($SRC/up.sh; cold about 2.5 minutes)"
    bash "$SRC/up.sh" || die "$SRC/up.sh failed; logs in $S/log/"
    say "loading the s3gw identity into mahi"
    write_identity
    restart_mahi
    healthy || die "the stack did not come up healthy; logs in $S/log/"
    say "up"
    print_status
    ;;
down)
    bash "$SRC/down.sh" "${@:2}"
    ;;
status)
    if healthy; then print_status; else echo "real-manta: not up"; exit 1; fi
    ;;
*)
    echo "usage: $0 up|down [--purge]|status" >&2
    exit 2
    ;;
esac
