# tests/pg_cluster.sh - private PostgreSQL/PostGIS clusters for tests and
# benches (sourced, POSIX sh). Each cluster is initdb'ed in a fresh mktemp -d
# directory, listens only on 127.0.0.1 at a free port and on a socket in its
# own directory, and is stopped (immediate mode) and deleted by an EXIT trap
# that also runs on failure, kill (TERM, HUP) and Ctrl-C (INT). Nothing of
# the caller's checkout is read by the server: files it must load (an
# extension's .so, its scripts) are to be copied into a directory it can
# read (pg_tmp_copy below).
#
#     . "$TOP_SRCDIR/tests/pg_cluster.sh"
#     pg_start main || exit 77-or-fail        # sets PG_main_URI, PG_main_PORT, PG_main_DIR
#     transgeo index ortho.tif --db "$PG_main_URI"
#     pg_start coord && pg_start shard1 && pg_start shard2   # N clusters, one name each
#     pg_psql main -c 'SELECT postgis_version()'
#     # stopped at exit (pg_stop_all), or pg_stop NAME earlier
#
# Servers run as the `postgres` user when the caller is root (runuser -u
# postgres; their directories chowned to it) and as the caller otherwise.
# The URI is postgresql://USER@127.0.0.1:PORT/transgeo (trust authentication
# on loopback only: the cluster is private and lives as long as the test).
# Every database of a cluster has PostGIS available; `transgeo` (the database
# made by pg_start) has CREATE EXTENSION postgis done.
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin), TG_TMPDIR (the
# parent of the cluster directories; default /tmp; must be readable by the
# postgres user: a 0700 home is not).

: "${PG_BINDIR:=/usr/lib/postgresql/15/bin}"
PG_CLUSTERS=""
PG_CLUSTER_ROOT=""

# Run a command as the server's user (initdb, pg_ctl: the server's files).
pg_as() {
    # From /: the caller's directory may be in a 0700 home the postgres user
    # cannot enter (psql would print "could not change directory" into the
    # output). Every path passed here is absolute.
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# pg_client DIR PORT DB ARGS...: psql as the caller, connected as the
# server's user (trust). Not as that user: psql reads the caller's files
# (-f, \set x `cat f`, \copy), which may be in a 0700 home; root reaches the
# server's 0700 socket directory.
pg_client() {
    pgc_dir=$1 pgc_port=$2 pgc_db=$3; shift 3
    "$PG_BINDIR/psql" -X -q -h "$pgc_dir" -p "$pgc_port" -U "$(pg_user)" -d "$pgc_db" "$@"
}

# A TCP port nobody listens on (loopback), from a range tests rarely use.
pg_free_port() {
    command -v ss >/dev/null 2>&1 || { echo "pg_cluster: ss not found (Debian package iproute2)" >&2; return 1; }
    p=$(( 20000 + ($$ * 7 + $(date +%N | sed 's/^0*//;s/^$/0/') / 1000) % 20000 ))
    i=0
    while [ $i -lt 200 ]; do
        if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
        p=$(( p + 1 )); [ $p -ge 40000 ] && p=20000
        i=$((i + 1))
    done
    return 1
}

# pg_start NAME: initdb, start, create database transgeo with PostGIS.
# Sets PG_<NAME>_URI, PG_<NAME>_PORT, PG_<NAME>_DIR. Returns non-zero (and
# prints why on stderr) when a step fails; the trap still cleans up.
pg_start() {
    name=$1
    [ -x "$PG_BINDIR/initdb" ] || { echo "pg_cluster: $PG_BINDIR/initdb not found: install postgresql-15 (./bootstrap.sh)" >&2; return 1; }
    if [ -z "$PG_CLUSTER_ROOT" ]; then
        PG_CLUSTER_ROOT=$(mktemp -d "${TG_TMPDIR:-/tmp}/pgc.XXXXXX") || return 1
        chmod 755 "$PG_CLUSTER_ROOT"
        trap 'pg_stop_all' EXIT
        trap 'pg_stop_all; trap - EXIT; exit 130' INT
        trap 'pg_stop_all; trap - EXIT; exit 143' TERM
        trap 'pg_stop_all; trap - EXIT; exit 129' HUP
    fi
    # The server's user must reach the directory: every parent needs o+x.
    d=$PG_CLUSTER_ROOT
    while [ "$d" != / ] && [ -n "$d" ]; do
        if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$d"; then
            echo "pg_cluster: '$d' is not searchable by the postgres user: set TG_TMPDIR to a directory it can reach (e.g. /tmp)" >&2
            return 1
        fi
        d=$(dirname "$d")
    done
    dir=$PG_CLUSTER_ROOT/$name
    mkdir -p "$dir" && chmod 700 "$dir" || return 1
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    PG_CLUSTERS="$PG_CLUSTERS $name"
    eval "PG_${name}_DIR=\$dir"
    pg_as "$PG_BINDIR/initdb" -D "$dir/data" -U "$(pg_user)" -A trust -E UTF8 --no-sync \
        --locale=C >"$PG_CLUSTER_ROOT/$name.initdb.log" 2>&1 ||
        { echo "pg_cluster: initdb of '$name' failed:" >&2; tail -n 5 "$PG_CLUSTER_ROOT/$name.initdb.log" >&2; return 1; }
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
shared_buffers = 64MB
max_worker_processes = 8
max_parallel_workers = 4
log_min_messages = warning
EOF
    # A free port, and another if someone took it meanwhile (clusters of
    # other tests start beside ours).
    tries=0
    while :; do
        port=$(pg_free_port) || { echo "pg_cluster: no free port" >&2; return 1; }
        eval "PG_${name}_PORT=\$port"
        pg_as "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 \
            start >/dev/null 2>&1 && break
        tries=$((tries + 1))
        if [ $tries -ge 3 ]; then
            echo "pg_cluster: server '$name' did not start:" >&2; tail -n 5 "$dir/server.log" >&2
            return 1
        fi
    done
    pg_client "$dir" "$port" postgres -v ON_ERROR_STOP=1 \
        -c 'CREATE DATABASE transgeo' >/dev/null 2>"$PG_CLUSTER_ROOT/$name.psql.log" &&
    pg_client "$dir" "$port" transgeo -v ON_ERROR_STOP=1 \
        -c 'CREATE EXTENSION postgis' >/dev/null 2>>"$PG_CLUSTER_ROOT/$name.psql.log" ||
        { echo "pg_cluster: cannot create database transgeo with PostGIS on '$name' (install postgresql-15-postgis-3):" >&2
          cat "$PG_CLUSTER_ROOT/$name.psql.log" >&2; return 1; }
    eval "PG_${name}_URI=postgresql://$(pg_user)@127.0.0.1:$port/transgeo"
    return 0
}

# pg_psql NAME ARGS...: psql on the cluster's database transgeo (pg_client,
# through its socket).
pg_psql() {
    name=$1; shift
    eval "dir=\$PG_${name}_DIR port=\$PG_${name}_PORT"
    pg_client "$dir" "$port" transgeo -v ON_ERROR_STOP=1 "$@"
}

# pg_stop NAME: stop the server now (immediate: a test server has nothing to
# save), keep its directory until pg_stop_all.
pg_stop() {
    eval "dir=\${PG_${1}_DIR:-}"
    [ -n "$dir" ] && [ -f "$dir/data/postmaster.pid" ] &&
        pg_as "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
    return 0
}

# pg_restart NAME: start a stopped server again on its port.
pg_restart() {
    eval "dir=\$PG_${1}_DIR port=\$PG_${1}_PORT"
    pg_as "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 \
        start >/dev/null 2>&1
}

# pg_stop_all: stop every cluster and delete the directories (the EXIT trap).
pg_stop_all() {
    for n in $PG_CLUSTERS; do pg_stop "$n"; done
    PG_CLUSTERS=""
    [ -n "$PG_CLUSTER_ROOT" ] && rm -rf "$PG_CLUSTER_ROOT"
    PG_CLUSTER_ROOT=""
}

# pg_tmp_copy FILE...: copy files into a directory of the cluster root the
# server can read (the checkout may be in a 0700 home); prints the directory.
pg_tmp_copy() {
    [ -n "$PG_CLUSTER_ROOT" ] || { echo "pg_cluster: start a cluster first" >&2; return 1; }
    d=$PG_CLUSTER_ROOT/files
    mkdir -p "$d" && chmod 755 "$d" && cp "$@" "$d/" && chmod a+r "$d"/* && echo "$d"
}
