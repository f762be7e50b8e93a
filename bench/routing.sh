#!/usr/bin/env bash
# Routing decision cost of the inbound queues (issue 19's goal: p99 under 20 ms at 100 queued
# callers and 500 agents): yunhu in-process with AGENTS registered agents (one sipp registers
# them all, one sipp phone answers for all), QUEUED callers waiting in a queue whose agents are
# not ready, and CALLERS arriving at RATE a second into a queue served by READY agents. Prints the
# time from a caller entering the queue to the INVITE to the chosen agent's phone (from the event
# log), p50/p99/max, and the goal check.
#
#   AGENTS=500 QUEUED=100 CALLERS=300 RATE=10 READY=100 bench/routing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p yunhu --example routing_bench
echo "routing: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
RUST_LOG=${RUST_LOG:-warn} "${CARGO_TARGET_DIR:-target}/release/examples/routing_bench" \
  --agents "${AGENTS:-500}" --queued "${QUEUED:-100}" --callers "${CALLERS:-300}" \
  --rate "${RATE:-10}" --ready "${READY:-100}"
