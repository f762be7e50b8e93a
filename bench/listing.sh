#!/usr/bin/env bash
# Call-record listing at scale: generates RECORDS call records (default 10 million) once per
# backend, then times each dialect's list request over HTTP beside the bare SQL it runs (one
# statement: the page, each row with the count of matches for page-numbered dialects), on SQLite
# and PostgreSQL. Prints p50/p99 and the p99 ratio.
#
#   bash bench/listing.sh [records] [sqlite|postgres|both]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-10000000}
which=${2:-both}
dir=${BENCH_DIR:-target/bench-listing}
bash scripts/setup >/dev/null
cargo build --release --locked -q -p yunhu --example listing_bench
bin=${CARGO_TARGET_DIR:-target}/release/examples/listing_bench
for backend in sqlite postgres; do
  [ "$which" = both ] || [ "$which" = "$backend" ] || continue
  "$bin" "$backend" "$records" "$dir"
done
