"""``checkpoint.checkpoint_mechanism_classname: pydaos_torch.dlio.checkpointing.PyDaosCheckpointing``.

DLIO's PyTorch checkpointing, saved (and, on DLIO main, loaded) through
:class:`pydaos_torch.checkpoint.Checkpoint`: each file is streamed in parallel chunks
(``workload.pydaos.checkpoint_chunk_size``/``_workers``), committed atomically (a new version,
never overwritten in place), and each DLIO checkpoint is a multi-rank tag: once every rank has
saved its files, rank 0 writes the tag's commit marker (``<tag>/.ckpt-commit``).

Works with both DLIO checkpoint APIs:

* DLIO 2.0.0 (PyPI): ``checkpoint(epoch, step)`` -> ``save_state(suffix, state)``; no load path.
  DLIO's flat names ``model-E-S-R.pt`` are kept, inside the tag ``global_epochE_stepS/`` (so
  the multi-rank commit has a directory);
* DLIO main: ``save_checkpoint``/``load_checkpoint`` -> ``save_state(suffix, state, fsync)`` /
  ``load_state(suffix, state)``; names ``global_epochE_stepS/model_states-R.pt`` etc. as DLIO's.
  A load refuses a tag without its commit marker.

Read a DLIO checkpoint back with our API::

    ck = pydaos_torch.checkpoint.Checkpoint(pool, cont, prefix="/checkpoints/unet3d")
    ck.list()                                   # committed tags
    torch.load(ck.reader("global_epoch1_step4/model-1-4-0.pt"))
"""
from __future__ import annotations

import logging
import posixpath
from typing import Callable, Optional

import torch
from dlio_benchmark.checkpointing.base_checkpointing import BaseCheckpointing
from dlio_benchmark.checkpointing.pytorch_checkpointing import PyTorchCheckpointing

from ..checkpoint import Checkpoint
from ..checkpoint.facade import raise_real_error
from . import runtime
from .runtime import DlioPluginError
from .settings import Settings


def on_every_rank(what: str, step: Callable[[], None]) -> None:
    """Runs ``step`` on this rank, then tells every rank whether it failed anywhere.

    A rank that raised while the others went on would leave them waiting, in a commit or in
    DLIO's next collective, for a rank that is gone (the whole job hangs). So every rank takes
    part in one allgather of the outcome: the rank that failed raises its own error, the others a
    DlioPluginError naming that rank and its error, and the job ends at once."""
    comm, _, size = runtime.comm_info()
    error: Optional[BaseException] = None
    try:
        step()
    except BaseException as e:  # KeyboardInterrupt too: the other ranks must not wait for us
        error = e
    if comm is not None and size > 1:
        outcomes = comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
        failed = [(r, o) for r, o in enumerate(outcomes) if o is not None]
        if failed and error is None:
            r, o = failed[0]
            others = f" (and {len(failed) - 1} other rank(s))" if len(failed) > 1 else ""
            raise DlioPluginError(f"pydaos_torch: {what} failed on rank {r} of {size}{others}: {o}")
    if error is not None:
        raise error


def tag_of(epoch: int, step: int) -> str:
    return f"global_epoch{epoch}_step{step}"


class PyDaosCheckpointing(PyTorchCheckpointing):
    """DLIO checkpointing over pydaos_torch's Checkpoint (see the module docstring)."""

    __instance = None

    @staticmethod
    def get_instance():
        if PyDaosCheckpointing.__instance is None:
            PyDaosCheckpointing.__instance = PyDaosCheckpointing()
        return PyDaosCheckpointing.__instance

    def __init__(self):
        BaseCheckpointing.__init__(self, "pt")  # not PyTorchCheckpointing's: it is a singleton of its own
        args = self.args
        s: Settings = getattr(args, "pydaos", None) or Settings()
        self.settings = s
        prefix = runtime.path_in_container(args, args.checkpoint_folder)
        container = runtime.container_for(args)
        self.ckpt = Checkpoint(container=container, prefix=prefix,
                               transfer_chunk_size=s.checkpoint_chunk_size, chunks_limit=s.checkpoint_chunks_limit,
                               workers=s.checkpoint_workers, fsync=s.checkpoint_fsync,
                               keep_versions=s.checkpoint_keep_versions, profile=s.io_profile(container.profile))
        self._tag: Optional[str] = None
        self.saved_bytes = 0
        self.loaded_bytes = 0

    # -- names
    def get_name(self, suffix: str) -> str:
        """The checkpoint name under the prefix (DLIO main's suffixes carry their tag directory;
        2.0.0's flat ones go into the current tag)."""
        name = f"{suffix}.{self.ext}"
        if "/" in suffix or self._tag is None:
            return name
        return posixpath.join(self._tag, name)

    # -- both APIs
    def save_state(self, suffix, state, fsync=False):
        name = self.get_name(suffix)
        with self.ckpt.writer(name, fsync=True if fsync else None) as w:
            try:
                torch.save(state, w)
            except BaseException as e:
                raise_real_error(e, w.first_error)
            self.saved_bytes += w.tell()

    def load_state(self, suffix, state):
        name = self.get_name(suffix)
        with self.ckpt.reader(name) as r:
            try:
                loaded = torch.load(r, weights_only=True)
            except BaseException as e:
                raise_real_error(e, r.first_error)
            self.loaded_bytes += r.tell()
        assert len(loaded.keys()) > 0, f"empty checkpoint {name}"
        return loaded

    def _commit(self, tag: str) -> None:
        """Every rank records itself, then rank 0 writes the marker. In two steps, each ended by
        on_every_rank: rank 0's wait for the others' records then never waits for a rank that
        failed, and a failure of rank 0's marker ends the job too."""
        _, rank, size = runtime.comm_info()
        where = posixpath.join(self.ckpt.prefix, tag)

        def commit() -> None:
            self.ckpt.commit(tag, rank=rank, world_size=size, timeout=self.settings.commit_timeout)

        on_every_rank(f"committing checkpoint {where}", commit if rank != 0 else lambda: None)
        on_every_rank(f"committing checkpoint {where}", commit if rank == 0 else lambda: None)
        if rank == 0:
            logging.info(f"pydaos_torch: checkpoint {where} committed by {size} ranks")

    # -- DLIO 2.0.0
    def checkpoint(self, epoch, step_number):
        tag = tag_of(epoch, step_number)

        def save() -> None:
            self._tag = tag
            try:
                super(PyDaosCheckpointing, self).checkpoint(epoch, step_number)
            finally:
                self._tag = None

        on_every_rank(f"saving checkpoint {posixpath.join(self.ckpt.prefix, tag)}", save)
        self._commit(tag)

    # -- DLIO main
    def save_checkpoint(self, epoch, step_number):
        tag = tag_of(epoch, step_number)
        on_every_rank(f"saving checkpoint {posixpath.join(self.ckpt.prefix, tag)}",
                      lambda: super(PyDaosCheckpointing, self).save_checkpoint(epoch, step_number))
        self._commit(tag)

    def load_checkpoint(self, epoch, step_number):
        tag = tag_of(epoch, step_number)

        def load() -> None:
            if not self.ckpt.committed(tag):
                raise FileNotFoundError(f"pydaos_torch: checkpoint {posixpath.join(self.ckpt.prefix, tag)} "
                                        "has no commit marker (not every rank saved it)")
            super(PyDaosCheckpointing, self).load_checkpoint(epoch, step_number)

        on_every_rank(f"loading checkpoint {posixpath.join(self.ckpt.prefix, tag)}", load)

    def finalize(self):
        super().finalize()
        self.ckpt.close()  # the container is the run's shared one: not closed here
