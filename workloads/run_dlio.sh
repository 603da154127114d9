#!/usr/bin/env bash
# The README's main job: DLIO's unet3d emulation (the small variant) on the local backend, on
# 2 MPI ranks: generate the data set into a container, train 2 epochs with a checkpoint after
# each, then print DLIO's accelerator utilization and throughput from its summary.
#   workloads/run_dlio.sh [extra Hydra overrides...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
out=${OUT:-$here/build/dlio-run}
rm -rf "$out" && mkdir -p "$out"
cd "$out"
# Open MPI from PyPI: root needs these to run at all; 2 ranks on 2 cores is fine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$venv/bin/mpirun" --oversubscribe -np "${NP:-2}" "$venv/bin/dlio_benchmark" workload=unet3d_daos_small \
    ++workload.workflow.generate_data=True ++workload.workflow.train=True \
    ++workload.pydaos.backend=local ++workload.pydaos.root="$out/data" \
    hydra.run.dir="$out/run" "$@"
"$venv/bin/python" - "$out/run" <<'PY'
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
summary = json.loads((run / "summary.json").read_text())
metric = summary.get("metric", summary)
print("\n== DLIO unet3d_daos_small, local backend, %s ranks ==" % summary.get("num_accelerators", "?"))
for key, value in metric.items():
    if "au" in key.lower() or "throughput" in key.lower():
        print(f"{key}: {value}")
print(f"run directory: {run}")
PY
