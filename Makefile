# clinicbox — build, run and test. `make help` lists the targets.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG      = clinicbox/appliance/version
LDFLAGS  = -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)
GOBUILD  = CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"

.PHONY: help build run test test-race test-browser tools fuzz bench cross check-systemd smoke clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## the binary for this machine: bin/clinicbox
	$(GOBUILD) -o bin/clinicbox ./cmd/clinicbox

run: ## run the appliance on its embedded defaults
	go run ./cmd/clinicbox serve

test: ## the README's test command: every suite (browser, promtool, systemd checks skip when their tool is missing)
	go vet ./...
	go test ./...

test-race: ## the tests under the race detector
	go test -race ./...

test-browser: tools ## only the browser suites (headless chromium + axe-core)
	go test -count=1 -run 'Browser|Phone' ./...

tools: ## test-time tools from npm (axe-core)
	npm ci --no-audit --no-fund --prefix web/browsertest

fuzz: ## run each fuzzer for FUZZTIME (default 20s; CI uses a count like 20000x)
	@for p in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$p $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} $$p || exit 1; \
	  done; \
	done

bench: ## Go benchmarks (numbers go to docs/BENCHMARKS.md by hand, with machine and date)
	go test -run '^$$' -bench . -benchmem ./...

cross: ## release binaries for linux/amd64 and linux/arm64 in dist/
	GOOS=linux GOARCH=amd64 $(GOBUILD) -o dist/clinicbox-linux-amd64 ./cmd/clinicbox
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o dist/clinicbox-linux-arm64 ./cmd/clinicbox
	@ls -l dist/

check-systemd: build ## systemd-analyze verify + security (exposure ≤ 2.0) on the units
	systemd/check-units.sh $(CURDIR)/bin/clinicbox

smoke: build ## start the real binary, fetch /healthz with the box's CA, check exit codes
	bench/smoke.sh bin/clinicbox

clean:
	rm -rf bin dist
