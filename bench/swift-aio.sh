#!/usr/bin/env bash
# A one-node OpenStack Swift with its S3 layer (s3api + tempauth), on
# 127.0.0.1, as "path C" of s3gw-bench (docs/benchmarks.md, "Path C:
# OpenStack Swift (s3api) side by side"). Not part of the test command.
#
#   bench/swift-aio.sh start DIR    set up (first time) and start; prints endpoint and keys
#   bench/swift-aio.sh stop DIR     stop what `start` started (by the pids under DIR/run)
#   bench/swift-aio.sh status DIR   say what runs
#
# Everything lives under DIR: configuration and rings (DIR/etc), the one
# storage device as a plain directory (DIR/srv/d1, no mount check), pid files
# (DIR/run) and logs (DIR/log). `start` is idempotent: it keeps an existing
# setup and data, and starts only what is not running. It needs Debian's
# Swift packages (bookworm: Swift 2.30) and memcached (tempauth keeps its
# state in memcache; the proxy caches account and container info there):
#
#   apt-get install swift swift-proxy swift-object swift-container swift-account memcached
#
# (or SWIFT_AIO_INSTALL=1 and this script runs that apt-get itself).
#
# The servers are the packages' own, unchanged: `workers = auto` (one worker
# process per core), objects fsynced, one replica (rings built with
# swift-ring-builder, part power 10). S3 answers at http://127.0.0.1:PORT/
# path-style only (no storage_domain), SigV4 and SigV2, region us-east-1
# (`location`), Swift ACLs (`s3_acl = false`), multipart through SLO.
# The S3 access key is the tempauth user `bench:bench`, the secret its key.
#
# Environment: SWIFT_AIO_PORT (proxy, default 28080: the real Manta stack of
# scripts/real-manta.sh uses 18080 and 18081); the account,
# container, object and memcached servers take PORT+1 .. PORT+4.
# SWIFT_AIO_SECRET (default bench-secret-key).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
etc=$dir/etc run=$dir/run log=$dir/log srv=$dir/srv

port=${SWIFT_AIO_PORT:-28080}
secret=${SWIFT_AIO_SECRET:-bench-secret-key}
user=$(id -un)
servers=(memcached account container object proxy)

port_of() {
    case $1 in
        proxy) echo "$port" ;;
        account) echo $((port + 1)) ;;
        container) echo $((port + 2)) ;;
        object) echo $((port + 3)) ;;
        memcached) echo $((port + 4)) ;;
    esac
}

alive() { # name -> 0 if its pid file names a live process
    local f=$run/$1.pid
    [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

need_packages() {
    local missing=()
    for b in swift-proxy-server swift-account-server swift-container-server \
        swift-object-server swift-ring-builder memcached; do
        command -v "$b" >/dev/null || missing+=("$b")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ ${SWIFT_AIO_INSTALL:-} == 1 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            swift swift-proxy swift-object swift-container swift-account memcached
    else
        echo "missing: ${missing[*]}" >&2
        echo "install: apt-get install swift swift-proxy swift-object swift-container swift-account memcached" >&2
        echo "(or run again with SWIFT_AIO_INSTALL=1)" >&2
        exit 1
    fi
}

write_configs() {
    mkdir -p "$etc" "$run" "$log" "$srv/d1" "$dir/cache"
    [[ -f $etc/swift.conf ]] && return 0 # set up before: keep it
    local suffix
    suffix=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
    cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = $suffix
swift_hash_path_prefix = s3gw-bench

[storage-policy:0]
name = Policy-0
default = yes
EOF
    local common="[DEFAULT]
bind_ip = 127.0.0.1
user = $user
swift_dir = $etc
devices = $srv
mount_check = false
workers = auto
log_facility = LOG_LOCAL2
recon_cache_path = $dir/cache
eventlet_debug = false
"
    for s in account container object; do
        cat >"$etc/$s-server.conf" <<EOF
$common
bind_port = $(port_of "$s")

[pipeline:main]
pipeline = healthcheck recon $s-server

[app:$s-server]
use = egg:swift#$s

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon
EOF
    done
    cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
user = $user
swift_dir = $etc
workers = auto
log_facility = LOG_LOCAL2
eventlet_debug = false

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:s3api]
use = egg:swift#s3api
# The region SigV4 requests are signed for and GetBucketLocation answers.
location = us-east-1
# Swift ACLs, no S3 ACL metadata (the default; what most deployments run).
s3_acl = false
# Path-style addressing only: no storage_domain.
dns_compliant_bucket_names = true
allow_multipart_uploads = true
# S3's own limit (Swift's default is 1000).
max_upload_part_num = 10000

[filter:tempauth]
use = egg:swift#tempauth
# The S3 access key is "bench:bench"; the key after it is the S3 secret.
user_bench_bench = $secret .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$(port_of memcached)

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000

[filter:dlo]
use = egg:swift#dlo
EOF
}

build_rings() {
    local s
    for s in account container object; do
        [[ -f $etc/$s.ring.gz ]] && continue
        rm -f "$etc/$s.builder"
        # part power 10, 1 replica, min_part_hours 1; one device.
        swift-ring-builder "$etc/$s.builder" create 10 1 1 >/dev/null
        swift-ring-builder "$etc/$s.builder" add \
            --region 1 --zone 1 --ip 127.0.0.1 --port "$(port_of "$s")" \
            --device d1 --weight 100 >/dev/null
        swift-ring-builder "$etc/$s.builder" rebalance >/dev/null
    done
}

start_one() {
    local s=$1
    alive "$s" && return 0
    local -a argv
    case $s in
        memcached) argv=(memcached -l 127.0.0.1 -p "$(port_of memcached)" -U 0 -m 64 -u "$user") ;;
        *) argv=("swift-$s-server" "$etc/$s-server.conf") ;;
    esac
    # Its own session, so `stop` can end the server and its workers as one group.
    setsid "${argv[@]}" >>"$log/$s.log" 2>&1 </dev/null &
    echo $! >"$run/$s.pid"
}

