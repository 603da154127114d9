"""Our settings in a DLIO workload: the one section ``workload.pydaos``.

DLIO ignores keys it does not know, silently. Ours are checked: a key of ours that is
misspelled (``++workload.pydaos.pol=x``), a wrong type or value, or a misspelled section name
(``workload.pydoas``) stops the run with an error that names it.

Example::

    pydaos:
      backend: local          # local | dfs | auto
      pool: pool              # label or UUID (dfs), a directory under root (local)
      container: cont
      root: ./pydaos_local    # local backend: the directory holding <pool>/<container>
      create: True            # local backend: create <root>/<pool>/<container>
      profile:                # overrides of the storage's I/O profile (pydaos_torch.IOProfile)
        serial_writes: False

Every key can be overridden: ``++workload.pydaos.backend=dfs ++workload.pydaos.pool=P``
(``++workload.pydaos.profile.serial_writes=False``).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
from typing import Any, Mapping, Optional, Tuple

from ..io_profile import IOProfile

SECTION = "pydaos"

BACKENDS = ("auto", "dfs", "local")
READ_MODES = ("auto", "ranged", "whole")
DECODES = ("header", "numpy", "none")
LAYOUTS = ("sample", "dlio")


class SettingsError(ValueError):
    """A wrong key or value in ``workload.pydaos``."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated ``workload.pydaos`` section (picklable: it travels to workers and ranks)."""

    #: ``local`` (a directory as the container), ``dfs`` (DAOS through libdfs) or ``auto``
    #: (dfs when libdfs loads; pydaos_torch never falls back to local disk silently).
    backend: str = "auto"
    #: Pool label or UUID; for the local backend a directory under ``root``.
    #: Unset: ``DAOS_POOL``.
    pool: Optional[str] = None
    #: Container label or UUID; for the local backend a directory under ``root/pool``.
    #: Unset: ``DAOS_CONT``.
    container: Optional[str] = None
    #: Local backend: the directory holding ``<pool>/<container>`` (unset: ``PYDAOS_TORCH_ROOT``).
    root: Optional[str] = None
    #: DAOS system name (dfs backend; unset: the agent's default).
    system: Optional[str] = None
    #: Local backend: create ``<root>/<pool>/<container>`` if missing. Ignored by the dfs
    #: backend (create DAOS containers with ``daos cont create POOL CONT --type=POSIX``).
    create: bool = False
    #: Reader: ``ranged`` reads only a sample's bytes when the file format allows it (npy, or
    #: an uncompressed npz member, stored with samples contiguous); ``whole`` reads whole files;
    #: ``auto`` = ranged where possible.
    read: str = "auto"
    #: How a sample read is decoded: ``header`` (parse the npy/npz headers, view the data in
    #: place: no copy, no CRC), ``numpy`` (``np.load`` of the whole file, as DLIO's own npz
    #: reader does), ``none`` (bytes only).
    decode: str = "header"
    #: Layout of files that hold many samples, when we generate them: ``sample`` stores each
    #: sample contiguously (Fortran order of DLIO's ``[..., sample]`` arrays; np.load gives the
    #: same array) so the reader reads only its range; ``dlio`` is DLIO's own C order.
    layout: str = "sample"
    #: I/Os in flight per batch read (0 = the backend's default).
    depth: int = 0
    #: Threads of the one parallel scan of the data folder (0 = the core's default).
    scan_threads: int = 0
    #: Checkpoints: bytes per streamed write (0 = write each file whole at close).
    checkpoint_chunk_size: int = 64 * 1024 * 1024
    #: Checkpoints: chunk buffers per writer (0 = 2 x checkpoint_workers).
    checkpoint_chunks_limit: int = 0
    #: Checkpoints: writes/reads in flight per file.
    checkpoint_workers: int = 4
    #: Checkpoints: sync each file before its commit (local: fsync(2); DAOS: nothing to do,
    #: a completed write is durable). DLIO main's own ``checkpoint.fsync`` also turns it on.
    checkpoint_fsync: bool = False
    #: Checkpoints: versions of a file kept after a commit.
    checkpoint_keep_versions: int = 1
    #: Seconds rank 0 waits for every rank's checkpoint record before the commit marker.
    commit_timeout: float = 600.0
    #: Overrides of the storage's I/O profile, as (field, value) pairs of
    #: :class:`pydaos_torch.IOProfile` (given as a mapping: ``profile: {serial_writes: False}``).
    profile: Tuple[Tuple[str, Any], ...] = ()

    def io_profile(self, storage: IOProfile) -> IOProfile:
        """The storage's profile with this section's overrides."""
        return storage.replace(**dict(self.profile))

    def describe(self) -> str:
        where = f"root={self.root!r} " if self.backend == "local" or self.root else ""
        return f"backend={self.backend} pool={self.pool!r} container={self.container!r} {where}".strip()


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
# settings where 0 has no meaning (no writer, no version kept)
_AT_LEAST_ONE = ("checkpoint_workers", "checkpoint_keep_versions")
_CHOICES = {"backend": BACKENDS, "read": READ_MODES, "decode": DECODES, "layout": LAYOUTS}


