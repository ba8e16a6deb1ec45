# planaudit: `make run` audits the built-in demo city, `make test` runs every test and lint.
# Both install the Debian packages they need first (through sudo when not root).

APT_PACKAGES := libgdal-dev libproj-dev gdal-bin pkg-config libclang-dev libsqlite3-mod-spatialite python3-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO ?= cargo

.PHONY: all deps build run test lint bench clean

all: build

# Installs only what is missing: dpkg-query answers for every package before apt is touched.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (rustup) first"; exit 1; }

build: deps
	$(CARGO) build --release --locked

run: build
	./target/release/planaudit demo -o out

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test: deps lint
	$(CARGO) test --locked --release

clean:
	$(CARGO) clean
	rm -rf out
