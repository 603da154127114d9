"""The versions of one checkpoint file, and the commit that adds one.

**At its name, never overwritten in place.** After a commit, ``<name>`` is the checkpoint: it
opens through POSIX (dfuse, the local directory), ``torch.load`` and pydaos.torch's reader.
A writer writes a hidden temporary; the commit gives it a version name that did not exist,
``.<name>.ckpt-v<N>``; that is the commit point. Then it is published: a marker
``.<name>.ckpt-at-v<N>`` says ``<name>`` holds N, the data ``<name>`` held is kept under a
hidden name (``Container.keep_as``: a hard link on local, a move on DAOS, which has no
links), and ``.ckpt-v<N>`` is renamed to ``<name>``. On local that rename replaces ``<name>``
atomically (rename(2)): a reader sees the old or the new file, never none. On DAOS the
name was freed by the move before, so no move ever replaces a target (``dfs_move`` onto an
existing name punches its object first); ``<name>`` is missing in between, and after a crash
there until the next commit. Old versions, their markers and aliases go last (``keep`` are
kept).

**What a reader opens** (:meth:`Versions.current`): H, the newest hidden version, and P, the
newest marker. If H >= P, the publish of H has not finished: ``.ckpt-v<H>``. Else ``<name>``
(which holds P; with no marker, a plain file from another tool). So after a crash at any
point the previous version or the new one reads whole, on either backend, with or without
DTX.

**Two names on one object.** A non-DTX ``dfs_move`` cut short after its insert leaves both
names on one object, and removing either (``dfs_remove`` punches the object) empties the
other; DFS has no call that drops a name without punching. So: the commit moves the
temporary to a pending name that carries N, then to version N (a dead writer's temporary can
only share its object with its own pending name; a dead pending name only with version N,
and is removed only while version N does not exist). When ``<name>`` is to be kept and its
hidden name already exists (a publish cut after its insert left ``.ckpt-v<N>`` and ``<name>``
on one object), it moves to a fresh alias of N instead; aliases and versions of one number
go together.

**One listing per save**: the directory is listed when the writer opens; the commit takes the
next number after the newest it listed and steps over any that a concurrent writer took
since. One writer per name at a time: concurrent writers each commit a whole version, and
the last to publish holds ``<name>``.
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

    def _numbers(self, pattern, entries: List[Entry]) -> List[int]:
        found = (naming.number_of(pattern, e.name, self.base) for e in entries if not e.is_dir)
        return sorted(n for n in found if n is not None)

    def hidden(self, entries: List[Entry]) -> List[int]:
        """Numbers of the versions under hidden names, oldest first."""
        return self._numbers(naming.VERSION, entries)

    def published(self, entries: List[Entry]) -> Optional[int]:
        """The newest version published at ``<name>`` (None: none)."""
        ns = self._numbers(naming.PUBLISHED, entries)
        return ns[-1] if ns else None

    def has_name(self, entries: List[Entry]) -> bool:
        return any(e.name == self.base and not e.is_dir for e in entries)

    def exists(self, entries: Optional[List[Entry]] = None) -> bool:
        entries = self.listing() if entries is None else entries
        return bool(self.hidden(entries)) or self.has_name(entries)

    def current(self, entries: Optional[List[Entry]] = None) -> Optional[str]:
        """The path holding the newest committed data (None: no checkpoint of this name)."""
        entries = self.listing() if entries is None else entries
        hidden, published = self.hidden(entries), self.published(entries)
        if hidden and (published is None or hidden[-1] >= published):
            return naming.version_path(self.path, hidden[-1])  # its publish did not finish
        if self.has_name(entries):
            return self.path
        return naming.version_path(self.path, hidden[-1]) if hidden else None

    # -- the commit
    def commit(self, tmp: str, entries: List[Entry]) -> int:
        """Makes temporary ``tmp`` the next version and publishes it at ``<name>``;
        ``entries``: the listing the writer took. Returns the version's number."""
        step("before_commit")
        n = self._next(entries)
        while self.c.exists(naming.version_path(self.path, n)) or self.c.exists(naming.published_path(self.path, n)):
            n += 1  # a concurrent writer took n
        pending = naming.pending_path(tmp, n)
        self._move_uncommitted(tmp, pending)
        step("after_pending")
        self._move_to_version(pending, naming.version_path(self.path, n))  # the commit: a new name
        step("after_commit")
        kept = self._publish(n, entries)
        if kept is not None:  # made after the listing, collected by the same rules
            entries = entries + [Entry(posixpath.basename(kept), False)]
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

    def _publish(self, n: int, entries: List[Entry]) -> Optional[str]:
        """Version n (committed) becomes ``<name>``; what ``<name>`` held is kept hidden
        (returns that name)."""
        keep: Optional[str] = None
        try:
            self.c.create_file(naming.published_path(self.path, n)).close()
        except FileExistsError:
            pass
        step("after_marker")
        if self.c.exists(self.path):
            held = self._held(n, entries)
            keep = naming.version_path(self.path, held)
            if self.c.exists(keep):  # a publish cut after its insert: one object, two names
                keep = naming.alias_path(self.path, held)
            self.c.keep_as(self.path, keep)
            step("after_keep")
        self.c.rename(naming.version_path(self.path, n), self.path)
        step("after_publish")
        return keep

    def _held(self, n: int, entries: List[Entry]) -> int:
        """The version ``<name>`` holds before n is published: the newest marker below n,
        asked now (a concurrent writer may have published since the listing; normally the
        first probe, n - 1, finds it); 0 for a plain file of another tool."""
        listed = self.published(entries) or 0
        for k in range(n - 1, listed, -1):
            if self.c.exists(naming.published_path(self.path, k)):
                return k
        return listed

    def discard(self, tmp: str) -> None:
        """Removes an uncommitted temporary (the writer failed or was dropped)."""
        self._remove_quiet(tmp)

    def collect(self, newest: int, entries: List[Entry]) -> None:
        """Removes versions (with their aliases) older than the ``keep`` newest, markers older
        than the newest, and dead writers' leftovers."""
        for e in entries:
            v = naming.number_of(naming.VERSION, e.name, self.base)
            a = naming.number_of(naming.ALIAS, e.name, self.base)
            p = naming.number_of(naming.PUBLISHED, e.name, self.base)
            if (v is not None and v <= newest - self.keep) or (a is not None and a <= newest - self.keep):
                step("collect")
                self._remove_quiet(posixpath.join(self.dir, e.name))
            elif p is not None and p < newest:
                self._remove_quiet(posixpath.join(self.dir, e.name))
        for e in entries:  # leftovers of writers on this host that died
            if naming.dead_leftover(e.name, self.base) and not self._may_share_a_version(e.name):
                self._remove_quiet(posixpath.join(self.dir, e.name))

    def _may_share_a_version(self, name: str) -> bool:
        """Whether a dead writer's pending name may refer to the object of version N (its
        move to N was cut after the insert): then removing it would punch that version. Asked
        now, not from the listing: the writer may have inserted N after the listing."""
        n = naming.pending_version(name)
        return n is not None and self.c.exists(naming.version_path(self.path, n))

    # -- the cache, removing
    def drop_cached(self, entries: List[Entry]) -> None:
        """Where the client caches file data: drops the clean cached pages of the versions
        that the next commit will remove. They stay intact (the previous version is current
        until the commit); only their cached copy goes, so the new version takes the memory
        just freed, as ``torch.save`` overwriting a file in place does: less pressure on the
        data sets' cache, less kernel time where fresh memory is dear. Best effort."""
        try:
            doomed = [naming.version_path(self.path, v) for v in self.hidden(entries) if v <= self._next(entries) - self.keep]
            if self.keep == 1 and self.has_name(entries):
                doomed.append(self.path)  # kept under a hidden name by the publish, then collected
            for p in doomed:
                self.c.drop_clean_cache(p)
        except (OSError, ValueError):
            pass

    def _next(self, entries: List[Entry]) -> int:
        return max(self.hidden(entries) + [self.published(entries) or 0]) + 1

    def remove(self) -> None:
        """Removes ``<name>`` first (POSIX readers see it go), then every version, alias,
        marker and writers' leftover (a pending name after the versions: it may share one's
        object)."""
        entries = self.listing()
        if not self.exists(entries):
            raise FileNotFoundError(errno.ENOENT, "no such checkpoint", self.path)
        if self.has_name(entries):
            self.c.remove(self.path)
        ordered = sorted(entries, key=lambda e: naming.is_leftover(e.name, self.base))
        for e in ordered:
            if any(naming.number_of(p, e.name, self.base) is not None
                   for p in (naming.VERSION, naming.ALIAS, naming.PUBLISHED)) or naming.is_leftover(e.name, self.base):
                self._remove_quiet(posixpath.join(self.dir, e.name))

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
