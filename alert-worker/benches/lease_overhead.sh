#!/usr/bin/env bash
# Lease and heartbeat overhead: N idle alert-worker processes (no rules) against a
# private MariaDB for SECS seconds; prints statements/s per worker (the server's
# Questions counter) and CPU-seconds per minute per worker (from /proc).
# Usage: alert-worker/benches/lease_overhead.sh [workers] [seconds] [ttl]
# Needs target/release/alert-worker (cargo build --release -p alert-worker).
set -euo pipefail
N=${1:-1}; SECS=${2:-60}; TTL=${3:-15s}
D=$(mktemp -d /tmp/ovh.XXXX); PORT=$((34000 + RANDOM % 1000))
mariadb-install-db --no-defaults --datadir=$D/data --user=root --auth-root-authentication-method=normal --skip-test-db >/dev/null 2>&1
mariadbd --no-defaults --datadir=$D/data --user=root --port=$PORT --bind-address=127.0.0.1 --socket=$D/sock --pid-file=$D/pid --skip-log-bin --innodb-buffer-pool-size=64M --log-error=$D/err.log &
for i in $(seq 100); do mariadb -h127.0.0.1 -P$PORT -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
mariadb -h127.0.0.1 -P$PORT -uroot -e 'create database m'
URL=mysql://root@127.0.0.1:$PORT/m
pids=()
for i in $(seq $N); do
  MONITORS_DATABASE_URL=$URL MONITORS_LEASE_TTL=$TTL MONITORS_METRICS_LISTEN=127.0.0.1:0 MONITORS_WORKER_ID=ovh$i \
  MONITORS_ENCRYPTION_KEY=$(head -c32 /dev/urandom | base64) MONITORS_LOG=warn target/release/alert-worker run > $D/w$i.log 2>&1 &
  pids+=($!)
  sleep 0.3
done
sleep 10  # settle (migrations, first claims)
q() { mariadb -h127.0.0.1 -P$PORT -uroot -N -e "show global status like 'Questions'" | awk '{print $2}'; }
cpu() { local t=0; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
q0=$(q); c0=$(cpu)
sleep $SECS
q1=$(q); c1=$(cpu)
tck=$(getconf CLK_TCK)
echo "workers=$N ttl=$TTL secs=$SECS statements=$((q1-q0-2)) per_worker_per_s=$(echo "scale=2; ($q1-$q0-2)/$N/$SECS" | bc) cpu_s_per_worker_per_min=$(echo "scale=3; ($c1-$c0)/$tck/$N*60/$SECS" | bc)"
kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
kill $(cat $D/pid); sleep 1; rm -rf $D
