# planaudit: `make run` audits the built-in demo city, `make test` runs every test and lint.
# Both install the Debian packages they need first (through sudo when not root).

# What building and running need: GDAL and PROJ with their headers, libclang for PROJ's bindings.
BUILD_PACKAGES := libgdal-dev libproj-dev gdal-bin pkg-config libclang-dev
# What the tests need besides: SpatiaLite for the independent SQL checks; python3-venv for the
# networkx check of walking distances; chromium, chromium-driver to open report.html headless;
# fonts-noto-cjk so that the Chinese labels render in its screenshot.
TEST_PACKAGES := libsqlite3-mod-spatialite python3-venv chromium chromium-driver fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO ?= cargo
# The MapLibre style-spec validator for the style tests, pinned by tests/js/package-lock.json and
# installed under target/ (the tests install it there themselves when it is missing).
JS_DEPS := target/js-deps

.PHONY: all deps build-deps js-deps build run test lint bench clean

all: build

# Installs only what is missing: dpkg-query answers for every package before apt is touched.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

build-deps:
	$(call apt_install,$(BUILD_PACKAGES))
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (rustup) first"; exit 1; }

deps: build-deps
	$(call apt_install,$(TEST_PACKAGES))
	@command -v npm >/dev/null || { \
	  echo "installing: nodejs npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	@$(MAKE) --no-print-directory js-deps

# npm ci from the committed lock file, again only when the lock file is newer than the install.
js-deps: $(JS_DEPS)/node_modules/.package-lock.json

$(JS_DEPS)/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	mkdir -p $(JS_DEPS)
	cp tests/js/package.json tests/js/package-lock.json $(JS_DEPS)/
	cd $(JS_DEPS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: build-deps
	$(CARGO) build --release --locked

run: build
	./target/release/planaudit demo -o out

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test: deps lint
	$(CARGO) test --locked --release

# Scale data under target/bench-data/ (generated when missing), then wall, CPU, peak memory, the
# GDAL read floor and the Python peer (GeoPandas/networkx in target/peer-venv, which needs
# python3-venv from TEST_PACKAGES) per size, the peer's numbers checked against the audit's
# (bench/run.sh; BENCH_SIZES="city" for one size, BENCH_PEER=0 without the peer).
bench: deps
	bench/run.sh

clean:
	$(CARGO) clean
	rm -rf out
