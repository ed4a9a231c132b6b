#!/usr/bin/env bash
# One command to try ossmount without a cloud account: installs what it needs,
# builds ossmount and osslocal, starts osslocal with a demo bucket (a few hundred
# small files in nested folders and one large file), mounts it, and says what to
# try. Run it again to start over.
#   scripts/demo.sh            (state under /tmp/ossmount-demo, or $OSSMOUNT_DEMO_DIR)
#   scripts/demo.sh --tls      the same over HTTPS (osslocal makes a CA; the mount trusts it)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
install_deps

demo=${OSSMOUNT_DEMO_DIR:-/tmp/ossmount-demo}
tls=""; [ "${1:-}" = "--tls" ] && tls=1
echo "== building ossmount and osslocal"
swift build --product ossmount >/dev/null
swift build --product osslocal >/dev/null
bin=$(swift build --show-bin-path)

# Start over: unmount and stop what an earlier run left.
if mountpoint -q "$demo/mnt" 2>/dev/null; then fusermount3 -u "$demo/mnt" || fusermount3 -uz "$demo/mnt"; fi
if [ -f "$demo/osslocal.pid" ] && kill -0 "$(cat "$demo/osslocal.pid")" 2>/dev/null; then
    kill "$(cat "$demo/osslocal.pid")"
    while kill -0 "$(cat "$demo/osslocal.pid")" 2>/dev/null; do sleep 0.1; done
fi
rm -rf "$demo"
mkdir -p "$demo/mnt" "$demo/data"

export OSSLOCAL_ACCESS_KEY_SECRET=demo-secret
# With --tls, HTTP stays on the first port (the demo data goes in that way) and
# HTTPS is served on a second one, which the mount uses.
setsid "$bin/osslocal" --root "$demo/data" --bucket demo --access-key-id demo-key \
    --listen 127.0.0.1:0 --request-log "$demo/requests.log" \
    ${tls:+--tls-self-signed "$demo/pki" --tls-listen 127.0.0.1:0} > "$demo/osslocal.out" 2>&1 < /dev/null &
echo $! > "$demo/osslocal.pid"
for _ in $(seq 100); do grep -q listening "$demo/osslocal.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(awk '/listening on http:/ {print $NF}' "$demo/osslocal.out")
mount_endpoint=$endpoint mount_tls=""
if [ -n "$tls" ]; then
    mount_endpoint=$(awk '/listening on https:/ {print $NF}' "$demo/osslocal.out")
    mount_tls=",ca_bundle=$demo/pki/ca.pem"
fi
[ -n "$endpoint" ] || { echo "osslocal did not start:"; cat "$demo/osslocal.out"; exit 1; }

echo "== writing demo data to bucket 'demo' at $endpoint"
python3 - "$endpoint" <<'PY'
import sys, os, oss2, random
b = oss2.Bucket(oss2.AuthV4("demo-key", "demo-secret"), sys.argv[1], "demo", region="cn-hangzhou", is_path_style=True)
rng = random.Random(1)
for split in ("train", "val"):
    for shard in range(10 if split == "train" else 3):
        for i in range(20):
            b.put_object(f"datasets/mnist-like/{split}/shard-{shard:02d}/sample-{i:03d}.json",
                         ('{"label": %d, "pixels": "%s"}\n' % (rng.randrange(10), os.urandom(300).hex())).encode())
b.put_object("datasets/README.txt", b"Demo data written by scripts/demo.sh\n")
b.put_object("checkpoints/", b"")
big = os.urandom(1 << 20) * 256
b.put_object("models/weights-256MiB.bin", big)
print("   260 small files, 1 large file (256 MiB)")
PY

echo "== mounting at $demo/mnt"
OSS_ACCESS_KEY_ID=demo-key OSS_ACCESS_KEY_SECRET=demo-secret \
    "$bin/ossmount" demo "$demo/mnt" -o "endpoint=$mount_endpoint,region=cn-hangzhou,log_file=$demo/ossmount.log$mount_tls"

cat <<EOF2

ossmount is serving bucket 'demo' from osslocal ($mount_endpoint) at $demo/mnt. Try:

    ls -l $demo/mnt/datasets/mnist-like/train
    cat $demo/mnt/datasets/README.txt
    find $demo/mnt -type f | wc -l
    time cat $demo/mnt/models/weights-256MiB.bin > /dev/null

What ossmount sent is logged by osslocal in $demo/requests.log.
When done:

    fusermount3 -u $demo/mnt
    kill \$(cat $demo/osslocal.pid)
EOF2
