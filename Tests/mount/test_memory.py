"""Memory stays bounded: during 8 concurrent writes and 8 concurrent reads of
128 MiB each with total_mem_limit=256M, the daemon's peak RSS stays within
256 MiB + 64 MiB (VmHWM from /proc/PID/status, printed). scripts/bench/memory.sh
measures the same with larger files and a release build."""
import os
import signal
import subprocess
import tempfile
import threading

import oss2

from conftest import wait_until



def test_peak_rss_with_eight_writers_and_eight_readers(env):
    block = os.urandom(1 << 20)
    for i in range(8):
        env.bucket.put_object(f"mem/r{i}.bin", block * 128)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    proc = subprocess.Popen(env.mount_args("mem/", mnt, "total_mem_limit=256M") + ["-f"], env=env.credentials_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: os.path.ismount(mnt))
        jobs = [["dd", "if=/dev/zero", f"of={mnt}/w{i}.bin", "bs=1M", "count=128"] for i in range(8)]
        jobs += [["dd", f"if={mnt}/r{i}.bin", "of=/dev/null", "bs=1M"] for i in range(8)]
        results = []
        threads = [threading.Thread(target=lambda j=j: results.append(subprocess.run(j, capture_output=True)))
                   for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert [r.returncode for r in results] == [0] * 16, [r.stderr for r in results]
        status = open(f"/proc/{proc.pid}/status").read()
        peak_kib = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
        print(f"daemon peak RSS: {peak_kib // 1024} MiB (bound {256 + 64} MiB)")
        assert peak_kib <= (256 + 64) * 1024
        for i in range(8):
            assert os.path.getsize(f"{mnt}/w{i}.bin") == 128 << 20
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        subprocess.run(["fusermount3", "-uz", mnt], check=False, stderr=subprocess.DEVNULL)
