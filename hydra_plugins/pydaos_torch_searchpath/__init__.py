"""Hydra search-path plugin of pydaos_torch: DLIO finds our workloads (see searchpath.py)."""
