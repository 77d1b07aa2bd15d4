# etaxd — make targets. `make run` starts etaxd with demo data; `make test`
# is what CI runs (.ci/run); `make install` puts etaxd and etax-sim where
# `go install` does. Nothing else here installs anything.

GO      ?= go
PKGS    ?= ./...
VERSION ?= dev

.PHONY: run cluster sim test race fuzz bench bench-scale lint vet fmt-check fmt build install clean

## run: build bin/etaxd and start it in dev mode (this machine only) on
## ./data with the demo tenant (see data/demo.json); etaxd's own default is
## production. `set -m` runs etaxd as a job of its own, in the terminal's
## foreground: Ctrl-C then reaches etaxd alone, which stops cleanly and
## exits 0, and so does make (rather than dying of the SIGINT with it).
run: build
	@set -m; bin/etaxd serve --dev --demo

## cluster: build, then start three etaxd nodes in cluster mode and one
## etax-sim on 127.0.0.1 (ports 8081-8083, routes 7221-7223, the bureau on
## 8090) with the demo, data under ./data/cluster; prints how to try a
## failover. Ctrl-C stops them all.
cluster: build
	@set -m; deploy/local-cluster.sh

# BROWSER is the browser suite: its driver (chromedp) runs without the race
# detector, the etaxd it drives is built with it (tests/browser/doc.go).
BROWSER := github.com/etaxd/etaxd/tests/browser

## test: vet, the gofmt check, every test with the race detector (the
## browser suite's driver without it), then the fuzz targets of the JSON
## bodies and the WeChat callback, briefly
test: lint race
	$(MAKE) fuzz

# FUZZ lists the fuzz targets `make fuzz` runs, as package:Target: every
# JSON body of the client and operator APIs (HTTP and NATS), the signature
# check, the session request's direct reading against encoding/json, the
# simulator's server and the WeChat callback (XML and JSON,
# plain and safe mode). Their seed corpora run with every `go test` too.
FUZZ     ?= ./http:FuzzBodies ./http:FuzzSignature ./http:FuzzSessionRequestDecode ./http/opsapi:FuzzBodies ./taxbureau:FuzzServer ./wechat:FuzzCallback
FUZZTIME ?= 10s

## fuzz: run each fuzz target in FUZZ for FUZZTIME (10s; e.g. FUZZTIME=5m).
## A failure that wrote no failing input under the package's testdata/fuzz
## is Go 1.26's fuzz coordinator racing its own deadline (go.dev/issue/75804,
## fixed in Go 1.27: "context deadline exceeded" at the end of -fuzztime when
## a worker is busy); such a run is made once more, and fails if it fails
## again. A failure with a failing input fails at once.
fuzz:
	@set -e; for t in $(FUZZ); do pkg=$${t%%:*}; name=$${t##*:}; dir=$$pkg/testdata/fuzz/$$name; \
		for try in 1 2; do \
			echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
			before=$$(ls $$dir 2>/dev/null | wc -l); \
			if $(GO) test -run '^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; then break; fi; \
			after=$$(ls $$dir 2>/dev/null | wc -l); \
			if [ "$$after" != "$$before" ] || [ $$try = 2 ]; then exit 1; fi; \
			echo "fuzz $$pkg $$name: failed without a failing input (go.dev/issue/75804); once more"; \
		done; \
	done

## race: every test with the race detector (the browser suite's driver
## without it), without the lint step
race:
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -vx '$(BROWSER)')
	@if $(GO) list $(PKGS) | grep -qx '$(BROWSER)'; then echo "$(GO) test -count=1 -timeout 20m $(BROWSER)"; $(GO) test -count=1 -timeout 20m $(BROWSER); fi

## bench: run the benchmarks (no tests), print their results, and end with
## one line per performance target: BENCH <name> <measured> <target> <ok|short>
## (the targets are listed in internal/benchreport/benchreport.go). The
## benchmarks' output is kept in bin/bench.txt; make fails if they do.
bench:
	@mkdir -p bin
	@{ $(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS) 2>&1; echo $$? > bin/bench.rc; } | tee bin/bench.txt
	@$(GO) run ./internal/benchreport/cmd/benchreport -q < bin/bench.txt
	@exit $$(cat bin/bench.rc)

## bench-scale: a real etaxd on 1,000,000 registered accounts (internal/scale;
## not part of test or bench; 5-10 min on 2 cores, 2 GiB of disk under
## bin/): readiness, RSS at 0/10k/100k active, cold activations, then the
## BENCH lines of benchreport.ScaleTargets. Output kept in bin/bench-scale.txt.
bench-scale:
	@mkdir -p bin
	$(GO) build -tags etaxdscale -o bin/etaxd-scale ./cmd/etaxd
	@{ $(GO) run ./internal/scale/cmd/scale -etaxd bin/etaxd-scale $(SCALEFLAGS) 2>&1; echo $$? > bin/bench-scale.rc; } | tee bin/bench-scale.txt
	@exit $$(cat bin/bench-scale.rc)

## lint: go vet, and gofmt must have nothing to say
lint: vet fmt-check

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l reports unformatted files:"; echo "$$out"; exit 1; fi

## fmt: format every Go file in place
fmt:
	gofmt -w .

## build: bin/etaxd and bin/etax-sim
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/etaxd ./cmd/etaxd
	$(GO) build -o bin/etax-sim ./cmd/etax-sim

## sim: run the tax-bureau simulator on 127.0.0.1:8090 (docs/GATEWAY.md)
sim:
	$(GO) run ./cmd/etax-sim

## install: etaxd and etax-sim into $(go env GOBIN), else $(go env GOPATH)/bin
install:
	$(GO) install -ldflags "-X main.version=$(VERSION)" ./cmd/etaxd ./cmd/etax-sim

clean:
	rm -rf bin
