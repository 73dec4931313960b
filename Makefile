# tsdb-platform: one entry point for tests and deployments. `make help` lists targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

STACK ?= dev
GO ?= go
# Where `make up` keeps Pulumi state: a local file backend inside the repository
# (ignored by git), so the quick start needs no Pulumi account.
STATE_DIR ?= $(CURDIR)/.pulumi-state
export PULUMI_BACKEND_URL ?= file://$(STATE_DIR)

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Install etcd and build the pinned kube-apiserver (cached) for the API-server tests.
	bash scripts/install-etcd.sh >/dev/null
	bash scripts/kube-apiserver.sh >/dev/null

.PHONY: test
test: tools ## Run every test: vet, unit and mock tests, the real API-server suite.
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) test -count=1 ./...

.PHONY: golden
golden: ## Regenerate the golden manifests under tests/testdata/golden (review the diff).
	$(GO) test ./tests/manifests/ -run TestGoldenManifests -update
