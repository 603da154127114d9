"""``torch.distributed.checkpoint`` (DCP) on DAOS containers and the local backend.

    import torch.distributed.checkpoint as dcp
    from pydaos_torch.dcp import DaosStorageWriter, DaosStorageReader
    dcp.save(state_dict, storage_writer=DaosStorageWriter("daos://pool/cont/ckpt/step100"))
    dcp.load(state_dict, storage_reader=DaosStorageReader("daos://pool/cont/ckpt/step100"))

- ``location.py`` checkpoint ids (``daos://`` URIs or container paths) and the job's one pool
  connection (rank 0 connects, the others attach over the process group)
- ``layout.py``   what is stored where: one data file per rank and save, the raw bytes of each
  item at its offset, the storage info kept in ``.metadata``
- ``writer.py``   DaosStorageWriter: each rank's items in one native ``write_many`` from their
  memory; ``.metadata`` last, by the never-overwrite commit of ``Checkpoint``
- ``reader.py``   DaosStorageReader: a rank's reads merged by file and offset, one native batch
  read straight into the destination tensors
"""
from .reader import DaosStorageReader
from .writer import DaosStorageWriter

__all__ = ["DaosStorageReader", "DaosStorageWriter"]
