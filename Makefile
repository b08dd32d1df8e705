# sv: make build | test | test-loaded | lint | fuzz | bench | demo
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/sv
FUZZTIME ?= 30s
# golangci-lint runs staticcheck, govet and the project's conventions (.golangci.yml).
GOLANGCI := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
LAB      := internal/lab

.PHONY: build deps test test-loaded lint fuzz bench demo clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sv

deps:
	@scripts/deps.sh

# sv's packages, then the lab's module (internal/lab): the browser end-to-end tests, which
# take 8-10 minutes on two idle cores (go test's 10-minute default would cut them short on
# a busy machine: the timeout is there to catch a hang).
test: deps
	$(GO) test -race -count=1 ./internal/queue ./ws/... ./live/...
	$(GO) test -count=1 ./...
	cd $(LAB) && $(GO) test -count=1 -timeout 30m ./...

# make test beside two CPU-burning processes, as on a busy machine (not part of CI).
test-loaded:
	@MAKE="$(MAKE)" scripts/test-loaded.sh

# gofmt, go vet, golangci-lint (.golangci.yml: staticcheck, errorlint, no printing, exiting
# or panicking in libraries, the packages' layering) and go mod tidy, in both modules.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(GOLANGCI) run ./...
	$(GO) mod tidy -diff
	cd $(LAB) && $(GO) vet ./...
	cd $(LAB) && $(GO) run $(GOLANGCI) run ./...
	cd $(LAB) && $(GO) mod tidy -diff

# Every Fuzz target, FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Every benchmark, then BENCHMARKS.md (scripts/bench.sh: BENCH_COUNT, LAB_COUNT).
bench:
	@scripts/deps.sh bench
	@GO=$(GO) scripts/bench.sh

# sv all --demo: a built-in recording, live in a loop, with the viewer (SV_DEMO_SECONDS=N: a checked timed run).
demo: build deps
	@scripts/demo.sh $(BIN)

clean:
	rm -rf bin output
