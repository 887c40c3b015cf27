#!/usr/bin/env bash
# Sets up berth on a fresh machine and runs a container from the built-in
# hello-world image: builds the binary, starts the daemon on
# /run/berth/berth.sock if none is running, then `berth run --rm hello-world`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libseccomp-dev >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp-dev pkg-config >/dev/null
fi
cargo build --release --locked --bin berth
berth=target/release/berth
if ! "$berth" version >/dev/null 2>&1; then
  mkdir -p /run/berth
  setsid "$berth" daemon >/var/log/berth.log 2>&1 < /dev/null &
  for _ in $(seq 1 100); do "$berth" version >/dev/null 2>&1 && break; sleep 0.1; done
fi
exec "$berth" run --rm hello-world
