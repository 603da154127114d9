"""Exceptions raised by pydaos_torch.

Every storage error is an ``OSError`` whose subclass follows its errno, as Python's own
``open()`` does: ``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``... When DAOS
returned a DER code, the exception is also a :class:`DaosError` and carries ``der`` (the
number) and ``der_name`` (e.g. ``"DER_NONEXIST"``). Every error carries ``op``, ``pool``,
``container`` and ``filename`` (the container path).
"""
from __future__ import annotations

import errno as _errno
from typing import Dict, Optional, Type


class DaosError(OSError):
    """An error DAOS reported with a DER code (see ``der`` and ``der_name``)."""

    der: int = 0
    der_name: Optional[str] = None


_daos_classes: Dict[Type[OSError], Type[DaosError]] = {}


def _daos_class(base: Type[OSError]) -> Type[DaosError]:
    # One class per OSError subclass, so `except FileNotFoundError` and `except DaosError` both work.
    if base is OSError:
        return DaosError
    cls = _daos_classes.get(base)
    if cls is None:
        cls = type("Daos" + base.__name__, (DaosError, base), {"__module__": __name__})
        _daos_classes[base] = cls
    return cls


def from_native(err: int, der: int, der_name: Optional[str], op: str, pool: str, container: str,
                path: str, message: str) -> OSError:
    """Builds the exception for an error of the native core (called from C++)."""
    base = type(OSError(err, ""))  # Python maps errno to FileNotFoundError etc.
    cls = _daos_class(base) if der else base
    exc = cls(err, message, path or None)
    exc.op = op
    exc.pool = pool
    exc.container = container
    if der:
        exc.der = der
        exc.der_name = der_name
    return exc


__all__ = ["DaosError", "from_native"]
_ = _errno
