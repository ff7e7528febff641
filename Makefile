# flames-eval developer tasks. `make setup && make test` is all a newcomer needs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build that this machine keeps on disk; a bare
# `torch` would pull a multi-GB CUDA build. Override on GPU machines.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup system test test-slow test-all lint demo demo-train demo-experiments check-jade-v3 clean

setup: system $(BIN)/flames

system:
	bash scripts/setup-system.sh

$(BIN)/flames: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[all,dev]"
	touch $@

test: $(BIN)/flames
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow and not gpu" -q

# exit code 5 = no test selected: not a failure for an optional marker
test-slow: $(BIN)/flames
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "slow and not gpu" -q || [ $$? -eq 5 ]

test-all: test test-slow

lint: $(BIN)/flames
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

demo: $(BIN)/flames
	bash scripts/demo.sh

# JADE-DB v3's medium alignment split (public, MIT): pass JADE_V3=PATH (the CSV or its folder) or set
# FLAMES_JADE_V3; the default is the maintainers' test-data folder beside the checkout. Checked before the
# setup runs, so a missing copy stops the demos at once with where to get it.
JADE_V3 ?= $(or $(FLAMES_JADE_V3),../shared/data/jade-v3)
JADE_V3_CSV := jade_alignment_medium_zh.csv
check-jade-v3:
	@test -f "$(JADE_V3)" || test -f "$(JADE_V3)/$(JADE_V3_CSV)" || { \
	  echo "error: JADE-DB v3 not found at '$(JADE_V3)'. Run: make $(or $(MAKECMDGOALS),demo-train) JADE_V3=PATH" >&2; \
	  echo "  (PATH: $(JADE_V3_CSV) or its folder; or set FLAMES_JADE_V3). It is public (MIT):" >&2; \
	  echo "  jade-db-v3.0/$(JADE_V3_CSV) of github.com/whitzard-ai/jade-db" >&2; exit 2; }

demo-train: check-jade-v3 $(BIN)/flames
	bash scripts/demo-train.sh "$(JADE_V3)"

# the five experiments on small real inputs, offline (docs/experiments.md); Flames-1k from $FLAMES_DATA, else
# this workspace's copy beside the checkout, else the cache or a verified download
FLAMES_1K_COPY := $(wildcard ../shared/data/flames-1k/Flames_1k_Chinese.jsonl)
demo-experiments: check-jade-v3 $(BIN)/flames
	$(if $(FLAMES_DATA),,$(if $(FLAMES_1K_COPY),FLAMES_DATA=$(dir $(FLAMES_1K_COPY)))) bash scripts/demo-experiments.sh "$(JADE_V3)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache build *.egg-info
