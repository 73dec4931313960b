#!/usr/bin/env bash
# Makes sure an etcd server is on PATH (for the kube-apiserver used by the
# tests) and prints its path on stdout. Logs go to stderr.
#
# Idempotent: does nothing when `etcd` is already on PATH; otherwise installs
# Debian's etcd-server package with apt-get (needs root, or sudo).
set -euo pipefail

log() { printf 'install-etcd.sh: %s\n' "$*" >&2; }

if path="$(command -v etcd 2>/dev/null)"; then
	printf '%s\n' "${path}"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	log "etcd is not on PATH and apt-get is unavailable; install etcd (v3.4 or newer) by hand"
	exit 1
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		log "installing etcd-server needs root (or sudo)"
		exit 1
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
log "installing Debian's etcd-server"
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends etcd-server >&2

# The package starts a system etcd on the default ports where an init system
# runs; the tests start their own on free ports, so that one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
	"${sudo[@]}" systemctl disable --now etcd >&2 || log "could not stop the packaged etcd service (harmless)"
fi

if ! path="$(command -v etcd 2>/dev/null)"; then
	log "etcd-server installed but etcd is still not on PATH"
	exit 1
fi
log "installed ${path} ($("${path}" --version 2>/dev/null | head -n1))"
printf '%s\n' "${path}"
