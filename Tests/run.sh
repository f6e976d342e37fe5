#!/usr/bin/env bash
# The test command (README): every test, the store tests on SQLite and on a throwaway PostgreSQL, the replicas test
# behind Debian's nginx.
# PostgreSQL: the server in MLCYCLE_TEST_POSTGRES_URL when set; else one started here on a free loopback port
# (Tests/postgres.sh, which installs Debian's postgresql when it is missing and it may) and stopped on exit. When none
# can be started, the PostgreSQL half is skipped with a message, unless MLCYCLE_REQUIRE_POSTGRES=1 (CI) makes that
# an error. Arguments go to `swift test` (e.g. --filter StoreConformanceTests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MLCYCLE_TEST_POSTGRES_URL:-}" ]; then
    if pg_env=$(bash Tests/postgres.sh start); then
        eval "$pg_env"
        trap 'bash Tests/postgres.sh stop "${MLCYCLE_TEST_POSTGRES_DIR:-}"' EXIT
    elif [ "${MLCYCLE_REQUIRE_POSTGRES:-0}" = 1 ]; then
        echo "Tests/run.sh: could not start PostgreSQL, which MLCYCLE_REQUIRE_POSTGRES=1 requires" >&2
        exit 1
    else
        echo "Tests/run.sh: no PostgreSQL server could be started: the PostgreSQL store tests are skipped" >&2
    fi
fi
# nginx, for the test of two replicas behind a load balancer: Debian's, installed when missing and this user may
# (root, or sudo without a password); else that test is skipped with a message.
if [ -z "${MLCYCLE_TEST_NGINX:-}" ] && ! [ -x /usr/sbin/nginx ]; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    if command -v apt-get > /dev/null && "${sudo[@]}" true 2> /dev/null; then
        echo "Tests/run.sh: installing Debian's nginx for the replicas test" >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2 ||
            { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
                "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2; } ||
            echo "Tests/run.sh: nginx could not be installed: the replicas test is skipped" >&2
    else
        echo "Tests/run.sh: no nginx (apt-get install nginx): the replicas test is skipped" >&2
    fi
fi
# A failing run shows what the test PostgreSQL logged (lock waits over a second included), to tell a slow server
# from a stuck one.
swift test "$@" || {
    status=$?
    if [ -n "${MLCYCLE_TEST_POSTGRES_DIR:-}" ] && [ -f "$MLCYCLE_TEST_POSTGRES_DIR/data/server.log" ]; then
        echo "Tests/run.sh: the test PostgreSQL's log (last 60 lines):" >&2
        tail -n 60 "$MLCYCLE_TEST_POSTGRES_DIR/data/server.log" >&2
    fi
    exit "$status"
}
