#!/usr/bin/env bash
# CI: make Debian's PostgreSQL server binaries available for the tests' throw-away cluster
# (tests/pg_helpers.py runs initdb/pg_ctl from /usr/lib/postgresql/*/bin; it starts and removes
# the cluster itself, so nothing is started here), and require it: EVEMU_REQUIRE_PG=1 turns the
# PostgreSQL tests' "skipped: no PostgreSQL" into a failure.  Source it from .ci/run
# (`. .ci/postgres.sh`) so that the export reaches pytest; running it alone only installs.
have_pg() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
            && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; }
if ! have_pg; then
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    # postgresql pulls in the server of the distribution's version (15 on Debian 12); the
    # package's own cluster is not needed: stop it if the package started one
    $sudo apt-get install -y -q --no-install-recommends postgresql
    if command -v pg_lsclusters >/dev/null; then
        pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
            $sudo pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
        done
    fi
fi
have_pg || { echo ".ci/postgres.sh: no PostgreSQL binaries after install" >&2; exit 1; }
export EVEMU_REQUIRE_PG=1
