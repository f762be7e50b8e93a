#!/usr/bin/env bash
# Agent desktop fan-out: yunhu in-process (SQLite, no telephony) with AGENTS agents logged in
# from their desks, one /agent/monitor websocket each, RATE presence changes a second spread over
# the agents for SECS seconds (one notice frame each), and halfway a reconnect storm: every socket
# dropped at once, OFFLINE seconds later every desktop back at once with &seq=<last seen>.
# Prints p50/p99/max from a change being asked to its frame arriving, frames expected against
# received per desktop (duplicates, gaps, order), the storm's settle time, and the goal check.
#
#   AGENTS=1000 RATE=1000 SECS=30 OFFLINE=1 bench/desk.sh
#
# STORM_AT (default SECS/2) moves the storm; CSV=FILE keeps every event's times.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${AGENTS:-1000}
RATE=${RATE:-1000}
SECS=${SECS:-30}
OFFLINE=${OFFLINE:-1}
cargo build --release --locked -q -p yunhu --example desk_load
echo "desk: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
RUST_LOG=${RUST_LOG:-warn} "${CARGO_TARGET_DIR:-target}/release/examples/desk_load" \
  --agents "$AGENTS" --rate "$RATE" --secs "$SECS" --offline "$OFFLINE" ${STORM_AT:+--storm-at "$STORM_AT"} ${CSV:+--csv "$CSV"} \
  --dir "$work"
