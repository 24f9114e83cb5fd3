# neurodx: the two commands of the README, and the environment they build when it is missing.
#   make figures   reproduce every figure notebook (nbs/figures/*.ipynb) into results/
#   make test      export check, nbdev_test, the docs site, pytest (its link and browser checks included)
#   make docs      the docs site from the notebooks into _docs/ (no Quarto needed)
#   make notebooks execute the library notebooks in place (they are committed with their outputs)
#   make reproduce every paper's reference preset (2 CPU cores) into reproduction/, then the report
# Environment: .venv built by uv against constraints.txt (the locked stack). Where the machine offers a
# local CPU torch wheel (/opt/wheels) it is used; elsewhere torch==2.13.0 comes from the registry
# (a CUDA build on a Linux GPU workstation). torchvision is never installed (see overrides below).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.neurodx-installed
WHEELS ?= /opt/wheels
FIND_LINKS := $(if $(wildcard $(WHEELS)/torch-*.whl),--find-links $(WHEELS),)
FAST ?= 1
JOBS ?= 2

.PHONY: figures test env lock export clean bench docs notebooks reproduce report lint
# the papers that declare a reference preset (two CPU cores, each ≤ 15 min, learns; `Paper.presets`): their results are
# committed in reproduction/. Read from the declarations when a recipe needs it (after .venv exists).
REFERENCE ?= $(shell $(VENV)/bin/neurodx papers --with-preset reference)
.DEFAULT_GOAL := test

env: $(STAMP)

$(STAMP): setup.py settings.ini constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@test -x $(VENV)/bin/uv || $(PY) -m pip install -q --disable-pip-version-check uv
	@printf 'torchvision; sys_platform == "never"\n' > $(VENV)/overrides.txt
	$(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode $(FIND_LINKS) \
	    -c constraints.txt --override $(VENV)/overrides.txt -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name neurodx --display-name "Python (neurodx)" >/dev/null
	@touch $@

figures: $(STAMP)
	$(VENV)/bin/neurodx figures --out results $(if $(filter 1,$(FAST)),--preset fast,--preset paper)

# The reference runs (what the docs and the report show): every paper's REFERENCE preset on this machine, into
# reproduction/<notebook>/ (executed notebook, tables, figures, provenance.json), then the report from them.
reproduce: $(STAMP)
	$(VENV)/bin/neurodx figures --preset reference --out reproduction --only $(REFERENCE)
	$(MAKE) report

# reproduction/REPORT.md, its docs page (nbs/reproduction.md) and the README's table, from the committed results alone;
# then the README and home-page paper tables and the sidebar's Papers section, from the papers' declarations
report: $(STAMP)
	$(VENV)/bin/neurodx report --check
	$(VENV)/bin/neurodx papers --write

# ruff (ruff.toml): the notebooks' code and the package at most 120 characters a line (nbdev's generated __all__: 130)
lint: $(STAMP)
	$(VENV)/bin/ruff check nbs neurodx

# nbdev_export must leave neurodx/ unchanged: the package is exactly what the notebooks say.
export: $(STAMP)
	@tmp=$$(mktemp -d) && cp -r neurodx $$tmp/before && $(VENV)/bin/nbdev_export && \
	  if ! diff -r -q -x __pycache__ $$tmp/before neurodx; then \
	    echo "nbdev_export changed neurodx/: run nbdev_export and commit the modules"; rm -rf $$tmp; exit 1; fi; \
	  rm -rf $$tmp; echo "nbdev_export: neurodx/ is in step with nbs/"

test: export lint
	$(VENV)/bin/nbdev_test --n_workers $(JOBS)
	$(MAKE) docs
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

# The docs site, offline (docs/build.py: nbdev's processing, then Sphinx + myst-nb) into _docs/; the figure pages show
# the committed reference runs of reproduction/, or the executed notebooks of results/ (made here first when missing).
# The figure pages of notebooks with a reference run show the committed one (reproduction/); the others need a fast run.
FIGURE_NOTEBOOKS := $(basename $(notdir $(wildcard nbs/figures/*.ipynb)))
docs: $(STAMP)
	@test -f results/figures_run.json || $(VENV)/bin/neurodx figures --out results --fast --only $(filter-out $(REFERENCE),$(FIGURE_NOTEBOOKS))
	$(PY) docs/build.py --out _docs --jobs $(JOBS)

# The library notebooks are committed executed (the docs show their outputs): run after editing one (docs/execute.py).
notebooks: $(STAMP)
	$(PY) docs/execute.py

bench: $(STAMP)
	$(PY) bench/bench_data_path.py
	$(PY) bench/bench_train_step.py
	$(PY) bench/bench_features.py
	$(PY) bench/bench_pack.py
	$(PY) bench/bench_checksums.py
	$(PY) bench/bench_sliding_window.py
	$(PY) bench/bench_gpu_feed.py
	$(PY) bench/bench_train_fold.py

# Re-pin the stack (needs the registry): writes constraints.txt with the local '+cpu' label dropped.
lock:
	@test -x $(VENV)/bin/uv || $(MAKE) env
	$(PY) -c "from configparser import ConfigParser as C; c=C(delimiters=['=']); c.read('settings.ini'); \
	d=c['DEFAULT']; print('\n'.join(d['requirements'].split()+d['dev_requirements'].split()+['torch==2.13.0']))" > $(VENV)/req.in
	$(VENV)/bin/uv pip compile -q $(VENV)/req.in --python-version 3.11 $(FIND_LINKS) \
	  --override $(VENV)/overrides.txt --no-header --no-annotate -o $(VENV)/lock.txt
	@{ echo "# Pinned versions of the whole stack (uv pip compile of settings.ini's requirements + dev)."; \
	   echo "# Used as constraints, so the torch build (CPU or CUDA) is the machine's choice. Regenerate: make lock"; \
	   sed 's/+cpu//' $(VENV)/lock.txt; } > constraints.txt

clean:
	rm -rf results _docs _proc
