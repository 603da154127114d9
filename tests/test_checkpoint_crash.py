"""A checkpoint commit killed at every step, then the next commit and its clean-up: every
committed version must still load whole, no clean-up may destroy one, and the checkpoint's
own name (what dfuse, torch.load and pydaos.torch open) holds a whole version or, on DAOS
between the keep and the publish, nothing.

On dfs the crash points include each DAOS update of a non-DTX dfs_move (tests/fake_dfs/README.md,
"dfs_move"; "@2" = in the commit's second move). The one that mattered: right after the insert,
the temporary name and the version name refer to one object, and removing the dead writer's
temporary (dfs_remove punches the object) emptied the version kept by keep_versions >= 2. On
local, where rename(2) is atomic, the crash points are the commit's own steps."""
import errno
import hashlib
import os
import random
import re
import subprocess
import sys
import textwrap

import pytest

import pydaos_torch
from pydaos_torch import Checkpoint

SIZE = 50_000
VERSION = re.compile(r"^\.model\.pt\.ckpt-v\d+$")
MARKER = re.compile(r"^\.model\.pt\.ckpt-at-v\d+$")

CHILD = textwrap.dedent("""
    import os, random, sys
    from pydaos_torch import checkpoint as mod
    from pydaos_torch.checkpoint import crash_points  # noqa: F401 (mod.crash_points)
    point, keep, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if point.startswith("py:"):
        mod.crash_points.hook = lambda step: os._exit(77) if step == point[3:] else None
    ck = mod.Checkpoint(prefix="/ck", keep_versions=keep, transfer_chunk_size=4096, chunks_limit=2, workers=2)
    with ck.writer("model.pt") as w:
        w.write(random.Random(seed).randbytes({size}))
    os._exit(0)
    """).format(size=SIZE)

MOVE_POINTS = [f"move:{step}@{n}" for n in (1, 2, 3, 4)
               for step in ("after_punch_target", "after_remove_target", "after_insert", "after_remove_source")]
PY_POINTS = ["py:before_commit", "py:after_pending", "py:after_commit", "py:after_marker", "py:after_keep",
             "py:after_publish", "py:collect"]
# A commit moves its temporary to a fresh name, then to the fresh version name; the publish
# moves the name's data to a hidden name (DAOS has no links), then the version to the name:
# four moves, none onto an existing name, so the steps that remove a target never happen.
REACHED = {f"move:{s}@{n}" for n in (1, 2, 3, 4) for s in ("after_insert", "after_remove_source")} | set(PY_POINTS)


def payload(seed: int) -> bytes:
    return random.Random(seed).randbytes(SIZE)


def digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def commit(ck, seed: int) -> None:
    with ck.writer("model.pt") as w:
        w.write(payload(seed))


def seed_of(c, name: str, known: dict) -> int:
    got = c.read("/ck/" + name)
    assert digest(got) in known, f"{name}: {len(got)} bytes, not a whole committed checkpoint"
    return known[digest(got)]


def versions_load_whole(c, known: dict) -> list:
    """Seeds of the kept versions: the hidden ones by number, then the one at the name; each
    must read back whole. (An alias is a repair name that may share a collected version's
    object: never read, removed by the clean-up with its number.)"""
    names = c.listdir("/ck")
    seeds = [seed_of(c, n, known) for n in sorted(n for n in names if VERSION.match(n))]
    return seeds + ([seed_of(c, "model.pt", known)] if "model.pt" in names else [])


def settled(c) -> list:
    """What a settled checkpoint leaves besides its kept versions: only its marker."""
    return [n for n in c.listdir("/ck") if not VERSION.match(n) and n != "model.pt" and not MARKER.match(n)]


def child_env(backend, **fake) -> dict:
    """A child's environment: this tree's package, the backend, and the double's settings."""
    env = dict(os.environ, **backend.env())
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(pydaos_torch.__file__)),
                                         env.get("PYTHONPATH", "")])
    if fake:
        env.update(backend.control.env(backend.store, libdfs=backend.lib, **fake))
    return env


def run_child(backend, point: str, keep: int, seed: int):
    env = child_env(backend, crash_at=point) if point.startswith("move:") else child_env(backend)
    return subprocess.run([sys.executable, "-c", CHILD, point, str(keep), str(seed)], env=env,
                          capture_output=True, text=True, timeout=120)


def crash_exit(backend, point: str) -> int:
    return backend.control.CRASH_EXIT if point.startswith("move:") else 77


