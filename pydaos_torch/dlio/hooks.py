"""How pydaos_torch attaches to DLIO, which has no storage hook (see docs/dlio.md).

:func:`install` (run by ``import pydaos_torch.dlio``, which our Hydra plugin does when DLIO
starts) changes DLIO in this process only:

* ``StorageType`` gains the member ``pydaos_torch``; the member pickles as a call to
  :func:`storage_type_member`, so a process that unpickles DLIO's config (a DataLoader worker
  under spawn or forkserver) imports this module and registers the member first;
* ``StorageFactory.get_storage`` returns :class:`.storage.PyDaosStorage` for it, and
  ``GeneratorFactory.get_generator`` our generator (npz, npy);
* ``LoadConfig`` also validates ``workload.pydaos``, keeps it in DLIO's ``ConfigArguments``
  (``args.pydaos``: it travels to every worker and rank), fills in our reader and checkpointing
  classes for our storage type, and opens the run's one shared connection (collective);
* ``DLIOBenchmark.finalize`` then releases it: the other ranks close, a barrier, rank 0
  disconnects.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Any

from . import runtime, settings as _settings

READER = "pydaos_torch.dlio.reader.PyDaosReader"
DATA_LOADER = "pydaos_torch.dlio.data_loader.PyDaosDataLoader"
CHECKPOINTING = "pydaos_torch.dlio.checkpointing.PyDaosCheckpointing"

_installed = False


def _reduce_member(protocol: Any = None):
    return (storage_type_member, ())


def storage_type_member():
    """``StorageType('pydaos_torch')``, added to DLIO's enum if it is not there yet."""
    from dlio_benchmark.common.enumerations import StorageType
    try:
        return StorageType(runtime.STORAGE_TYPE)
    except ValueError:
        pass
    name = runtime.STORAGE_TYPE.upper()
    member = object.__new__(StorageType)
    member._name_ = name
    member._value_ = runtime.STORAGE_TYPE
    member.__objclass__ = StorageType
    # pickles as storage_type_member(): the unpickling process registers the member first
    member.__reduce_ex__ = _reduce_member
    type.__setattr__(StorageType, name, member)
    StorageType._member_map_[name] = member
    StorageType._value2member_map_[runtime.STORAGE_TYPE] = member
    names = StorageType._member_names_
    if isinstance(names, list):
        names.append(name)
    else:  # pragma: no cover - other Python versions keep a dict
        names[name] = None
    return member


def install() -> None:
    """Idempotent; see the module docstring."""
    global _installed
    if _installed:
        return
    storage_type_member()

    from dlio_benchmark.storage import storage_factory
    orig_get_storage = storage_factory.StorageFactory.get_storage
    if not getattr(orig_get_storage, "_pydaos", False):
        def get_storage(storage_type, namespace, framework=None):
            if str(storage_type) == runtime.STORAGE_TYPE:
                from .storage import PyDaosStorage
                return PyDaosStorage(namespace, framework)
            return orig_get_storage(storage_type, namespace, framework)
        get_storage._pydaos = True  # type: ignore[attr-defined]
        storage_factory.StorageFactory.get_storage = staticmethod(get_storage)

    from dlio_benchmark.data_generator import generator_factory
    orig_get_generator = generator_factory.GeneratorFactory.get_generator
    if not getattr(orig_get_generator, "_pydaos", False):
        def get_generator(type):
            from dlio_benchmark.utils.config import ConfigArguments
            if runtime.uses_our_storage(ConfigArguments.get_instance()):
                from .generator import PyDaosGenerator
                return PyDaosGenerator()
            return orig_get_generator(type)
        get_generator._pydaos = True  # type: ignore[attr-defined]
        generator_factory.GeneratorFactory.get_generator = staticmethod(get_generator)

    from dlio_benchmark.utils import config as dlio_config
    orig = dlio_config.LoadConfig
    if not getattr(orig, "_pydaos", False):
        wrapped = _wrap_load_config(orig)
        dlio_config.LoadConfig = wrapped
        # modules that did `from dlio_benchmark.utils.config import LoadConfig` (dlio_benchmark.main,
        # or __main__ under `python -m dlio_benchmark.main`) hold the old function
        for mod in list(sys.modules.values()):
            if getattr(mod, "LoadConfig", None) is orig:
                mod.LoadConfig = wrapped
    _installed = True


def _wrap_load_config(orig):
    @functools.wraps(orig)
    def LoadConfig(args, config):
        ours = _settings.from_workload(config)  # a misspelled key of ours stops here
        orig(args, config)
        after_load(args, ours)
    LoadConfig._pydaos = True  # type: ignore[attr-defined]
    return LoadConfig


def _spawn_workarounds(args: Any) -> None:
    """Two DLIO bugs with DataLoader workers started by spawn or forkserver, worked around for
    the processes this rank starts from now on (its own state is not changed):

    * a worker imports ``mpi4py.MPI`` (DLIO's statscounter does, although DLIO's utility says
      MPI must not initialize automatically there), so under mpirun it calls MPI_Init as a copy
      of its rank, and the rank then crashes in Open MPI's shared-memory transport (seen with
      DLIO's own reader too). Workers inherit MPI4PY_RC_INITIALIZE=0;
    * DLIO 2.0.0 with pydftracer 1.0.2: a worker that unpickles a custom reader class (any, ours
      or not) segfaults in pydftracer's ``enter_event``. Workers inherit DFTRACER_ENABLE=0 and
      do not trace (the parent still does). An explicit DFTRACER_ENABLE is left alone."""
    if getattr(args, "multiprocessing_context", "fork") == "fork":
        return
    os.environ.setdefault("MPI4PY_RC_INITIALIZE", "0")
    if "DFTRACER_ENABLE" in os.environ:
        return
    if "dftracer.logger" not in sys.modules:  # pydftracer 2.x (DLIO main) is not affected
        return
    os.environ["DFTRACER_ENABLE"] = "0"
    if getattr(args, "my_rank", 0) == 0:
        print("pydaos_torch: DataLoader workers start with DFTRACER_ENABLE=0 (DLIO 2.0.0's pydftracer crashes "
              f"in {args.multiprocessing_context} workers that load a custom reader)", file=sys.stderr)


def after_load(args: Any, s: "_settings.Settings") -> None:
    args.pydaos = s
    _spawn_workarounds(args)
    if not runtime.uses_our_storage(args):
        return
    from dlio_benchmark.common.enumerations import FormatType
    uses_data = args.generate_data or getattr(args, "do_train", not args.generate_only)
    if uses_data and args.format not in (FormatType.NPZ, FormatType.NPY):
        raise _settings.SettingsError(
            f"storage.storage_type={runtime.STORAGE_TYPE} generates and reads dataset.format npz or npy, "
            f"not {args.format}")
    if not args.reader_classname:
        args.reader_classname = READER
    if not args.checkpoint_mechanism_classname:
        args.checkpoint_mechanism_classname = CHECKPOINTING
    args.pydaos_container = runtime.open_shared(s)
    _patch_finalize()


def _patch_finalize() -> None:
    for mod in list(sys.modules.values()):
        cls = getattr(mod, "DLIOBenchmark", None)
        if cls is None or not isinstance(cls, type) or getattr(cls.finalize, "_pydaos", False):
            continue
        orig = cls.finalize

        @functools.wraps(orig)
        def finalize(self, _orig=orig):
            _orig(self)
            runtime.release()  # collective: only after every rank finished DLIO's finalize
        finalize._pydaos = True  # type: ignore[attr-defined]
        cls.finalize = finalize
