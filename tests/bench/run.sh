#!/usr/bin/env bash
# staticedge next to nginx and HAProxy, in one run: `make bench` (after the release
# build) or `bash tests/bench/run.sh [--quick] [bench.py options]`;
# `bash tests/bench/run.sh --profile` counts instructions per request under callgrind.
#
# Installs what it needs (idempotently), makes throwaway certificates (ECDSA P-256
# and RSA-2048, in tests/bench/work/, never committed), then runs bench.py, which
# writes tests/bench/results/latest.{json,md} (a --quick run writes
# tests/bench/work/quick.{json,md} instead, leaving the reference run alone).
# Every process started is stopped by pid on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${STATICEDGE_BIN:-$root/target/release/staticedge}"
work="$here/work"
results="$here/results"
quick=0
script="$here/bench.py"
extra_debs=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    # Instruction counts under callgrind instead of the timed run (work/profile/).
    --profile) script="$here/profile.py"; extra_debs=(valgrind curl) ;;
  esac
done
[ "$quick" = 1 ] && results="$work"

if [ "$(nproc)" -lt 2 ]; then
  echo "run.sh: needs at least 2 CPUs (proxy on CPU 1, load and upstream on CPU 0)" >&2
  exit 1
fi
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin not found; run 'make bench' (or cargo build --release -p staticedge)" >&2
  exit 1
fi

bash "$root/tests/tools/apt-install.sh" nginx-light haproxy wrk nghttp2-client openssl \
  python3 util-linux procps "${extra_debs[@]}"

# 10,000 idle connections need 10,000+ descriptors in the proxy and in the client.
hard="$(ulimit -Hn)"
if [ "$hard" != unlimited ] && [ "$hard" -lt 12000 ]; then
  echo "run.sh: the open-files hard limit is $hard; scenario (e) needs 12000" >&2
  exit 1
fi
ulimit -n "$([ "$hard" = unlimited ] && echo 65536 || echo "$hard")"

mkdir -p "$work/certs" "$work/pids"

# One run at a time: two runs would share the CPUs (and the pid files below).
exec 9>"$work/.lock"
if ! flock -n 9; then
  echo "run.sh: another benchmark run is in progress ($work/.lock is held); not starting" >&2
  exit 1
fi

# Stops the processes recorded in work/pids/ ("pid starttime" per file), each only if
# that pid still is the process that was started (same start time).
stop_recorded() {
  local f pid start rest now
  for f in "$work"/pids/*.pid; do
    [ -e "$f" ] || continue
    read -r pid start <"$f" || true
    rm -f "$f"
    if [ -z "${pid:-}" ] || [ ! -r "/proc/$pid/stat" ]; then
      continue
    fi
    rest="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    rest="${rest##*) }"
    read -ra now <<<"$rest"
    [ "${now[19]:-}" = "${start:-}" ] || continue
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
}
# Anything left by an earlier run that was killed hard.
stop_recorded

bench_pid=""
cleanup() {
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$bench_pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  stop_recorded
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Certificates: one self-signed leaf per key type, SAN bench.test.
certs="$work/certs"
make_cert() { # kind, openssl -newkey argument...
  local kind="$1"
  shift
  if [ ! -s "$certs/$kind.pem" ]; then
    openssl req -x509 -nodes -days 30 -subj "/CN=bench.test" \
      -addext "subjectAltName=DNS:bench.test" "$@" \
      -keyout "$certs/$kind.key" -out "$certs/$kind.crt" 2>/dev/null
    cat "$certs/$kind.crt" "$certs/$kind.key" >"$certs/$kind.pem"
    chmod 600 "$certs/$kind.key" "$certs/$kind.pem"
  fi
}
make_cert ecdsa -newkey ec -pkeyopt ec_paramgen_curve:P-256
make_cert rsa -newkey rsa:2048
# Client certificates (scenario c13m): a CA and one client certificate it signs.
if [ ! -s "$certs/client.crt" ]; then
  openssl req -x509 -nodes -days 30 -subj "/CN=bench client CA" \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$certs/client-ca.key" -out "$certs/client-ca.crt" 2>/dev/null
  openssl req -new -nodes -subj "/CN=partner.bench.test/O=Bench Partner" \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$certs/client.key" -out "$certs/client.csr" 2>/dev/null
  printf 'subjectAltName=DNS:partner.bench.test\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' \
    >"$certs/client.ext"
  openssl x509 -req -days 30 -in "$certs/client.csr" -CA "$certs/client-ca.crt" \
    -CAkey "$certs/client-ca.key" -CAcreateserial -extfile "$certs/client.ext" \
    -out "$certs/client.crt" 2>/dev/null
  chmod 600 "$certs/client.key" "$certs/client-ca.key"
fi

echo "run.sh: load average now: $(cut -d' ' -f1-3 /proc/loadavg) (for a clean run, keep it low)"
# A full run takes about 11 minutes; bench.py bounds itself (14 min), this bounds everything.
timeout --signal=TERM --kill-after=30 1200 \
  python3 "$script" --bin "$bin" --work "$work" --certs "$certs" \
  --results "$results" "$@" &
bench_pid=$!
wait "$bench_pid"
