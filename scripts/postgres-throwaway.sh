#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the chat app's tests: initdb in a temporary directory, as an ordinary
# user (PostgreSQL refuses to run as root), listening on loopback only, trust authentication (nothing but this
# machine can reach it), no fsync. Prints the variables the tests read:
#   eval "$(scripts/postgres-throwaway.sh start)"   # exports DS_TEST_DATABASE_URL and DS_TEST_PGDATA
#   scripts/postgres-throwaway.sh stop "$DS_TEST_PGDATA"
# The binaries are Debian's (apt-get install postgresql); PG_BIN overrides where they are.
set -euo pipefail

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    [ -n "$dir" ] || { echo "no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
    echo "$dir"
}

# Runs a command as the cluster's owner: an ordinary user when called as root.
USER_NAME="${DS_PG_USER:-dspg}"
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$USER_NAME" -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    bin="$(pg_bin)"
    if [ "$(id -u)" = 0 ] && ! id "$USER_NAME" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
    fi
    data="$(mktemp -d /tmp/ds-postgres.XXXXXX)"
    [ "$(id -u)" = 0 ] && chown "$USER_NAME" "$data"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$bin/initdb" -D "$data/cluster" -U postgres -A trust --no-sync -E UTF8 >"$data/initdb.log" 2>&1 \
        || { cat "$data/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c max_connections=200" start >&2 \
        || { cat "$data/server.log" >&2; exit 1; }
    echo "export DS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres DS_TEST_PGDATA=$data"
    ;;
stop)
    data="${2:?the directory start printed as DS_TEST_PGDATA}"
    as_owner "$(pg_bin)/pg_ctl" -D "$data/cluster" -m immediate -w stop >&2 || true
    rm -rf "$data"
    ;;
*)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
