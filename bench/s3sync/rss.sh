#!/usr/bin/env bash
# Peak RSS and wall time of no-change resyncs with a bucket side, per async
# binary: push to versitygw (on 127.0.0.1, posix backend in memory), pull
# from it (the first pull measured too), bidi. Usage:
#   N=50000 bench/s3sync/rss.sh OLD/async NEW/async
# N files of 1-1024 bytes in 3,500 directories, a quarter each named
# f000001, f000001.txt, f-000001 and "f 000001" (names whose key order is
# not their path order). Each binary's first bidi run is a first run.
set -euo pipefail
GW=${ASYNC_VERSITYGW:-$HOME/.cache/async-tools/versitygw-v1.8.0/versitygw}
N=${N:-50000}
W=$(mktemp -d "${DIR:-/dev/shm}/async-rss-XXXXXX")
mkdir -p "$W/gw/bkt" "$W/tree"
export ROOT_ACCESS_KEY=rsskey ROOT_SECRET_KEY=rsssecret$RANDOM$RANDOM
PORT=$((20000 + RANDOM % 20000))
"$GW" --port "127.0.0.1:$PORT" --quiet posix "$W/gw" >/dev/null 2>&1 &
GWPID=$!
trap 'kill $GWPID; wait $GWPID 2>/dev/null; rm -rf "$W"' EXIT
sleep 1
python3 - "$W/tree" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 500), "e%d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    name = ["f%06d", "f%06d.txt", "f-%06d", "f %06d"][i % 4] % i
    with open(os.path.join(d, name), "w") as f:
        f.write("x" * (1 + i % 1024))
PY
export AWS_ACCESS_KEY_ID=$ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$ROOT_SECRET_KEY AWS_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_CA_BUNDLE=
url() { echo "s3://bkt/$1?endpoint=http://127.0.0.1:$PORT&path_style=true"; }
measure() { # label, command...
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$W/t" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" "$W/t"; return 1; }
  read -r wall rss <"$W/t"
  echo "$label: wall ${wall}s, peak RSS $((rss / 1024)) MB"
}
i=0
for bin in "$@"; do
  i=$((i + 1))
  st=$W/state$i
  mkdir -p "$st" "$W/pull$i"
  push=("$bin" -q -N push -L "$st/log" -b "$st/db" -B "$st/rdb" -t -d "$W/tree" -r "$(url p$i)")
  pull=("$bin" -q -N pull -L "$st/log2" -b "$st/db2" -B "$st/rdb2" -t -K pull -d "$W/pull$i" -r "$(url p$i)")
  bidi=("$bin" -q -N bidi -L "$st/log3" -b "$st/db3" -B "$st/rdb3" -t -K bidi -d "$W/pull$i" -r "$(url p$i)")
  "${push[@]}" >/dev/null
  for r in 1 2 3; do measure "$bin push resync $r" "${push[@]}"; done
  measure "$bin pull initial" "${pull[@]}"
  for r in 1 2 3; do measure "$bin pull resync $r" "${pull[@]}"; done
  measure "$bin bidi first run" "${bidi[@]}"
  for r in 1 2; do measure "$bin bidi resync $r" "${bidi[@]}"; done
  rm -rf "$W/pull$i"
done
