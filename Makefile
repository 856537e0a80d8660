# Thin wrapper over CMake presets so the two-command quick start works:
#   make demo    make test
# Every target installs missing Debian packages first (scripts/install-deps.sh).

CTEST_JOBS ?= 2

.PHONY: all deps build test demo bench release format format-check clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev

release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

test: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan
	@# The optimised build sees warnings the -O1 sanitizer build does not (-Werror in both).
	@cmake --preset release >/dev/null
	@cmake --build --preset release
	@tools/checksrc.sh
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
	@ctest --preset asan -j $(CTEST_JOBS)

demo: build
	@scripts/demo.sh build/bin

bench: release
	@build/release/bin/bench-enrol
	@echo
	@build/release/bin/bench-ibc

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build
