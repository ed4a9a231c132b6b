"""A concurrent, model-checked fuzzer through the real mount.

Each seed runs rounds in which 4 threads issue one random operation each, at
once (a barrier starts them together), on a small shared name space, so they
collide: writes, appends, pwrites, truncates (by path and by descriptor),
chmod, utime, unlink, rename, symlink, mkdir and rmdir. After every round
(a quiescent point) three views must agree:
  - the mount's view (lstat, read, readlink),
  - what the bucket holds (oss2: listing, GET, HEAD, GetSymlink),
  - the model: some serial order of the round's operations applied to the
    previous state must give exactly this state, and in that order each
    operation's outcome (success or errno) must be the one observed.
Concurrent operations are allowed any serial order (linearizability at round
granularity); nothing else is. One documented difference from POSIX that a
collision can hit is allowed as an outcome with no effect: ESTALE for an open
through a name removed or replaced meanwhile, or an edit of an object replaced
since its open (docs/SEMANTICS.md).

Seeds that failed while this was built are kept in REGRESSIONS and run first.
"""
import errno
import itertools
import os
import random
import stat
import threading

import oss2
import pytest

THREADS = 4
ROUNDS = 8
# CI runs 100; before a change to the VFS lands, run many more:
#   FUZZ_SEEDS=1000 python3 -m pytest Tests/mount/test_posix_fuzz.py
SEEDS = int(os.environ.get("FUZZ_SEEDS", "100"))
# Seeds that failed while this was built, replayed (same operations) first:
#   3: a moved symlink kept its target key, so its readlink text changed
#  31, 45: rmdir raced a create in the directory; both succeeded and the file
#          brought the directory back
#  62: an open through a name replaced by rename edited the new object (ENOENT)
#  35, 79: a writer opened during a rename stored under the old name
#  99: a chmod's metadata copy set the size of a file another descriptor was
#      extending back to the stored size (the kernel then cut reads short)
REGRESSIONS = [3, 31, 35, 45, 62, 79, 99, 469]

FILES = ["a", "b", "c", "s/a", "s/b"]
DIR = "s"
LINK_TARGET = "zz/nowhere"
MODES = [0o600, 0o640, 0o644, 0o755]


class Op:
    def __init__(self, kind, *args):
        self.kind, self.args = kind, args

    def __repr__(self):
        return f"{self.kind}{self.args!r}"


def random_op(rng, tag):
    kind = rng.choice(["write", "write", "append", "pwrite", "truncate", "ftruncate", "chmod", "utime", "unlink",
                       "rename", "symlink", "mkdir", "rmdir"])
    name = rng.choice(FILES)
    payload = f"<{tag}>".encode() * rng.randint(1, 3)
    if kind in ("write", "append"):
        return Op(kind, name, payload)
    if kind == "pwrite":
        return Op(kind, name, rng.randint(0, 12), payload)
    if kind in ("truncate", "ftruncate"):
        return Op(kind, name, rng.randint(0, 20))
    if kind == "chmod":
        return Op(kind, name, rng.choice(MODES))
    if kind == "utime":
        return Op(kind, name, 1_600_000_000 + rng.randint(0, 10**6))
    if kind == "rename":
        return Op(kind, name, rng.choice([n for n in FILES if n != name]))
    if kind in ("mkdir", "rmdir"):
        return Op(kind, DIR)
    return Op(kind, name)


EDITS = ("write", "append", "pwrite", "truncate", "ftruncate")


def round_ops(rng, r):
    """One operation per thread. At most one edit of a name per round: an edit is
    several syscalls (open, write, close), and two of one file at once interleave in
    ways no serial order of whole operations gives, on a local disk too; two
    descriptors writing one file is also a documented difference (each stores its
    own whole file at close, the last close wins). Every other collision is made."""
    ops = []
    for t in range(THREADS):
        while True:
            op = random_op(rng, f"{r}.{t}")
            if op.kind not in EDITS or not any(o.kind in EDITS and o.args[0] == op.args[0] for o in ops):
                break
        ops.append(op)
    return ops


# ---- the model: {name: ("f", bytes, mode) | ("l", target) | ("d",)} ----

def parent_ok(state, name):
    return "/" not in name or state.get(name.split("/")[0]) == ("d",)


def apply(state, op):
    """Applies op to a copy of state; returns (new state, errno or 0)."""
    s = dict(state)
    k, a = op.kind, op.args
    name = a[0]
    node = s.get(name)
    if k == "mkdir":
        if name in s:
            return state, errno.EEXIST
        s[name] = ("d",)
        return s, 0
    if k == "rmdir":
        if node is None:
            return state, errno.ENOENT
        if node != ("d",):
            return state, errno.ENOTDIR
        if any(n.startswith(name + "/") for n in s):
            return state, errno.ENOTEMPTY
        del s[name]
        return s, 0
    if not parent_ok(s, name):
        return state, errno.ENOENT
    if k == "write":
        if node is not None and node[0] == "l":
            return state, errno.ELOOP
        mode = node[2] if node else 0o644
        s[name] = ("f", a[1], mode)
        return s, 0
    if k == "symlink":
        if node is not None:
            return state, errno.EEXIST
        s[name] = ("l", LINK_TARGET)
        return s, 0
    if node is None:
        return state, errno.ENOENT
    if k == "unlink":
        del s[name]
        return s, 0
    if k == "rename":
        dst = a[1]
        if not parent_ok(s, dst):
            return state, errno.ENOENT
        s[dst] = node
        del s[name]
        return s, 0
    if node[0] == "l":  # the rest follow links (truncate, chmod, utime) or refuse them (O_NOFOLLOW)
        return state, errno.ELOOP if k in ("append", "pwrite", "ftruncate") else errno.ENOENT
    data, mode = node[1], node[2]
    if k == "append":
        data = data + a[1]
    elif k == "pwrite":
        off, payload = a[1], a[2]
        if off > len(data):
            data = data + bytes(off - len(data))
        data = data[:off] + payload + data[off + len(payload):]
    elif k in ("truncate", "ftruncate"):
        n = a[1]
        data = data[:n] + bytes(max(0, n - len(data)))
    elif k == "chmod":
        mode = a[1]
    s[name] = ("f", data, mode)
    return s, 0


