#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests: a fresh cluster in a temp dir, listening only on a free loopback
# port, trust auth, fsync off. Installs Debian's `postgresql` when the server binaries are missing.
#
#   pg_env=$(bash Tests/postgres.sh start)   # or: eval "$(bash Tests/postgres.sh start)"
#   eval "$pg_env"
#   trap 'bash Tests/postgres.sh stop "${MLCYCLE_TEST_POSTGRES_DIR:-}"' EXIT
#
# `start` prints only `export MLCYCLE_TEST_POSTGRES_URL=postgres://mlcycle@127.0.0.1:PORT/mlcycle_test` and
# `export MLCYCLE_TEST_POSTGRES_DIR=DIR` on stdout (progress and errors go to stderr). On failure it exits non-zero,
# removes what it made and prints `false` on stdout, so `eval "$(... start)"` fails under `set -e` too.
# `stop DIR` stops that server and removes DIR; it is a no-op when DIR is empty or gone.
# PostgreSQL refuses to run as root: as root the server runs as `postgres` (or a `mlcycle-pg` system user made here).
set -euo pipefail

readonly PG_SUPERUSER=mlcycle
readonly PG_DATABASE=mlcycle_test
readonly MARKER=.mlcycle-test-postgres

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# The user the server runs as; empty means the current user.
run_as=""

# Runs a command as $run_as (from inside the cluster dir, so a root-only cwd does not trouble it).
as_pg() {
    local dir=$1
    shift
    if [ -z "$run_as" ]; then
        (cd "$dir" && "$@")
    elif command -v runuser >/dev/null; then
        (cd "$dir" && runuser -u "$run_as" -- "$@")
    elif command -v setpriv >/dev/null; then
        (cd "$dir" && setpriv --reuid="$run_as" --regid="$(id -g "$run_as")" --init-groups -- "$@")
    else
        (cd "$dir" && su -s /bin/sh "$run_as" -c "$(printf '%q ' "$@")")
    fi
}

# A dir with working initdb, pg_ctl and postgres: pg_config's bindir, then the highest /usr/lib/postgresql/N/bin,
# then PATH. Prints nothing when there is none.
find_bindir() {
    local candidates=() d
    if command -v pg_config >/dev/null; then
        d=$(pg_config --bindir 2>/dev/null || true)
        [ -n "$d" ] && candidates+=("$d")
    fi
    while IFS= read -r d; do
        candidates+=("$d")
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -t/ -k5,5 -V -r)
    if d=$(command -v initdb 2>/dev/null); then
        candidates+=("$(dirname "$d")")
    fi
    for d in "${candidates[@]}"; do
        if "$d/initdb" --version >/dev/null 2>&1 && "$d/pg_ctl" --version >/dev/null 2>&1 &&
            "$d/postgres" --version >/dev/null 2>&1; then
            printf '%s\n' "$d"
            return 0
        fi
    done
}

install_postgresql() {
    log "PostgreSQL server binaries not found: installing Debian's postgresql"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo: install the postgresql package by hand"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null || die "no apt-get: install PostgreSQL's server (initdb, pg_ctl, postgres) by hand"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2 ||
        die "apt-get install postgresql failed"
}

# As root: the unprivileged user the server runs as.
pick_user() {
    if getent passwd postgres >/dev/null; then
        run_as=postgres
        return
    fi
    run_as=mlcycle-pg
    if ! getent passwd "$run_as" >/dev/null; then
        log "creating system user $run_as"
        # A concurrent start may create it first.
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$run_as" 2>/dev/null ||
            getent passwd "$run_as" >/dev/null || die "could not create system user $run_as"
    fi
}

