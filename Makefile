# posagent — every target fetches what it needs through the Go module proxy;
# nothing here assumes a prepared machine beyond Go itself.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Evaluate once: a commit made during a long make must not change the stamp.
VERSION   := $(VERSION)
COMMIT    := $(COMMIT)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
DIST      := dist
SEEDS     ?= 200
GATEWAY   ?= all

MAINTAINER ?= posagent maintainers <maintainers@posagent.example>

.PHONY: all test vet fmt-check demo selftest bench build build-arm emu-check deb lint-deb bench-scale bench-arm chaos screens clean

all: test build

## test: gofmt check, go vet and every test with the race detector.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(find . -name '*.go' -not -path './dist/*' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## demo: the whole terminal against the embedded sandbox gateway: type an
## amount, pay in a browser or with curl, see PAID; q quits. Files in demo-out/.
demo:
	$(GO) run ./cmd/posagent demo

## selftest: one complete sale end to end, unattended.
selftest:
	$(GO) run ./cmd/posagent selftest

## screens: regenerate the golden screens in docs/screens/.
screens:
	$(GO) run ./display/cmd/screens

## bench: the benchmarks that carry the performance targets of the issues.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-scale: storage at 0/10k/100k/1M orders (bytes on disk, start-up,
## status/list/show, one-day and full exports, verify, archive) with ratios to
## the empty database; each operation in its own child process for its RSS,
## and the "cli" rows: the real binary's status, orders list/show and one
## day's export, wall time and peak RSS of the whole command.
## make bench-scale SIZES=0,10000 for a quick look.
SIZES ?= 0,10000,100000,1000000
bench-scale:
	@mkdir -p $(DIST)
	$(GO) build -o $(DIST)/posagent-bench ./cmd/posagent
	POSAGENT_BENCH_CLI=$(abspath $(DIST))/posagent-bench POSAGENT_BENCH_SCALE=$(SIZES) $(GO) test -run '^TestBenchScale$$' -count=1 -v -timeout 60m ./storage

## bench-arm: the same table for the Pi Zero's CPU (armv6, arm1176) under
## QEMU user-mode emulation, for the ratios; RSS there includes the emulator.
ARM_SIZES ?= 0,10000,100000
bench-arm:
	@command -v qemu-arm-static >/dev/null || { echo "bench-arm needs qemu-arm-static (Debian qemu-user-static; make emu-check installs it)"; exit 1; }
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) test -c -o $(DIST)/storage-armv6.test ./storage
	POSAGENT_BENCH_SCALE=$(ARM_SIZES) POSAGENT_BENCH_EMULATOR="qemu-arm-static -cpu arm1176" \
		qemu-arm-static -cpu arm1176 $(DIST)/storage-armv6.test -test.run '^TestBenchScale$$' -test.count=1 -test.v -test.timeout 60m

## chaos: many seeds of the sale-engine chaos test (make chaos SEEDS=1000 GATEWAY=upay).
chaos:
	@mkdir -p $(DIST)
	@echo "chaos: $(SEEDS) seeds per gateway, 8 sales each (alipay 4; POSAGENT_CHAOS_SALES changes it) ($(GATEWAY)); full log in $(DIST)/chaos.log"
	@POSAGENT_CHAOS_SEEDS=$(SEEDS) POSAGENT_CHAOS_GATEWAY=$(GATEWAY) $(GO) test -count=1 -v -run 'TestChaos' -timeout 60m ./agent/ > $(DIST)/chaos.log 2>&1; \
	rc=$$?; grep -E 'seeds ×|FAIL|^ok|replay|seed [0-9]+:' $(DIST)/chaos.log; exit $$rc

## build: the host binaries.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/posagent ./cmd/posagent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/upay-sandbox ./cmd/upay-sandbox

## build-arm: static ARM binaries for Pi Zero/1 (armv6), Pi 2/3 (armv7) and 64-bit Pis.
build-arm:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/posagent-linux-armv6 ./cmd/posagent
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/posagent-linux-armv7 ./cmd/posagent
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64       $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/posagent-linux-arm64 ./cmd/posagent
	@ls -l $(DIST)/posagent-linux-*

## emu-check: run the ARM builds under QEMU user-mode emulation (posagent version
## and one complete sale, posagent selftest, on each Pi's CPU). Installs Debian's
## qemu-user-static when missing (needs root, as CI is); fails loudly without it.
emu-check: build-arm
	$(GO) run ./cmd/emucheck -dist $(DIST) -version '$(VERSION)'

## deb: .deb packages with the systemd unit: armhf from the armv6 and the armv7
## build, and arm64 (nfpm as a Go library, pinned in go.mod).
deb: build-arm
	@rm -f $(DIST)/*.deb
	$(GO) run ./cmd/mkdeb -maintainer '$(MAINTAINER)' -dist $(DIST) -out $(DIST) -version '$(VERSION)' -config cmd/posagent/posagent.example.toml -doc docs/install.md
	@ls -l $(DIST)/*.deb

## lint-deb: lintian on the packages (0 tags allowed; overrides carry their
## reason) and the unit's systemd-analyze security exposure (≤ 2.0).
lint-deb: deb
	@n=$$(lintian --tag-display-limit 0 -I -E --pedantic $(DIST)/*.deb 2>/dev/null | grep -c '^[EWIPX]: '); \
	o=$$(lintian -I -E --pedantic --show-overrides $(DIST)/*.deb 2>/dev/null | grep -c '^O: '); \
	echo "lintian: $$n tags, $$o overridden with reasons"; \
	systemd-analyze security --offline=true --threshold=20 cmd/mkdeb/posagent.service >$(DIST)/security.txt; rc=$$?; \
	grep 'Overall exposure' $(DIST)/security.txt; test $$n -eq 0 && test $$rc -eq 0

clean:
	rm -rf $(DIST)
