#!/usr/bin/env bash
# SIP OPTIONS latency while a stream of wrong open95 client secrets arrives (issue 18, finding 5):
# measured once quiet and once under `RATE` wrong secrets a second for `SECS` seconds. Each wrong
# secret costs an argon2 check; those run on yunhu's password threads (`password_threads`,
# `password_queue`), so the OPTIONS latency under load should stay near the quiet figure, and the
# requests past the queue are answered 503 temporarily_unavailable at once.
# Usage: bench/password_load.sh [RATE=80] [SECS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-80} SECS=${2:-10} HTTP=18480 SIP=15480
cargo build --release --locked -q -p yunhu
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
RUST_LOG=warn target/release/yunhu --data-dir "$work/data" --http-listen "127.0.0.1:$HTTP" \
  --sip-listen "127.0.0.1:$SIP" --rtp-ports 30000-30999 serve --provision examples/provision.toml >"$work/log" 2>&1 &
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP/yunhu/v1/openapi.json" >/dev/null && break; sleep 0.1; done
python3 - "$HTTP" "$SIP" "$RATE" "$SECS" <<'PY'
import socket, sys, threading, time, urllib.request, urllib.error, collections
http, sip, rate, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def options_ms(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(5)
    port = s.getsockname()[1]
    msg = (f"OPTIONS sip:777777.yunhu SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-b{n}\r\n"
           f"From: <sip:probe@777777.yunhu>;tag=b{n}\r\nTo: <sip:777777.yunhu>\r\nCall-ID: bench{n}@probe\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    t = time.perf_counter(); s.sendto(msg, ("127.0.0.1", sip)); s.recv(4096)
    return (time.perf_counter() - t) * 1000

def pings(count):
    out = [];
    for i in range(count):
        out.append(options_ms(i)); time.sleep(0.05)
    out.sort(); return out[len(out)//2], out[int(len(out)*0.99)-1], out[-1]

codes = collections.Counter()
def wrong(i):
    data = f"client_id=demo{i}&client_secret=wrong&grant_type=client_credentials".encode()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/oauth/token", data, timeout=30) as r: codes[r.status] += 1
    except urllib.error.HTTPError as e: codes[e.code] += 1
    except Exception: codes["error"] += 1

quiet = pings(100)
stop = time.time() + secs
def flood():
    i = 0
    while time.time() < stop:
        threading.Thread(target=wrong, args=(i,), daemon=True).start(); i += 1; time.sleep(1 / rate)
threading.Thread(target=flood, daemon=True).start()
loaded = pings(int(secs / 0.05 * 0.8))
time.sleep(2)
print(f"OPTIONS ms quiet   p50 {quiet[0]:.2f} p99 {quiet[1]:.2f} max {quiet[2]:.2f}")
print(f"OPTIONS ms loaded  p50 {loaded[0]:.2f} p99 {loaded[1]:.2f} max {loaded[2]:.2f}  ({rate} wrong secrets/s)")
print(f"oauth answers: {dict(codes)}  (401 checked, 503 refused as busy)")
print(f"ratio loaded/quiet p50 {loaded[0]/quiet[0]:.1f}")
PY
