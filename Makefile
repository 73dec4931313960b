# tsdb-platform: one entry point for tests and deployments. `make help` lists targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

STACK ?= dev
GO ?= go
# How long `make test` fuzzes the config loader (CI keeps it short and fixed).
FUZZTIME ?= 60s
# Where `make up` keeps Pulumi state: a local file backend inside the repository
# (ignored by git), so the quick start needs no Pulumi account.
STATE_DIR ?= $(CURDIR)/.pulumi-state
export PULUMI_BACKEND_URL ?= file://$(STATE_DIR)

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Build the pinned etcd, kube-apiserver, controller-manager, scheduler and kwok (cached).
	bash scripts/sim-tools.sh >/dev/null

.PHONY: sim-cluster
sim-cluster: tools ## Run the tests' simulated cluster in the foreground; kubeconfig in .sim/kubeconfig.
	$(GO) run ./tests/cmd/simcluster

.PHONY: busybox
busybox: ## Install Debian's busybox (it runs the program's scripts in tests/scripts) when missing.
	@command -v busybox >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox; } || \
		echo "busybox is not installed (apt-get install busybox): tests/scripts will skip"

.PHONY: test
test: tools busybox ## Run every test: vet, unit and mock tests, the real API-server suite.
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./tests/bench/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./stacks/

.PHONY: fuzz
fuzz: ## Fuzz the config loader for longer (FUZZTIME=10m make fuzz).
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./stacks/

# --- Deploying (needs the Pulumi CLI; see README "Quick start") -------------------
PULUMI ?= pulumi
RENDER_STACK = render-$(STACK)
RENDER_DIR ?= $(CURDIR)/rendered/$(STACK)

# PULUMI_BACKEND_URL (exported above) points every pulumi command of these targets at
# the backend; `pulumi login` makes it the CLI's current one too, so that `pulumi stack
# output` run by hand finds the stack. It is called only when it is not current yet.
.PHONY: login
login: ## Log in to the local file backend kept in .pulumi-state/ (ignored by git).
	@command -v $(PULUMI) >/dev/null || { echo "the Pulumi CLI is not on PATH: https://www.pulumi.com/docs/install/"; exit 1; }
	@mkdir -p $(STATE_DIR)
	@grep -qsF '"current": "$(PULUMI_BACKEND_URL)"' "$${PULUMI_HOME:-$$HOME/.pulumi}/credentials.json" \
		|| $(PULUMI) login $(PULUMI_BACKEND_URL)

# Every command that touches a stack needs its passphrase (the local backend's secrets
# provider); say so up front instead of letting the CLI prompt or fail later.
.PHONY: passphrase
passphrase:
	@if [ -z "$${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then \
		echo "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): it encrypts the stack's secrets in $(STATE_DIR)"; exit 1; fi

.PHONY: select
select: login passphrase
	$(PULUMI) stack select $(STACK) --create --secrets-provider passphrase

.PHONY: preview
preview: select ## Preview STACK (default dev): what `make up` would change.
	$(PULUMI) preview --stack $(STACK) --diff

.PHONY: up
up: select ## Deploy STACK (default dev) to the cluster its stack file names.
	$(PULUMI) up --stack $(STACK) $(ARGS)

.PHONY: destroy
destroy: select ## Delete everything STACK deployed (protected resources are refused).
	$(PULUMI) destroy --stack $(STACK) $(ARGS)

# copy-stack NAME: make stack NAME a copy of STACK's configuration, secrets included:
# its config copied over again (state kept), one CLI call; the first time, STACK and
# NAME are created (NAME with --copy-config-from). The caller overrides the target keys
# (kubeContext, kubeconfig, renderDir) on its `pulumi up` command line.
define copy-stack
	if ! $(PULUMI) config cp --stack $(STACK) --dest $(1) >/dev/null 2>&1; then \
		$(PULUMI) stack init $(STACK) --secrets-provider passphrase --no-select >/dev/null 2>&1 || true; \
		$(PULUMI) stack init $(1) --copy-config-from $(STACK) --secrets-provider passphrase --no-select >/dev/null 2>&1 \
			|| $(PULUMI) config cp --stack $(STACK) --dest $(1); \
	fi
endef

