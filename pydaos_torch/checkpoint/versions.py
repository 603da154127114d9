"""The versions of one checkpoint file, and the commit that adds one.

**Never overwritten in place.** A writer writes a temporary hidden file; the commit renames it
to a version name that did not exist, ``.<name>.ckpt-v<N>`` (so the rename replaces nothing:
``dfs_move`` over an existing target punches the target first). Readers open the newest
version. After a commit, older versions are removed (``keep`` are kept). A crash or an
exception at any point leaves the previous version current, and nothing partial under the
name. A plain file ``<name>`` (written by pydaos.torch or any other tool) is read when no
version exists.

**Crash inside the commit.** Without DTX, ``dfs_move`` inserts the new name before it removes
the old one, so a crash in between leaves two names on one object, and removing either one
(``dfs_remove`` punches the object) empties the other; DFS has no call that drops a name
without punching, and ``dfs_stat`` gives no object identity. So the commit takes two moves:
temporary -> pending name that carries N -> version N. A dead writer's temporary can then only
share its object with its pending name (uncommitted), and a dead writer's pending name only
with version N: the clean-up removes temporaries, and a pending name only while version N does
not exist (once version N is collected, the pending name goes with the next clean-up).

**One listing per save**: the directory is listed when the writer opens (for the versions
whose cached pages can go, and the leftovers to collect); the commit takes the next number
after the newest it listed and steps over any that a concurrent writer took since.
"""
from __future__ import annotations

import errno
import posixpath
from typing import List, Optional

from ..container import Container, Entry
from . import naming
from .crash_points import step


def list_dir(c: Container, d: str) -> List[Entry]:
    """The entries of directory ``d`` ([] while it does not exist)."""
    try:
        return c.entries(d)
    except (FileNotFoundError, NotADirectoryError):
        return []


class Versions:
    """Checkpoint file ``path`` of container ``c``: its committed versions, keeping ``keep``."""

    def __init__(self, c: Container, path: str, keep: int = 1):
        self.c, self.path, self.keep = c, path, keep
        self.dir, self.base = posixpath.split(path)

    def listing(self) -> List[Entry]:
        """The entries of the checkpoint's directory ([] while it does not exist)."""
        return list_dir(self.c, self.dir)

    def numbers(self, entries: Optional[List[Entry]] = None) -> List[int]:
        """Committed version numbers, oldest first."""
        entries = self.listing() if entries is None else entries
        found = (naming.version_of(e.name, self.base) for e in entries if not e.is_dir)
        return sorted(n for n in found if n is not None)

    def current(self, entries: Optional[List[Entry]] = None) -> Optional[str]:
        """The path of the newest committed version (None: no version)."""
        ns = self.numbers(entries)
        return naming.version_path(self.path, ns[-1]) if ns else None

    # -- the commit
    def commit(self, tmp: str, entries: List[Entry]) -> int:
        """Makes temporary ``tmp`` the next version; ``entries``: the listing the writer took.
        Returns the version's number."""
        step("before_commit")
        n = (self.numbers(entries) or [0])[-1] + 1
        while self.c.exists(naming.version_path(self.path, n)):  # a concurrent writer took n
            n += 1
        pending = naming.pending_path(tmp, n)
        self._move_uncommitted(tmp, pending)
        step("after_pending")
        self._move_to_version(pending, naming.version_path(self.path, n))  # the commit: a new name
        step("after_commit")
        try:
            self.collect(n, entries)
        except OSError:
            pass  # garbage stays hidden; the next commit or remove() takes it
        return n

    def _move_uncommitted(self, tmp: str, pending: str) -> None:
        try:
            self.c.rename(tmp, pending)
        except BaseException:
            self._discard_quietly(pending)  # a move cut short may have made it; nothing committed
            raise

    def _move_to_version(self, pending: str, target: str) -> None:
        try:
            self.c.rename(pending, target)
        except BaseException:
            # Cut short after its insert, the move left both names on one object: then the
            # pending name stays (removing it would punch the version) until this process ends
            # and a later clean-up finds the version gone.
            try:
                if not self.c.exists(target):
                    self._discard_quietly(pending)
            except OSError:
                pass
            raise

    def discard(self, tmp: str) -> None:
        """Removes an uncommitted temporary (the writer failed or was dropped)."""
        self._remove_quiet(tmp)

    def collect(self, newest: int, entries: List[Entry]) -> None:
        """Removes versions older than the ``keep`` newest, and dead writers' leftovers."""
        for v in self.numbers(entries):
            if v <= newest - self.keep:
                step("collect")
                self._remove_quiet(naming.version_path(self.path, v))
        for e in entries:  # leftovers of writers on this host that died
            if naming.dead_leftover(e.name, self.base) and not self._may_share_a_version(e.name):
                self._remove_quiet(posixpath.join(self.dir, e.name))

    def _may_share_a_version(self, name: str) -> bool:
        """Whether a dead writer's pending name may refer to the object of version N (its
        move to N was cut after the insert): then removing it would punch that version. Asked
        now, not from the listing: the writer may have inserted N after the listing."""
        n = naming.pending_version(name)
        return n is not None and self.c.exists(naming.version_path(self.path, n))

    # -- reading the cache, removing
    def drop_cached(self, entries: List[Entry]) -> None:
        """Where the client caches file data: drops the clean cached pages of the versions
        that the next commit will remove. They stay intact (the previous version is current
        until the commit); only their cached copy goes, so the new version takes the memory
        just freed, as ``torch.save`` overwriting a file in place does: less pressure on the
        data sets' cache, less kernel time where fresh memory is dear. Best effort."""
        try:
            ns = self.numbers(entries)
            if not ns:
                return
            for v in (v for v in ns if v <= ns[-1] + 1 - self.keep):
                f = self.c.open_file(naming.version_path(self.path, v))
                try:
                    f.drop_clean_cache()
                finally:
                    f.close()
        except (OSError, ValueError):
            pass

    def remove(self) -> None:
        """Removes every version (oldest first: the newest stays current until last), the
        writers' leftovers, and a plain file of the name."""
        entries = self.listing()
        found = False
        for v in self.numbers(entries):
            self._remove_quiet(naming.version_path(self.path, v))
            found = True
        for e in entries:  # after the versions: a pending name may share one's object
            if naming.is_leftover(e.name, self.base):
                self._remove_quiet(posixpath.join(self.dir, e.name))
        if any(e.name == self.base for e in entries):
            self.c.remove(self.path)
            found = True
        if not found:
            raise FileNotFoundError(errno.ENOENT, "no such checkpoint", self.path)

    def _discard_quietly(self, p: str) -> None:
        """Removes p while an error is being raised: a second error must not hide the first."""
        try:
            self.c.remove(p)
        except OSError:
            pass

    def _remove_quiet(self, p: str) -> None:
        try:
            self.c.remove(p)
        except FileNotFoundError:
            pass
