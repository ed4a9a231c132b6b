#!/usr/bin/env bash
# osslocal's raw throughput beside nginx, both serving the same 1 GiB object from
# tmpfs over loopback: GET (sendfile on both sides) and PUT (nginx WebDAV PUT).
# Prints the median of several runs per row and the osslocal/nginx ratio.
# Usage: scripts/bench/server.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }

swift build -c release --product osslocal >/dev/null
work=$(mktemp -d /dev/shm/ossbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/www" "$work/root" "$work/nginx"
head -c 1073741824 /dev/urandom > "$work/www/obj"

# osslocal, anonymous so that plain curl can talk to it (signing costs nothing measurable).
.build/release/osslocal --root "$work/root" --bucket bench --anonymous --listen 127.0.0.1:0 > "$work/osslocal.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/osslocal.out" 2>/dev/null && break; sleep 0.1; done
oss=$(awk '/listening/ {print $NF}' "$work/osslocal.out")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx/nginx.conf" <<CONF
user $(id -un);
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on; tcp_nopush on;
  client_max_body_size 2g; client_body_temp_path $work/nginx/body;
  server {
    listen 127.0.0.1:$port;
    root $work/www;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/obj" -r 0-0 && break; sleep 0.1; done

curl -sf -T "$work/www/obj" "$oss/bench/obj" -o /dev/null

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {  # measure NAME CURL-ARGS... -> prints MiB/s per run
    for _ in $(seq "$runs"); do curl -sf "$@" -w '%{speed_download} %{speed_upload}\n' -o /dev/null; done
}
get_oss=$(measure "$oss/bench/obj" | awk '{print $1/1048576}' | median)
get_ngx=$(measure "http://127.0.0.1:$port/obj" | awk '{print $1/1048576}' | median)
put_oss=$(measure -T "$work/www/obj" "$oss/bench/put" | awk '{print $2/1048576}' | median)
put_ngx=$(measure -T "$work/www/obj" "http://127.0.0.1:$port/put" | awk '{print $2/1048576}' | median)

printf '%-28s %12s %12s %8s\n' "1 GiB, loopback, tmpfs" "osslocal" "nginx" "ratio"
printf '%-28s %9.0f MiB/s %6.0f MiB/s %7.2f\n' "GET (median of $runs)" "$get_oss" "$get_ngx" "$(echo "$get_oss / $get_ngx" | bc -l)"
printf '%-28s %9.0f MiB/s %6.0f MiB/s %7.2f\n' "PUT (median of $runs)" "$put_oss" "$put_ngx" "$(echo "$put_oss / $put_ngx" | bc -l)"
