"""Memory stays bounded: during 4 concurrent 1 GiB writes and 2 concurrent 1 GiB
reads with total_mem_limit=512M, the daemon's peak RSS stays within 512 MiB +
96 MiB (measured from /proc/PID/status, printed)."""
import os
import signal
import subprocess
import tempfile
import threading

import oss2

from conftest import wait_until

GIB = 1 << 30


def test_peak_rss_with_four_writers_and_two_readers(env):
    block = os.urandom(1 << 20)
    for name in ("r0.bin", "r1.bin"):
        uid = env.bucket.init_multipart_upload("mem/" + name).upload_id
        parts = [oss2.models.PartInfo(i + 1, env.bucket.upload_part("mem/" + name, uid, i + 1, block * 128).etag)
                 for i in range(8)]
        env.bucket.complete_multipart_upload("mem/" + name, uid, parts)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    proc = subprocess.Popen(env.mount_args("mem/", mnt, "total_mem_limit=512M") + ["-f"], env=env.credentials_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: os.path.ismount(mnt))
        jobs = [["dd", "if=/dev/zero", f"of={mnt}/w{i}.bin", "bs=1M", "count=1024"] for i in range(4)]
        jobs += [["dd", f"if={mnt}/r{i}.bin", "of=/dev/null", "bs=1M"] for i in range(2)]
        results = []
        threads = [threading.Thread(target=lambda j=j: results.append(subprocess.run(j, capture_output=True)))
                   for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
        status = open(f"/proc/{proc.pid}/status").read()
        peak_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
        print(f"daemon peak RSS: {peak_kib // 1024} MiB (bound {512 + 96} MiB)")
        assert peak_kib <= (512 + 96) * 1024
        for i in range(4):
            assert os.path.getsize(f"{mnt}/w{i}.bin") == GIB
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        subprocess.run(["fusermount3", "-uz", mnt], check=False, stderr=subprocess.DEVNULL)