wait_ready() { # poll every server's port (and the proxy's healthcheck) until up, 60 s at most
    local deadline=$((SECONDS + 60)) s
    for s in "${servers[@]}"; do
        while :; do
            if ! alive "$s"; then
                echo "swift-aio: $s exited; its log ($log/$s.log):" >&2
                tail -n 20 "$log/$s.log" >&2
                exit 1
            fi
            if [[ $s == memcached ]]; then
                (exec 3<>"/dev/tcp/127.0.0.1/$(port_of memcached)") 2>/dev/null && break
            elif curl -fsS -o /dev/null "http://127.0.0.1:$(port_of "$s")/healthcheck" 2>/dev/null; then
                break
            fi
            if ((SECONDS > deadline)); then
                echo "swift-aio: $s not answering on port $(port_of "$s") after 60 s" >&2
                exit 1
            fi
            sleep 0.2
        done
    done
    # The S3 layer answers and authenticates: a SigV4 ListBuckets (the key has a
    # colon, which curl's --user would split, so it goes in the URL, escaped).
    while :; do
        local code
        code=$(curl -s -o /dev/null -w '%{http_code}' \
            --aws-sigv4 "aws:amz:us-east-1:s3" \
            -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
            "http://bench%3Abench:$secret@127.0.0.1:$port/") || true
        [[ $code == 200 ]] && break
        if ((SECONDS > deadline)); then
            echo "swift-aio: S3 ListBuckets answered $code after 60 s" >&2
            exit 1
        fi
        sleep 0.2
    done
}

stop_all() {
    local s pid i
    for s in proxy object container account memcached; do
        [[ -f $run/$s.pid ]] || continue
        pid=$(cat "$run/$s.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        rm -f "$run/$s.pid"
    done
}

case $cmd in
    start)
        need_packages
        write_configs
        build_rings
        for s in "${servers[@]}"; do start_one "$s"; done
        wait_ready
        echo "swift s3api listening on http://127.0.0.1:$port (region us-east-1, path style)"
        echo "access key: bench:bench"
        echo "secret key: $secret"
        echo "pids: $(for s in "${servers[@]}"; do printf '%s=%s ' "$s" "$(cat "$run/$s.pid")"; done)"
        # Every process of this Swift (servers, their workers, memcached), for
        # the bench's CPU table: their sessions are the pids started above.
        sids=$(for s in "${servers[@]}"; do cat "$run/$s.pid"; done | paste -sd,)
        all=$(ps -o pid= -s "$sids" | tr -d ' ' | paste -sd,)
        echo "bench: s3gw-bench --paths ABC --c-endpoint http://127.0.0.1:$port --c-access-key bench:bench --c-secret-key $secret --c-pids $all"
        ;;
    stop)
        stop_all
        echo "swift-aio: stopped"
        ;;
    status)
        for s in "${servers[@]}"; do
            if alive "$s"; then echo "$s: running, pid $(cat "$run/$s.pid")"; else echo "$s: stopped"; fi
        done
        ;;
    *)
        echo "usage: $0 start|stop|status DIR" >&2
        exit 2
        ;;
esac