# A loopback TCP port that is free now (the server may still lose a race for it: start retries).
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        local port
        for _ in $(seq 50); do
            port=$((20000 + RANDOM % 40000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$port"
                return 0
            fi
        done
        return 1
    fi
}

# EXIT trap of a start that has not finished: show the server log, clean up, print `false` for the caller's eval.
start_dir=""
on_start_exit() {
    local rc=$?
    [ "$rc" -ne 0 ] || return 0
    if [ -f "$start_dir/data/server.log" ]; then
        log "server log (tail):"
        tail -n 30 "$start_dir/data/server.log" >&2
    fi
    (stop "$start_dir") || true
    echo false
    exit "$rc"
}

start() {
    local bindir dir port attempt started=""
    bindir=$(find_bindir)
    if [ -z "$bindir" ]; then
        install_postgresql
        bindir=$(find_bindir)
        [ -n "$bindir" ] || die "postgresql installed but no working initdb/pg_ctl/postgres found"
    fi
    log "using $bindir ($("$bindir/postgres" --version))"

    if [ "$(id -u)" -eq 0 ]; then
        pick_user
        # Under /tmp so that the server's user can reach it whatever TMPDIR is.
        dir=$(mktemp -d /tmp/mlcycle-pg.XXXXXX)
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/mlcycle-pg.XXXXXX")
        # A unix socket path must fit in 107 bytes.
        if [ "${#dir}" -gt 80 ]; then
            rmdir "$dir"
            dir=$(mktemp -d /tmp/mlcycle-pg.XXXXXX)
        fi
    fi
    # On any failure from here: stop what was started, drop the dir, make the caller's eval fail.
    start_dir=$dir
    trap on_start_exit EXIT

    touch "$dir/$MARKER"
    printf '%s\n' "$bindir" >"$dir/bindir"
    printf '%s\n' "$run_as" >"$dir/user"
    if [ -n "$run_as" ]; then
        chown -R "$run_as:" "$dir"
    fi

    log "initdb in $dir/data${run_as:+ as $run_as}"
    as_pg "$dir" "$bindir/initdb" -D "$dir/data" --auth=trust --username="$PG_SUPERUSER" --encoding=UTF8 \
        --no-locale --no-sync >"$dir/initdb.log" 2>&1 || {
        tail -n 30 "$dir/initdb.log" >&2
        die "initdb failed"
    }
    cat >>"$dir/data/postgresql.conf" <<EOF
# postgres.sh: throwaway test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_lock_waits = on
EOF

    for attempt in 1 2 3 4 5; do
        port=$(free_port) || die "no free loopback port"
        log "starting on 127.0.0.1:$port (attempt $attempt)"
        if [ -f "$dir/data/server.log" ]; then : >"$dir/data/server.log"; fi
        if as_pg "$dir" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 30 -o "-p $port" start >&2; then
            started=1
            break
        fi
        # Lost the port to another process: try another; anything else is fatal.
        grep -q 'could not bind\|Address already in use' "$dir/data/server.log" 2>/dev/null ||
            die "pg_ctl start failed"
    done
    [ -n "$started" ] || die "pg_ctl start failed 5 times (ports taken)"
    printf '%s\n' "$port" >"$dir/port"

    local deadline=$((SECONDS + 30))
    until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d postgres; do
        [ "$SECONDS" -lt "$deadline" ] || die "server not ready on 127.0.0.1:$port after 30 s"
        sleep 0.2
    done
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" "$PG_DATABASE" >&2 ||
        die "createdb $PG_DATABASE failed"

    trap - EXIT
    log "ready: postgres://$PG_SUPERUSER@127.0.0.1:$port/$PG_DATABASE (stop: bash $0 stop $dir)"
    printf 'export MLCYCLE_TEST_POSTGRES_URL=%q\n' "postgres://$PG_SUPERUSER@127.0.0.1:$port/$PG_DATABASE"
    printf 'export MLCYCLE_TEST_POSTGRES_DIR=%q\n' "$dir"
}

stop() {
    local dir=${1:-} bindir="" pid=""
    if [ -z "$dir" ]; then
        log "stop: no dir given, nothing to stop"
        return 0
    fi
    if [ ! -d "$dir" ]; then
        return 0
    fi
    # Never remove a dir this script did not make.
    [ -f "$dir/$MARKER" ] || die "stop: $dir was not made by postgres.sh start; leaving it alone"
    [ -f "$dir/bindir" ] && bindir=$(<"$dir/bindir")
    [ -f "$dir/user" ] && run_as=$(<"$dir/user")
    if [ -f "$dir/data/postmaster.pid" ]; then
        pid=$(head -n 1 "$dir/data/postmaster.pid")
        if [ -n "$bindir" ] && [ -x "$bindir/pg_ctl" ]; then
            as_pg "$dir" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2 || true
        fi
        # Fallback when pg_ctl is gone or did not manage: signal the postmaster directly.
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" || true; fi
        fi
    fi
    rm -rf -- "$dir"
    log "stopped and removed $dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
    echo "usage: eval \"\$(bash $0 start)\"   |   bash $0 stop DIR" >&2
    exit 2
    ;;
esac
