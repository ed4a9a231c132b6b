# Shared by the mount benchmarks: release builds, an osslocal on tmpfs (signed,
# loopback), a scratch mountpoint, cleanup, medians and CPU seconds. Sourced, not
# run. With tls=1 set before sourcing, osslocal also serves HTTPS (its own CA) and
# the mount and the curl ceiling use it; data is loaded over plain HTTP.
. scripts/lib/deps.sh
install_deps
swift build -c release --product ossmount >/dev/null
swift build -c release --product osslocal >/dev/null
bin=$(swift build -c release --show-bin-path)

work=$(mktemp -d /dev/shm/ossbench.XXXXXX)
mnt=$(mktemp -d /tmp/ossbench-mnt.XXXXXX)
osspid=""
cleanup() {
    mountpoint -q "$mnt" && fusermount3 -u "$mnt"
    [ -n "$osspid" ] && kill "$osspid" 2>/dev/null && wait "$osspid" 2>/dev/null
    rm -rf "$work"; rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT

export OSSLOCAL_ACCESS_KEY_SECRET=bench-secret
tls=${tls:-}
"$bin/osslocal" --root "$work/root" --bucket bench --access-key-id bench-key --listen 127.0.0.1:0 \
    ${tls:+--tls-self-signed "$work/pki" --tls-listen 127.0.0.1:0} > "$work/osslocal.out" &
osspid=$!
for _ in $(seq 100); do grep -q "listening on ${tls:+https}" "$work/osslocal.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(awk '/listening on http:/ {print $NF}' "$work/osslocal.out")
# What the mount and the curl ceiling use: HTTPS with tls=1.
wire=$endpoint wire_opts="" curl_tls=()
if [ -n "$tls" ]; then
    wire=$(awk '/listening on https:/ {print $NF}' "$work/osslocal.out")
    wire_opts=",ca_bundle=$work/pki/ca.pem"
    curl_tls=(--cacert "$work/pki/ca.pem")
fi
transport=${tls:+HTTPS}; transport=${transport:-HTTP}

# presign METHOD KEY: a URL curl can use without signing (on the wire endpoint).
presign() {
    python3 - "$wire" "$1" "$2" <<'PY'
import sys, oss2
b = oss2.Bucket(oss2.AuthV4("bench-key", "bench-secret"), sys.argv[1], "bench", region="cn-hangzhou", is_path_style=True)
print(b.sign_url(sys.argv[2], sys.argv[3], 3600))
PY
}

mount_bench() {
    OSS_ACCESS_KEY_ID=bench-key OSS_ACCESS_KEY_SECRET=bench-secret \
        "$bin/ossmount" bench "$mnt" -o "endpoint=$wire,region=cn-hangzhou,log_file=$work/ossmount.log$wire_opts${1:+,$1}${OSSMOUNT_BENCH_OPTIONS:+,$OSSMOUNT_BENCH_OPTIONS}"
    daemon=$(pgrep -n -f "ossmount bench $mnt")
}

# mark_cpu VAR: sets VAR to the user+system CPU seconds this shell's finished
# children (and theirs) have used so far: the curl ceiling's own cost, taken around it.
mark_cpu() {
    times > "$work/times"
    printf -v "$1" '%s' "$(awk 'NR == 2 { gsub(/s/, ""); split($1, u, "m"); split($2, s, "m"); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$work/times")"
}

# cpu PID: user+system CPU seconds the process has used so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { sort -g | awk '{a[NR]=$1} END {printf "%.0f (min %.0f, max %.0f)", a[int((NR+1)/2)], a[1], a[NR]}'; }
mid() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
