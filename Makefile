# The two fresh-machine commands: `make run` (whole pipeline on the embedded default data)
# and `make test` (the test suite). Both create/refresh .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Cortex-M toolchain and emulator (Debian): the target tests and the verify stage's Cortex-M run
# use them when present and skip, naming them, when not.
ARM_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm

.PHONY: run test test-slow clean venv toolchain

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "kws needs Python 3.11 (found %s)" % sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the local CPU wheel; letting a resolver pick one downloads GBs.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

toolchain:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(ARM_PACKAGES) (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     --no-install-recommends $(ARM_PACKAGES) >/dev/null) || \
	  echo "warning: could not install $(ARM_PACKAGES): the Cortex-M steps will be skipped"; \
	else \
	  echo "note: the Cortex-M steps need: sudo apt-get install --no-install-recommends $(ARM_PACKAGES)"; \
	fi

run: $(STAMP) toolchain
	$(BIN)/kws $(ARGS)

test: $(STAMP) toolchain
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP) toolchain
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
