# One command runs every test of every module: `make test`.
# (`go test ./...` at the root does not cross the modules of the workspace.)
# Modules come from go.work; none is listed here.

GO      ?= go
MODULES := $(shell $(GO) list -m -f '{{.Dir}}' | sed "s|^$(CURDIR)/||" | sort)
# The libraries: every module but the examples, the benchmarks, commands
# and internal tooling.
LIBRARIES := $(filter-out examples bench cmd/% internal/%,$(MODULES))
TESTFLAGS ?= -count=1 -timeout 30m
# The release tooling (internal/release), run outside the workspace so that
# a broken go.mod elsewhere cannot stop it.
RELEASE := GOWORK=off $(GO) -C internal/release run .

.PHONY: test test-race vet vet-gowork-off test-gowork-off tidy tidy-check consumer release check bench fuzz modules

test:
	@set -e; for m in $(MODULES); do \
		echo "== go test $$m"; \
		(cd $$m && $(GO) test $(TESTFLAGS) ./...); \
	done

# The libraries under the race detector.
test-race:
	@set -e; for m in $(LIBRARIES); do \
		echo "== go test -race $$m"; \
		(cd $$m && $(GO) test -race $(TESTFLAGS) ./...); \
	done

vet:
	@set -e; for m in $(MODULES); do \
		echo "== go vet $$m"; \
		(cd $$m && $(GO) vet ./...); \
	done

# Each module on its own (GOWORK=off): the libraries through their replace
# lines, the CLI (which has none) through a file proxy of the checkout.
# vet-gowork-off builds and vets every package and test of each module that
# way (what CI runs: a go.mod that misses a requirement fails it);
# test-gowork-off also runs the tests, about five minutes more.
vet-gowork-off:
	$(RELEASE) gowork-off vet ./...

test-gowork-off:
	$(RELEASE) gowork-off test $(TESTFLAGS) ./...

# go mod tidy in every module; tidy-check changes nothing and fails when
# tidy would change a go.mod or go.sum, when the modules require each other
# in a cycle or at more than one version, or when a go.sum records a
# sibling's checksum.
tidy:
	$(RELEASE) tidy

tidy-check:
	$(RELEASE) tidy -check

# A stranger's use of the modules from a module proxy: `authenik8 new` for
# every framework, and the README's server. About a minute with warm caches.
consumer:
	$(RELEASE) consumer

# make release VERSION=vX.Y.Z prints the plan; APPLY=1 rewrites the
# requirements, tidies, runs `make test consumer`, commits and tags.
release:
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=vX.Y.Z [APPLY=1]" >&2; exit 2; }
	$(RELEASE) release $(if $(filter 1,$(APPLY)),-apply) $(VERSION)

check: test vet vet-gowork-off tidy-check

# Coverage-guided fuzzing of core, each target for FUZZTIME: a count of
# executions (CI: 300000x, 30–100 s per target here) or a duration. A
# count, because Go 1.26's fuzzing coordinator can fail a duration run with
# "context deadline exceeded" as the time runs out, no failing input
# involved (golang/go#75804, fixed in Go 1.27). A failing input lands in
# core/testdata/fuzz/<target>/; committed, it becomes a regression case of
# `make test`.
FUZZTIME ?= 600000x
FUZZ_TARGETS := FuzzVerify FuzzRefreshToken FuzzRoutes

fuzz:
	@set -e; for f in $(FUZZ_TARGETS); do \
		echo "== go test -fuzz $$f ($(FUZZTIME))"; \
		(cd core && $(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s .); \
	done

# Throughput side by side with peers, on loopback (needs wrk); writes
# bench/results/results.json and chart.svg. About six minutes.
bench:
	cd bench && $(GO) run . -out results

modules:
	@echo $(MODULES)
