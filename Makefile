# The two fresh-machine commands: `make run` (whole pipeline on the embedded default data)
# and `make test` (the test suite). Both create/refresh .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The tf extra (TensorFlow's converter, for tests/test_import_converter.py): `make test` installs
# it (about 30 s from a warm pip cache, ~300 MB of wheels); `make run` does not need it.
TF_STAMP := $(VENV)/.tf-stamp

# Cortex-M toolchain and emulator (Debian): the target tests and the verify stage's Cortex-M run
# use them when present and skip, naming them, when not.
ARM_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
# Offline TTS voices from Debian main for the synthetic data set (kws.audio.tts): flite's kal16,
# awb, rms, slt and festival's kal, ked, slt-hts. A missing one is skipped at run time with a
# line naming its package.
TTS_PACKAGES := flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
# clang and its libFuzzer runtime (Debian 12's clang 14) for the C fuzz harnesses
# (firmware/tests/fuzz/, tests/test_fuzz_c.py, bench/fuzz_c.py); without them the harnesses run
# their own seeded random driver under gcc.
FUZZ_PACKAGES := clang libclang-rt-14-dev
# CMake (Debian 12: 3.25) for the CMake build of firmware/ and its ctest cases
# (tests/test_cmake.py: configure, build and ctest once per test session).
BUILD_PACKAGES := cmake
# Only on request (make voices-nonfree): pico (non-free), RHVoice (non-free), MBROLA (program in
# contrib, voices in non-free; through Debian's eSpeak NG, which is in main).
MBROLA_VOICES := us1 us2 us3 en1 af1 de1 de2 de3 de4 de5 de6 fr1 fr4 gr2 hu1 nl2 pl1 ro1 sw1 sw2
NONFREE_TTS_PACKAGES := libttspico-utils rhvoice rhvoice-english librhvoice5 espeak-ng mbrola \
                        $(addprefix mbrola-,$(MBROLA_VOICES))
APT_SOURCES ?= /etc/apt/sources.list.d/debian.sources
APT_GET ?= apt-get

.PHONY: run test test-slow clean venv toolchain voices-nonfree

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "kws needs Python 3.11 (found %s)" % sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the local CPU wheel; letting a resolver pick one downloads GBs.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(TF_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,tf]' || \
	  echo "warning: the tf extra (tensorflow-cpu) did not install: the converter tests will skip"
	touch $(TF_STAMP)

# As root with apt-get: installs whatever is missing of the ARM toolchain, the Debian-main
# voices, clang's libFuzzer and cmake in one apt-get run; otherwise names the packages.
toolchain:
	@need=""; \
	{ command -v arm-none-eabi-gcc && command -v qemu-system-arm; } >/dev/null || need="$(ARM_PACKAGES)"; \
	for p in $(TTS_PACKAGES) $(FUZZ_PACKAGES) $(BUILD_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || need="$$need $$p"; \
	done; \
	if [ -z "$$need" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v $(APT_GET) >/dev/null; then \
	  echo "installing$$need (apt-get, Debian main)"; \
	  ($(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq \
	     --no-install-recommends $$need >/dev/null) || \
	  echo "warning: could not install$$need: the Cortex-M steps, those voices, libFuzzer or the CMake tests will be skipped"; \
	else \
	  echo "note: the Cortex-M steps, the flite/festival voices, libFuzzer and the CMake tests need: sudo apt-get install --no-install-recommends$$need"; \
	fi

# Opt-in, never part of `make`: pico, RHVoice and MBROLA live in Debian's contrib and non-free.
# Changes one thing in the apt sources, the edit of REPORT 15: in $(APT_SOURCES) (deb822),
# "Components: main" becomes "Components: main contrib non-free" in every stanza (same mirrors,
# same keyring, no pinning; the original is kept as $(APT_SOURCES).kws-orig). Afterwards apt also
# offers Debian's contrib and non-free packages. Then installs the voices; use them with
# `make run ARGS=data.synthetic.nonfree=true`. MBROLA's voices forbid use in products that are
# sold (README, Voices).
voices-nonfree:
	@[ "$$(id -u)" = 0 ] && command -v $(APT_GET) >/dev/null || \
	  { echo "make voices-nonfree needs root and apt-get"; exit 1; }
	@src="$(APT_SOURCES)"; \
	if [ ! -f "$$src" ]; then \
	  echo "$$src not found: add 'contrib non-free' to your apt sources' components by hand, then run make voices-nonfree APT_SOURCES=<that file>"; exit 1; \
	elif grep -q '^Components: main$$' "$$src"; then \
	  cp -n "$$src" "$$src.kws-orig"; \
	  sed -i 's/^Components: main$$/Components: main contrib non-free/' "$$src"; \
	  echo "changed $$src: 'Components: main' -> 'Components: main contrib non-free' (original: $$src.kws-orig; undo: cp $$src.kws-orig $$src && apt-get update)"; \
	elif grep '^Components:' "$$src" | grep -qv 'contrib.* non-free\( \|$$\)'; then \
	  echo "$$src: components are '$$(grep '^Components:' "$$src" | sort -u | tr '\n' ' ')', not plain 'main': add 'contrib non-free' by hand, then re-run"; exit 1; \
	else \
	  echo "$$src: contrib and non-free already enabled; not changed"; \
	fi
	$(APT_GET) update -qq
	DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends $(NONFREE_TTS_PACKAGES) >/dev/null
	@echo "installed $(NONFREE_TTS_PACKAGES)"
	@echo "use them: make run ARGS=data.synthetic.nonfree=true"

run: $(STAMP) toolchain
	$(BIN)/kws $(ARGS)

test: $(STAMP) $(TF_STAMP) toolchain
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP) $(TF_STAMP) toolchain
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
