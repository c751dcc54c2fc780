#!/usr/bin/env bash
# test-directory.sh up [--plain] [--port N] | down | status
#
# Starts (or stops) a UFDS-shaped OpenLDAP on 127.0.0.1 for trying s3gw with
# access keys in a directory, built exactly as docs/operations.md documents
# it (and as the tests build theirs): the project's schema
# (tests/ldap/ufds.schema), the documented skeleton with the gateway's read
# identity and the key-admin identity, the documented ACL and nothing more,
# and the documented sample tenant `demo`. Prints the [keys] lines to use.
#
#   --plain   no UFDS change feed (cn=changelog); the syncprov overlay
#             instead, so the gateway follows changes with syncrepl
#   --port N  listen port (default 38989)
#
# State lives in $S3GW_TEST_DIRECTORY (default /tmp/s3gw-test-directory);
# `down` stops only the pid in its pid file. Needs Debian's slapd and
# ldap-utils (preseed `slapd slapd/no_configuration boolean true`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${S3GW_TEST_DIRECTORY:-/tmp/s3gw-test-directory}"
export PATH="/usr/sbin:$PATH"

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The fenced block after <!-- test-directory:NAME --> in docs/operations.md.
block() {
    awk -v m="<!-- test-directory:$1 -->" '
        $0 == m { found = 1; next }
        found && !inside && /^```/ { inside = 1; next }
        inside && /^```/ { exit }
        inside { print }
    ' "$here/docs/operations.md"
}

up() {
    local plain=0 port=38989
    while [ $# -gt 0 ]; do
        case "$1" in
            --plain) plain=1 ;;
            --port) port="${2:?--port needs a number}"; shift ;;
            *) usage ;;
        esac
        shift
    done
    if [ -f "$state/slapd.pid" ] && kill -0 "$(cat "$state/slapd.pid")" 2>/dev/null; then
        echo "test-directory: already running (pid $(cat "$state/slapd.pid")); run: $0 down" >&2
        exit 1
    fi
    rm -rf "$state"
    mkdir -p "$state"/db-smartdc "$state"/db-changelog "$state"/db-latest
    block acl >"$state/acl.conf"
    block base >"$state/base.ldif"
    block tenant >"$state/tenant.ldif"
    local conf
    conf="$(cat "$here/tests/ldap/slapd.conf.in")"
    if [ "$plain" = 1 ]; then
        conf="$(printf '%s\n' "$conf" | sed '/# feed:begin/,/# feed:end/d')"
        conf="${conf//@MODULES@/moduleload      syncprov}"
        conf="${conf//@SYNCPROV@/overlay         syncprov}"
    else
        conf="${conf//@MODULES@/}"
        conf="${conf//@SYNCPROV@/}"
    fi
    conf="${conf//@TLS@/}"
    conf="${conf//@DIR@/$state}"
    conf="${conf//@SCHEMADIR@/$here/tests/ldap}"
    # The ACL is multi-line: substitute it with awk.
    printf '%s\n' "$conf" | awk -v f="$state/acl.conf" '
        $0 == "@ACL@" { while ((getline l < f) > 0) print l; next }
        { print }' >"$state/slapd.conf"
    slaptest -Q -u -f "$state/slapd.conf"
    slapd -h "ldap://127.0.0.1:$port/" -f "$state/slapd.conf"
    local url="ldap://127.0.0.1:$port"
    local deadline=$((SECONDS + 30))
    until ldapsearch -x -LLL -H "$url" -b "" -s base namingContexts >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "test-directory: slapd did not answer on $url" >&2
            exit 1
        fi
        sleep 0.2
    done
    local root=(-x -H "$url" -D "cn=root,o=smartdc" -w secret)
    ldapadd "${root[@]}" -f "$state/base.ldif" >/dev/null
    if [ "$plain" = 0 ]; then
        ldapadd "${root[@]}" -f "$here/tests/ldap/base.ldif" >/dev/null
    fi
    ldapadd "${root[@]}" -f "$state/tenant.ldif" >/dev/null
    printf 'keyadminsecret\n' >"$state/keyadmin.pw"
    chmod 600 "$state/keyadmin.pw"
    local id secret
    id="$(awk '/^accesskeyid: /{print $2; exit}' "$state/tenant.ldif")"
    secret="$(awk '/^accesskeysecret: /{print $2; exit}' "$state/tenant.ldif")"
    cat <<EOF
# test directory up: $url (pid $(cat "$state/slapd.pid"), $( [ "$plain" = 1 ] && echo "plain, syncprov" || echo "UFDS-style, with cn=changelog"))
# Put this in the gateway's configuration:
[keys]
source = "ldap"
url = "$url"
bind_dn = "cn=s3gw,o=smartdc"
bind_password = "s3gwsecret"
poll_interval = 1.0
# Key administration (writes keys and an account's disabled flag):
#   s3gw --config FILE keys create --account demo \\
#       --bind-dn cn=s3gw-keyadmin,o=smartdc --bind-password-file $state/keyadmin.pw
# Sample tenant: account "demo", access key id $id
#   secret $secret
# (The store must have an account "demo" for requests to succeed.)
# Stop it with: $0 down
EOF
    if [ "$plain" = 0 ]; then
        echo "# Note: slapd does not write UFDS's change feed; changes you make with ldapmodify are seen by the full reconcile (reconcile_interval) or use --plain (syncrepl)."
    fi
}

down() {
    if [ ! -f "$state/slapd.pid" ]; then
        echo "test-directory: not running" >&2
        return 0
    fi
    local pid
    pid="$(cat "$state/slapd.pid")"
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -rf "$state"
    echo "test-directory: stopped"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    status)
        if [ -f "$state/slapd.pid" ] && kill -0 "$(cat "$state/slapd.pid")" 2>/dev/null; then
            echo "running (pid $(cat "$state/slapd.pid"))"
        else
            echo "not running"
            exit 1
        fi
        ;;
    *) usage ;;
esac