# ---- running an operation through the mount ----

def run(base, op):
    k, a = op.kind, op.args
    p = os.path.join(base, a[0])
    try:
        if k == "write":
            fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            try:
                os.write(fd, a[1])
            finally:
                os.close(fd)
        elif k == "append":
            fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
            try:
                os.write(fd, a[1])
            finally:
                os.close(fd)
        elif k == "pwrite":
            fd = os.open(p, os.O_RDWR | os.O_NOFOLLOW)
            try:
                os.pwrite(fd, a[2], a[1])
            finally:
                os.close(fd)
        elif k == "truncate":
            os.truncate(p, a[1])
        elif k == "ftruncate":
            fd = os.open(p, os.O_RDWR | os.O_NOFOLLOW)
            try:
                os.ftruncate(fd, a[1])
            finally:
                os.close(fd)
        elif k == "chmod":
            os.chmod(p, a[1])
        elif k == "utime":
            os.utime(p, (a[1], a[1]))
        elif k == "unlink":
            os.unlink(p)
        elif k == "rename":
            os.rename(p, os.path.join(base, a[1]))
        elif k == "symlink":
            os.symlink(LINK_TARGET, p)
        elif k == "mkdir":
            os.mkdir(p)
        elif k == "rmdir":
            os.rmdir(p)
        return 0
    except OSError as e:
        return e.errno


# ---- the two views ----

def mount_view(base):
    view = {}
    for name in [DIR] + FILES:
        p = os.path.join(base, name)
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            continue
        if stat.S_ISDIR(st.st_mode):
            view[name] = ("d",)
        elif stat.S_ISLNK(st.st_mode):
            view[name] = ("l", os.readlink(p))
        else:
            try:
                with open(p, "rb") as f:
                    view[name] = ("f", f.read(), stat.S_IMODE(st.st_mode))
            except OSError as e:
                raise OSError(e.errno, f"{e.strerror}: {name}") from e
    return view


def bucket_view(env, prefix):
    view = {}
    for o in oss2.ObjectIteratorV2(env.bucket, prefix=prefix):
        name = o.key[len(prefix):]
        if not name:
            continue  # the seed directory's own marker
        if name.endswith("/"):
            view[name[:-1]] = ("d",)
            continue
        if "/" in name:
            view.setdefault(name.split("/")[0], ("d",))
        head = env.bucket.head_object(o.key) if o.type != "Symlink" else None
        if o.type == "Symlink":
            target = env.bucket.get_symlink(o.key).target_key
            directory = prefix + (name.rsplit("/", 1)[0] + "/" if "/" in name else "")
            assert target == directory + LINK_TARGET, (o.key, target)
            view[name] = ("l", LINK_TARGET)
        else:
            data = env.bucket.get_object(o.key).read()
            view[name] = ("f", data, int(head.headers.get("x-oss-meta-mode", "420")))
    return view


def check_round(state, ops, outcomes, observed):
    """The states some serial order of ops can give from `state` with the observed
    outcomes; ESTALE counts as an operation without effect."""
    for order in itertools.permutations(range(len(ops))):
        s, ok = state, True
        for i in order:
            if outcomes[i] == errno.ESTALE:
                continue
            s, e = apply(s, ops[i])
            if e != outcomes[i]:
                ok = False
                break
        if ok and s == observed:
            return True
    return False


def fuzz(env, mnt, seed, tag):
    rng = random.Random(seed)
    base = os.path.join(mnt, f"{tag}{seed}")
    prefix = f"fz/{tag}{seed}/"
    os.mkdir(base)
    state = {}
    history = []
    for r in range(ROUNDS):
        ops = round_ops(rng, r)
        outcomes = [None] * THREADS
        barrier = threading.Barrier(THREADS)

        def worker(t):
            barrier.wait()
            outcomes[t] = run(base, ops[t])

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        history.append(list(zip(ops, outcomes)))
        context = f"seed {seed} round {r}: {history}"
        try:
            seen = mount_view(base)
        except OSError as e:
            raise AssertionError(f"mount view: {e}; {context}") from e
        stored = bucket_view(env, prefix)
        assert seen == stored, f"mount {seen} != bucket {stored}; {context}"
        assert check_round(state, ops, outcomes, seen), f"no serial order gives {seen} from {state}; {context}"
        state = seen


@pytest.fixture(scope="module")
def fuzz_mount(env):
    with env.mounted("fz/") as mnt:
        yield mnt


@pytest.mark.parametrize("seed", REGRESSIONS)
def test_regression_seed(env, fuzz_mount, seed):
    fuzz(env, fuzz_mount, seed, "regression")


@pytest.mark.parametrize("seed", range(SEEDS))
def test_fuzz_seed(env, fuzz_mount, seed):
    fuzz(env, fuzz_mount, seed, "seed")
