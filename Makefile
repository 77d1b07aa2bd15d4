# etaxd — make targets. `make run` starts etaxd with demo data; `make test`
# is what CI runs (.ci/run). Nothing here installs anything.

GO      ?= go
PKGS    ?= ./...
VERSION ?= dev

.PHONY: run sim test race fuzz bench lint vet fmt-check fmt build clean

## run: start etaxd in dev mode (this machine only) on ./data with the demo
## tenant (see data/demo.json); etaxd's own default is production
run:
	$(GO) run ./cmd/etaxd serve --dev --demo

## test: vet, the gofmt check, every test with the race detector, then the
## fuzz targets of the JSON bodies and the WeChat callback, briefly
test: lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(MAKE) fuzz

# FUZZ lists the fuzz targets `make fuzz` runs, as package:Target: every
# JSON body of the client and operator APIs (HTTP and NATS), the signature
# check, the simulator's server and the WeChat callback (XML and JSON,
# plain and safe mode). Their seed corpora run with every `go test` too.
FUZZ     ?= ./http:FuzzBodies ./http:FuzzSignature ./http/opsapi:FuzzBodies ./taxbureau:FuzzServer ./wechat:FuzzCallback
FUZZTIME ?= 10s

## fuzz: run each fuzz target in FUZZ for FUZZTIME (10s; e.g. FUZZTIME=5m)
fuzz:
	@set -e; for t in $(FUZZ); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

## race: every test with the race detector, without the lint step
race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## bench: run the benchmarks (no tests) and print their results
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

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

clean:
	rm -rf bin