@pytest.mark.parametrize("keep", [1, 2])
@pytest.mark.parametrize("point", MOVE_POINTS + PY_POINTS)
def test_commit_killed_at_any_step_loses_no_committed_version(backend, request, point, keep):
    if point.startswith("move:") and backend.name != "dfs":
        pytest.skip("crash points inside dfs_move exist in the DAOS test double")
    container = request.getfixturevalue("container")
    ck = Checkpoint(container=container, prefix="/ck", keep_versions=keep)
    known = {digest(payload(s)): s for s in range(10)}
    for seed in (0, 1, 2):
        commit(ck, seed)

    r = run_child(backend, point, keep, 3)
    crashed = point in REACHED
    assert r.returncode == (crash_exit(backend, point) if crashed else 0), r.stderr
    if backend.name == "dfs":
        backend.reset_counters()  # the child connected by itself
    landed = 3 in versions_load_whole(container, known)  # the child's version is committed
    assert landed or crashed
    with ck.reader("model.pt") as f:
        assert f.read() == payload(3 if landed else 2)
    if container.exists("/ck/model.pt"):  # at its name: a whole version (checked above)...
        assert seed_of(container, "model.pt", known) in (2, 3)
    else:  # ...or, on DAOS between the keep and the publish, none until the next commit
        assert backend.name == "dfs" and landed, point

    commit(ck, 4)  # the next commit, and its clean-up of old versions and dead leftovers
    assert versions_load_whole(container, known) == [3 if landed else 2, 4][-keep:]
    with ck.reader("model.pt") as f:
        assert f.read() == payload(4) == container.read("/ck/model.pt")

    for seed in range(5, 5 + keep):  # once the versions of that time are gone, so are leftovers
        commit(ck, seed)
    assert versions_load_whole(container, known) == list(range(5, 5 + keep))
    assert settled(container) == []


@pytest.mark.parametrize("point", ["move:after_insert@1", "move:after_insert@2", "py:after_pending"])
def test_remove_after_a_crashed_commit_takes_every_name(backend, request, point):
    if point.startswith("move:") and backend.name != "dfs":
        pytest.skip("crash points inside dfs_move exist in the DAOS test double")
    container = request.getfixturevalue("container")
    ck = Checkpoint(container=container, prefix="/ck", keep_versions=2)
    commit(ck, 0)
    r = run_child(backend, point, 2, 1)
    assert r.returncode == crash_exit(backend, point), r.stderr
    if backend.name == "dfs":
        backend.reset_counters()
    assert len(container.listdir("/ck")) > 1  # the version(s) and the dead writer's leftovers
    ck.remove("model.pt")
    assert container.listdir("/ck") == [] and not ck.exists("model.pt")


FAILING_CHILD = textwrap.dedent("""
    import sys
    from pydaos_torch import Checkpoint
    ck = Checkpoint(prefix="/ck")
    try:
        with ck.writer("model.pt") as w:
            w.write(b"new" * 1000)
    except OSError as e:
        print(repr(e))
        sys.exit(3)
    """)


@pytest.mark.parametrize("nth", [1, 2])
def test_commit_whose_move_fails_raises_and_keeps_previous(backend, request, nth):
    """A DAOS error in the commit's first or second dfs_move: the error names the path, the
    previous version stays current, and nothing of the failed commit is left behind."""
    if backend.name != "dfs":
        pytest.skip("faults are injected by the DAOS test double")
    container = request.getfixturevalue("container")
    ck = Checkpoint(container=container, prefix="/ck")
    commit(ck, 0)
    r = subprocess.run([sys.executable, "-c", FAILING_CHILD], env=child_env(backend, faults=f"dfs_move:{nth}:EIO"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert "rename" in r.stdout and "/ck/.model.pt.ckpt-" in r.stdout and "Input/output error" in r.stdout
    backend.reset_counters()
    assert versions_load_whole(container, {digest(payload(0)): 0}) == [0]
    assert settled(container) == []


def test_name_too_long_for_the_commit_is_refused_before_writing(container):
    """A name whose temporary fits but whose pending commit name would not (> 255 bytes)."""
    ck = Checkpoint(container=container, prefix="/ck")
    name = "m" * 215
    with pytest.raises(OSError) as e:
        ck.writer(name)
    assert e.value.errno == errno.ENAMETOOLONG and name in str(e.value)
    assert not container.exists("/ck")  # nothing made, not even the directory
