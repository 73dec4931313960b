#!/usr/bin/env bash
# Builds kube-apiserver (pinned by tools/kube-apiserver/go.mod) once into the
# tsdb-platform cache and prints the binary's path on stdout; see sim-tools.sh,
# which builds it with the rest of the simulated cluster.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/sim-tools.sh" kube-apiserver
