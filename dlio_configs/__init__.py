"""DLIO workload configs of pydaos_torch; installed as pydaos_torch.dlio.configs (Hydra pkg://)."""