.PHONY: render
render: login passphrase ## Write STACK's manifests to rendered/STACK/ instead of deploying (no cluster needed).
	@# A render stack is made afresh: with state kept, unchanged objects would not be written again.
	$(PULUMI) stack rm --stack $(RENDER_STACK) --yes --force >/dev/null 2>&1 || true
	$(call copy-stack,$(RENDER_STACK))
	rm -rf $(RENDER_DIR)
	$(PULUMI) up --stack $(RENDER_STACK) --yes --skip-preview \
		--config kubeContext= --config kubeconfig= --config renderDir=$(RENDER_DIR)
	@echo "manifests written to $(RENDER_DIR) (Secrets in plaintext: do not commit them)"

# --- The simulated cluster (see README "Simulated cluster") -------------------------
SIM_DIR ?= $(CURDIR)/.sim
SIM_KUBECONFIG ?= $(SIM_DIR)/kubeconfig
SIM_STACK = sim-$(STACK)

.PHONY: sim-up
sim-up: login passphrase ## Deploy STACK to the simulated cluster started by `make sim-cluster`.
	@test -s $(SIM_KUBECONFIG) || { echo "no simulated cluster: run \`make sim-cluster\` in another terminal first"; exit 1; }
	$(call copy-stack,$(SIM_STACK))
	@# Auto-approved (--yes), so a preview first would only build and run the program
	@# once more (about half the time of a no-change run); `make preview` shows the plan.
	$(PULUMI) up --stack $(SIM_STACK) --yes --skip-preview --config kubeContext= --config kubeconfig=$(SIM_KUBECONFIG) $(ARGS)

.PHONY: sim-destroy
sim-destroy: login passphrase ## Delete what `make sim-up` deployed for STACK.
	$(PULUMI) destroy --stack $(SIM_STACK) --yes $(ARGS)

.PHONY: plan
plan: ## Print STACK's startup stages (no cluster, no Pulumi CLI needed).
	$(GO) run ./cmd/plan --stack $(STACK)

# Benchmarks of the program's own cost (tests/bench). Each size runs BENCHTIME
# (iterations, or a duration like 1s) BENCHCOUNT times; the ratio uses each size's
# fastest run, as other builds sharing the machine only ever slow a run down.
BENCHTIME ?= 2x
BENCHCOUNT ?= 3

.PHONY: bench
bench: ## Benchmark the program under mocks for 1, 10, 100 clusters; print time(100)/time(10).
	@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./tests/bench/ | tee "$$out"; \
	awk '/^BenchmarkProgram\/greptimedb=/ { split($$1, a, "[=-]"); n = a[2]; \
	       for (i = 2; i < NF; i++) { if ($$(i + 1) == "ns/op") t = $$i + 0; if ($$(i + 1) == "cpu-ns/op") c = $$i + 0 } \
	       if (!(n in best) || t < best[n]) best[n] = t; if (!(n in cpu) || c < cpu[n]) cpu[n] = c } \
	     END { if (!(10 in best) || !(100 in best)) { print "bench: no results for 10 and 100 clusters"; exit 1 } \
	       r = best[100] / best[10]; s = best[100] / 1e9; \
	       printf "time(100) = %.3f s (target < 2 s: %s); CPU time(100) = %.3f s\n", s, (s < 2 ? "ok" : "OVER"), cpu[100] / 1e9; \
	       printf "time(100)/time(10) = %.2f (linear ~10, target < 12: %s)", r, (r < 12 ? "ok" : "OVER"); \
	       if (cpu[10] > 0) printf "; CPU time ratio %.2f", cpu[100] / cpu[10]; print "" }' "$$out"

# --- The real engine (needs pulumi, pulumi-language-go and the kubernetes and random
# provider plugins on PATH; see README "Real engine") ------------------------------
.PHONY: e2e
e2e: tools ## Real-engine end to end on the simulated cluster; prints `up` time per stage against its lower bound.
	$(GO) test -count=1 -v -timeout 90m ./tests/e2e/ 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)'

.PHONY: bench-engine
bench-engine: tools ## Real-engine `pulumi preview` time for 1, 10 and 50 clusters of each kind.
	$(GO) test -count=1 -run '^$$' -bench EnginePreview -benchtime 1x -timeout 60m ./tests/e2e/

.PHONY: bench-peer
bench-peer: ## The dev stack's `make sim-up` against the GreptimeDB operator on the simulated cluster (skips without the engine).
	$(GO) run ./tests/cmd/benchpeer $(ARGS)

.PHONY: golden
golden: ## Regenerate the golden manifests under tests/testdata/golden (review the diff).
	$(GO) test ./tests/manifests/ -run TestGoldenManifests -update