def _suggest(key: str, options) -> str:
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _to_plain(section: Any) -> dict:
    try:
        from omegaconf import DictConfig, OmegaConf
        if isinstance(section, DictConfig):
            return OmegaConf.to_container(section, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        pass
    return dict(section)


_PROFILE_FIELDS = {f.name: f for f in dataclasses.fields(IOProfile)}


def _coerce_profile(value: Any) -> Tuple[Tuple[str, Any], ...]:
    where = f"workload.{SECTION}.profile"
    raw = _to_plain(value) if value is not None else {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{where} must be a mapping of IOProfile fields, got {value!r}")
    out = []
    for key, v in sorted(raw.items()):
        f = _PROFILE_FIELDS.get(key)
        if f is None:
            raise SettingsError(f"{where}: unknown field {key!r}{_suggest(str(key), _PROFILE_FIELDS)}; "
                                f"known fields: {', '.join(sorted(_PROFILE_FIELDS))}")
        out.append((key, _coerce_typed(f"{where}.{key}", str(f.type), v)))
    return tuple(out)


def _coerce(key: str, value: Any) -> Any:
    if key == "profile":
        return _coerce_profile(value)
    f = _FIELDS[key]
    typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    value = _coerce_typed(f"workload.{SECTION}.{key}", typ, value)
    if key in _AT_LEAST_ONE and value < 1:
        raise SettingsError(f"workload.{SECTION}.{key}: must be >= 1, got {value}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise SettingsError(f"workload.{SECTION}.{key}: {value!r} is not one of {', '.join(_CHOICES[key])}"
                            f"{_suggest(value, _CHOICES[key])}")
    return value


def _coerce_typed(where: str, typ: str, value: Any) -> Any:
    """``value`` as the annotated type ``typ`` (bool, int >= 0, float > 0, str; Optional)."""
    if value is None:
        if "Optional" in typ:
            return None
        raise SettingsError(f"{where}: a value is required")
    if "bool" in typ:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise SettingsError(f"{where}: expected True or False, got {value!r}")
    if "int" in typ:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise SettingsError(f"{where}: expected an integer, got {value!r}")
        try:
            v = int(value)
        except ValueError:
            raise SettingsError(f"{where}: expected an integer, got {value!r}") from None
        if v < 0:
            raise SettingsError(f"{where}: must be >= 0, got {v}")
        return v
    if "float" in typ:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected a number, got {value!r}") from None
        if not math.isfinite(v) or v <= 0:  # nan would wait forever, inf never times out
            raise SettingsError(f"{where}: must be a finite number > 0, got {v}")
        return v
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise SettingsError(f"{where}: expected a string, got {value!r}")
    return str(value)


def parse(section: Optional[Mapping[str, Any]]) -> Settings:
    """Validates a ``workload.pydaos`` mapping (None or empty: every default)."""
    if section is None:
        return Settings()
    raw = _to_plain(section)
    if not isinstance(raw, dict):
        raise SettingsError(f"workload.{SECTION} must be a mapping of settings, got {raw!r}")
    values = {}
    for key, value in raw.items():
        if key not in _FIELDS:
            raise SettingsError(f"workload.{SECTION}: unknown key {key!r}{_suggest(str(key), _FIELDS)}; "
                                f"known keys: {', '.join(sorted(_FIELDS))}")
        values[key] = _coerce(key, value)
    s = Settings(**values)
    if s.root is not None:
        s = dataclasses.replace(s, root=os.path.abspath(os.path.expanduser(s.root)))
    return s


def from_workload(workload: Mapping[str, Any]) -> Settings:
    """Our section of a DLIO workload config (``cfg['workload']``), validated; also rejects
    a misspelled section name, which DLIO would ignore silently."""
    keys = list(workload.keys()) if workload is not None else []
    for k in keys:
        if k != SECTION and isinstance(k, str) and difflib.SequenceMatcher(None, k.lower(), SECTION).ratio() >= 0.7:
            raise SettingsError(f"workload.{k}: unknown section (did you mean 'workload.{SECTION}'?)")
    return parse(workload.get(SECTION) if workload is not None and SECTION in workload else None)


__all__ = ["SECTION", "Settings", "SettingsError", "from_workload", "parse"]
