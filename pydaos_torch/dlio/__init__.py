"""DLIO benchmark plugins for pydaos_torch (see docs/dlio.md).

* ``reader.reader_classname: pydaos_torch.dlio.reader.PyDaosReader``
* ``reader.data_loader_classname: pydaos_torch.dlio.data_loader.PyDaosDataLoader``
  (with ``reader.data_loader_sampler: index``)
* ``checkpoint.checkpoint_mechanism_classname: pydaos_torch.dlio.checkpointing.PyDaosCheckpointing``
* ``storage.storage_type: pydaos_torch``: generation and listing directly in a container.
* our settings: the ``workload.pydaos`` section (:mod:`.settings`).
* workloads: ``dlio_benchmark workload=unet3d_daos`` etc., found through our Hydra plugin.

Importing this package registers the storage type with DLIO (DLIO has no storage hook; see
:mod:`.hooks`). Our Hydra search-path plugin imports it when ``dlio_benchmark`` starts.
Requires DLIO (``pip install --no-deps dlio-benchmark==2.0.0``, see requirements/dlio.txt).
"""
from __future__ import annotations

from .runtime import STORAGE_TYPE, DlioPluginError
from .settings import SECTION, Settings, SettingsError

try:
    import dlio_benchmark  # noqa: F401
except ImportError:  # the settings and file-format helpers work without DLIO
    HAVE_DLIO = False
else:
    HAVE_DLIO = True
    from .hooks import install

    install()

__all__ = ["HAVE_DLIO", "SECTION", "STORAGE_TYPE", "DlioPluginError", "Settings", "SettingsError"]
