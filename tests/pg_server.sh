#!/usr/bin/env bash
# A real PostgreSQL server for one test, on a Unix socket only (no TCP), in DIR:
#   tests/pg_server.sh start DIR    prints the libpq conninfo on stdout once it accepts
#   tests/pg_server.sh stop DIR     stops it at once (and is safe when it never started)
#   tests/pg_server.sh kill DIR     SIGKILL to the postmaster: the database "goes away"
#   tests/pg_server.sh restart DIR  start again after stop or kill: same data, same conninfo
# As root it runs as the `postgres` user (initdb refuses root); as anyone else, as them.
# Exit 77 (skip) when the server binaries are not installed.
# fsync is off (tests need no durability); CM_PG_FSYNC=on at start/restart turns it on, as in
# production, for benchmarks whose figure is the cost of a durable commit.
set -euo pipefail
cmd=${1:?usage: pg_server.sh start|stop|kill|restart DIR}
dir=${2:?usage: pg_server.sh start|stop|kill|restart DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "SKIP: PostgreSQL server not installed (apt-get install postgresql)" >&2
    exit 77
fi
as_db() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
data=$dir/data
sock=$dir/sock
start() {
    # Port only names the socket file (listen_addresses is empty): any free number will do.
    [ -s "$dir/port" ] ||
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$dir/port"
    port=$(cat "$dir/port")
    fsync=${CM_PG_FSYNC:-off}
    case $fsync in on | off) ;; *) echo "pg_server.sh: CM_PG_FSYNC must be on or off" >&2; exit 2 ;; esac
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$sock" "$dir/port"
    as_db "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 30 \
        -o "-k $sock -c listen_addresses= -p $port -c fsync=$fsync -c max_connections=200" \
        start >/dev/null
    echo "host=$sock port=$port user=postgres dbname=postgres"
}
case $cmd in
start)
    mkdir -p "$dir" "$sock"
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$dir"; then
        echo "pg_server.sh: the postgres user cannot reach $dir: make its parents" \
            "world-searchable (chmod 755)" >&2
        exit 1
    fi
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$sock"
    as_db "$bin/initdb" -D "$data" --no-sync -A trust -U postgres -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    start
    ;;
restart) start ;;
stop)
    [ -d "$data" ] && as_db "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
kill)
    [ -f "$data/postmaster.pid" ] && kill -9 "$(head -n1 "$data/postmaster.pid")" 2>/dev/null || true
    # The backends go with their postmaster; wait until the socket is gone.
    for _ in $(seq 1 50); do
        pgrep -f -- "-D $data" >/dev/null || break
        pkill -9 -f -- "-D $data" 2>/dev/null || true
        sleep 0.1
    done
    # A killed postmaster no one reaps stays a zombie whose pid still "exists": its lock files
    # would make the restart refuse.
    rm -f "$data/postmaster.pid" "$sock"/.s.PGSQL.*
    ;;
*) echo "usage: pg_server.sh start|stop|kill|restart DIR" >&2; exit 2 ;;
esac
