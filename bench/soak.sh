#!/usr/bin/env bash
# Crash soak: yunhu under mixed load, killed with `kill -9` every few minutes and restarted, then
# stopped gracefully (SIGTERM, which drains) and checked.
#
#   bench/soak.sh [DURATION]        DURATION like 30m (the default), 90s or 2m
#
# Load (all on loopback): a soak tenant with SOAK_AGENTS agents (sipp phones that register, log in
# with 000 and answer every call with RTP), a sipp carrier answering half the customers with
# voice, a predictive task over 3,000 numbers, customers calling an inbound queue every few
# seconds, a click-to-call now and then, and API listings and logins (open95 OAuth and call
# history, action GetCDRList, sipcdr Login) every two seconds. Every SOAK_KILL_EVERY seconds
# (default 240; half the run when it is shorter than 8 minutes) yunhu gets `kill -9`, stays down
# SOAK_DOWNTIME seconds (default 5), and starts again on the same data.
#
# At the end it checks, and exits non-zero if any fails:
#   - every call in the event log has exactly one record and exactly one end (hung_up) event;
#   - every recording a record names is a complete WAV (header sizes match the file), repaired
#     ones flagged (recording_repaired), and no `.part` file is left;
#   - no record bills through a crash: no call that talked before a kill ends more than 2 s
#     after it (the downtime is never billed);
#   - resident memory is flat: in every run of yunhu of 50 s or more, past its first 30 s, the
#     mean RSS of the last third is within SOAK_RSS_PCT % (default 20) + 8 MiB of the first third;
#   - the graceful stop exits 0, and no API request got a 5xx.
#
# YUNHU_BIN runs a given binary (the CI test passes its debug build); otherwise the release build
# is made. SOAK_DIR keeps the work directory (default a fresh one under /tmp, removed on success).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

duration=${1:-30m}
case "$duration" in
  *m) secs=$(( ${duration%m} * 60 )) ;;
  *s) secs=${duration%s} ;;
  *) secs=$(( duration * 60 )) ;;
esac
[ "$secs" -ge 60 ] || { echo "soak: at least 60 s, not $duration" >&2; exit 2; }
if [ -n "${SOAK_KILL_EVERY:-}" ]; then kill_every=$SOAK_KILL_EVERY
elif [ "$secs" -ge 480 ]; then kill_every=240
else kill_every=$(( secs / 2 )); fi
downtime=${SOAK_DOWNTIME:-5}
agents=${SOAK_AGENTS:-4}
rss_pct=${SOAK_RSS_PCT:-20}

for tool in sipp curl python3; do
  command -v $tool >/dev/null || { echo "soak: $tool is missing (scripts/setup installs it)" >&2; exit 2; }
done
if [ -z "${YUNHU_BIN:-}" ]; then
  cargo build --release --locked -q -p yunhu
  YUNHU_BIN="${CARGO_TARGET_DIR:-$root/target}/release/yunhu"
fi
work=${SOAK_DIR:-$(mktemp -d /tmp/yunhu-soak.XXXXXX)}
mkdir -p "$work/data" "$work/sipp"
echo "soak: $secs s, kill -9 every $kill_every s (down $downtime s), $agents agents; work directory $work"

# Ports: blocks of four free ones (sipp takes RTP and RTCP beside its media port), apart from
# the tests' ranges; yunhu's RTP range sits beside them.
# The next port to try is kept in a file: port is called in subshells, as $(port).
echo 38000 > "$work/next_port"
port() {
  while :; do
    local p
    p=$(cat "$work/next_port")
    echo $((p + 4)) > "$work/next_port"
    [ $p -lt 39990 ] || { echo "soak: no free ports" >&2; exit 2; }
    if python3 - "$p" <<'EOF'
import socket, sys
p = int(sys.argv[1])
try:
    for q in range(p, p + 4):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", q)); s.close()
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("127.0.0.1", p)); t.close()
except OSError:
    sys.exit(1)
EOF
    then echo $p; return; fi
  done
}
http=$(port); sip=$(port); carrier=$(port); carrier_media=$(port); inbound=$(port); inbound_media=$(port)
admin=soak-admin-token
corp=555555
domain=$corp.yunhu
base=http://127.0.0.1:$http

# Processes this script started, stopped by their ids on the way out.
pids=()
yunhu=
cleanup() {
  [ -n "$yunhu" ] && kill -9 "$yunhu" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

{
  echo "[[tenant]]"
  echo "corp_id = \"$corp\""
  echo 'name = "Soak Co"'
  echo '  [[tenant.api_client]]'
  echo '  client_id = "soak"'
  echo '  client_secret = "soak-secret"'
  echo '  [tenant.action]'
  echo '  company_id = 55'
  echo '  auth = "soak-auth"'
  echo '  [tenant.sipcdr]'
  echo '  username = "soak"'
  echo '  password = "soak-pass"'
  echo '  [[tenant.caller_id]]'
  echo '  number = "55550000"'
  echo '  [[tenant.caller_id]]'
  echo '  number = "55558000"'
  echo '  [[tenant.project]]'
  echo '  code = "SOAK"'
  echo '  name = "Soak"'
  echo '  [[tenant.trunk]]'
  echo '  name = "carrier"'
  echo "  address = \"127.0.0.1:$carrier\""
  echo '  caller_id = "55550000"'
  echo '  [[tenant.trunk]]'
  echo '  name = "inbound"'
  echo "  address = \"127.0.0.1:$inbound\""
  echo '  caller_id = "55550000"'
  echo '  [[tenant.queue]]'
  echo '  code = "8000"'
  echo '  name = "Soak queue"'
  echo '  caller_id = "55558000"'
  for i in $(seq 1 "$agents"); do
    echo '  [[tenant.staff]]'
    echo "  user_code = \"$((2000 + i))\""
    echo "  name = \"Agent $i\""
    echo "  agent_id = \"$((2000 + i))\""
    echo "  sip_password = \"soak$((2000 + i))\""
    echo '  queues = ["8000"]'
  done
} > "$work/soak.toml"

incarnation=0
start_yunhu() {
  incarnation=$((incarnation + 1))
  echo "=== start $incarnation at $(date +%s%3N)" >> "$work/yunhu.log"
  env -u YUNHU_CONFIG -u YUNHU_DATABASE_URL -u YUNHU_PROVISION RUST_LOG=info "$YUNHU_BIN" \
    --data-dir "$work/data" --http-listen "127.0.0.1:$http" --sip-listen "127.0.0.1:$sip" \
    --rtp-ports 36000-37999 --admin-token "$admin" --drain-secs 30 \
    serve --provision "$work/soak.toml" >> "$work/yunhu.log" 2>&1 &
  yunhu=$!
  started_at=$(date +%s)
  for _ in $(seq 1 300); do
    curl -sf -H "Authorization: Bearer $admin" "$base/yunhu/v1/tenants" >/dev/null && return 0
    kill -0 "$yunhu" 2>/dev/null || break
    sleep 0.1
  done
  echo "soak: yunhu did not come up; see $work/yunhu.log" >&2
  exit 1
}

sipp_peer() { # name, then sipp arguments: runs in the background, logs in $work/sipp
  local name=$1; shift
  (cd "$root/tests/sipp" && exec sipp "$@" -nostdin -trace_err -error_file "$work/sipp/$name.err" \
    >/dev/null 2>&1) &
  pids+=($!)
}

sipp_once() { # sipp arguments: one transaction to yunhu, 20 s at most
  (cd "$root/tests/sipp" && sipp "127.0.0.1:$sip" "$@" -m 1 -i 127.0.0.1 -nostdin -timeout 20s -timeout_error \
    >/dev/null 2>&1)
}

register() { # extension: its phone's contact port is contact_$ext
  local ext=$1 c
  c=$(cat "$work/contact_$ext")
  sipp_once -sf register.xml -p "$(port)" -au "$ext" -ap "soak$ext" -key user "$ext" -key domain "$domain" \
    -key contact_port "$c"
}

start_yunhu

# The carrier: 50 % answer after 4-20 s and talk (mean 20 s), 10 % busy, the rest ring out.
sipp_peer carrier -sf demo_carrier.xml -i 127.0.0.1 -p "$carrier" -mp "$carrier_media" -m 10000000 \
  -set answer_share 0.5 -set busy_share 0.6
exts=()
for i in $(seq 1 "$agents"); do
  ext=$((2000 + i)); exts+=("$ext")
  p=$(port); m=$(port)
  echo "$p" > "$work/contact_$ext"
  sipp_peer "agent-$ext" -sf demo_agent.xml -i 127.0.0.1 -p "$p" -mp "$m" -m 10000000
done
for ext in "${exts[@]}"; do
  register "$ext" || { echo "soak: $ext did not register" >&2; exit 1; }
  sipp_once -sf dial.xml -p "$(port)" -mp "$(port)" -au "$ext" -ap "soak$ext" -key user "$ext" \
    -key domain "$domain" -key dialed 000 || { echo "soak: $ext did not log in" >&2; exit 1; }
done

# The predictive task, by the open95 API.
token() {
  curl -s -d 'client_id=soak&client_secret=soak-secret&grant_type=client_credentials&scope=read,write' \
    "$base/oauth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
tok=$(token)
numbers=$(seq 13900000001 13900003000 | sed 's/$/:soak/' | paste -sd';')
made=$(curl -s -H "Authorization: Bearer $tok" -F outProjectId=PRO_${corp}_SOAK -F taskId=SOAK1 \
  -F name=soak -F callerId=55550000 -F createType=input -F "mobileAndDes=$numbers" -F timeFrom=00:00 \
  -F timeTo=23:59 -F callType=0 -F ratio=3 -F idleTime=8000 -F remark=soak "$base/artificialOutTask/insert")
task_id=$(echo "$made" | sed -n 's/.*"outboundInstanceId":"\([^"]*\)".*/\1/p')
group_dn=$(echo "$made" | sed -n 's/.*"groupDn":"\([^"]*\)".*/\1/p')
group_id=$(echo "$made" | sed -n 's/.*"groupId":"\([^"]*\)".*/\1/p')
[ -n "$task_id" ] || { echo "soak: task not created: $made" >&2; exit 1; }
ids=$(printf '"%s",' "${exts[@]}"); ids="[${ids%,}]"
curl -sf -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
  -d "{\"queueCode\":\"$group_dn\",\"groupId\":\"$group_id\",\"selectedIds\":$ids}" "$base/queueUser/insert" >/dev/null
curl -sf -X PUT -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d "{\"id\":\"$task_id\"}" \
  "$base/artificialOutTask/startCall" >/dev/null
echo "soak: predictive task $task_id running over 3000 numbers"

# Customers calling the inbound queue: one every 6 s, each staying 12 s after yunhu answers.
sipp_peer inbound -sf queue_caller.xml "127.0.0.1:$sip" -i 127.0.0.1 -p "$inbound" -mp "$inbound_media" \
  -r 1 -rp 6000 -d 12000 -m 1000000 -key user 13700000000 -key dialed 55558000 -key domain "$domain"

# API listings, logins and click-to-calls every 2 s; registrations refreshed every 2 minutes.
(
  n=0
  while :; do
    n=$((n + 1))
    t=$(token || true)
    for path in "/callHistory/pageSearchCallHistory?access_token=$t" "/employeeInfo/pageSearch?access_token=$t" \
      "/action?action=GetCDRList&companyid=55&auth=soak-auth" ; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$base$path" || true)
      echo "$(date +%s%3N) $code ${path%%\?*}"
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -d service=App.Sip_Auth.Login -d appid=soak \
      -d accesskey=soak-pass "$base/" || true)
    echo "$(date +%s%3N) $code sipcdr-login"
    if [ $((n % 5)) = 0 ]; then
      ext=${exts[$((RANDOM % ${#exts[@]}))]}
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        "$base/action?action=SendDial&companyid=55&auth=soak-auth&staffid=$ext&phonenum=1380000$((1000 + RANDOM % 9000))" || true)
      echo "$(date +%s%3N) $code senddial"
    fi
    if [ $((n % 60)) = 0 ]; then
      for ext in "${exts[@]}"; do register "$ext" || true; done
    fi
    sleep 2
  done
) > "$work/api.log" 2>&1 &
api_loop=$!
pids+=($api_loop)

# The run: RSS every 2 s; kill -9 on schedule.
began=$(date +%s)
next_kill=$((began + kill_every))
kills=0
: > "$work/rss.log"
: > "$work/downtime.log"
while [ $(( $(date +%s) - began )) -lt "$secs" ]; do
  now=$(date +%s)
  if [ "$now" -ge "$next_kill" ] && [ $((began + secs - now)) -ge 20 ]; then
    kill_ms=$(date +%s%3N)
    kill -9 "$yunhu"; wait "$yunhu" 2>/dev/null || true
    kills=$((kills + 1))
    echo "soak: kill -9 #$kills after $((now - began)) s"
    sleep "$downtime"
    start_yunhu
    echo "$kill_ms $(date +%s%3N)" >> "$work/downtime.log"
    next_kill=$((next_kill + kill_every))
  fi
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$yunhu/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$incarnation $(( $(date +%s) - started_at )) $rss" >> "$work/rss.log"
  sleep 2
done

# The end: no more API load, then a graceful stop (it drains: live calls finish, up to 30 s).
kill "$api_loop" 2>/dev/null || true
echo "soak: SIGTERM (drain) after $(( $(date +%s) - began )) s"
kill -TERM "$yunhu"
set +e
wait "$yunhu"; stop_status=$?
set -e
yunhu=
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done

set +e
python3 - "$work" "$corp" "$stop_status" "$rss_pct" "$kills" <<'EOF'
import os, sqlite3, struct, sys
work, corp, stop_status, rss_pct, kills = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
bad = []
db = sqlite3.connect(os.path.join(work, "data", "yunhu.db"))
tenant = db.execute("SELECT id FROM tenants WHERE corp_id = ?", (corp,)).fetchone()[0]
calls = [r[0] for r in db.execute("SELECT DISTINCT call_id FROM events WHERE tenant_id = ? AND kind = 'created'", (tenant,))]
recs = {}
for row in db.execute("SELECT call_id, COUNT(*) FROM call_records WHERE tenant_id = ? GROUP BY call_id", (tenant,)):
    recs[row[0]] = row[1]
ends = dict(db.execute("SELECT call_id, COUNT(*) FROM events WHERE tenant_id = ? AND kind = 'hung_up' GROUP BY call_id", (tenant,)))
for c in calls:
    if recs.get(c, 0) != 1:
        bad.append(f"call {c} has {recs.get(c, 0)} records")
    if ends.get(c, 0) != 1:
        bad.append(f"call {c} has {ends.get(c, 0)} end events")
rows = db.execute(
    "SELECT call_id, cause, talk_secs, bill_secs, recording, recording_repaired, "
    "MIN(COALESCE(agent_answer, 9e18), COALESCE(customer_answer, 9e18)), MAX(COALESCE(agent_end, 0), COALESCE(customer_end, 0)) "
    "FROM call_records WHERE tenant_id = ?", (tenant,)).fetchall()

def wav_ok(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    if struct.unpack("<I", data[4:8])[0] != len(data) - 8:
        return False
    i = 12
    while i + 8 <= len(data):
        cid, size = data[i:i + 4], struct.unpack("<I", data[i + 4:i + 8])[0]
        if cid == b"data":
            return i + 8 + size == len(data)
        i += 8 + size + (size & 1)
    return False

downs = [tuple(map(int, l.split())) for l in open(os.path.join(work, "downtime.log")) if l.strip()]
recdir = os.path.join(work, "data", "recordings")
recorded = repaired = crashed = connected = 0
for call_id, cause, talk, bill, rec, rep, talk_from, end in rows:
    crashed += cause == "CRASH"
    connected += talk > 0
    if rec:
        recorded += 1
        repaired += rep
        if not wav_ok(os.path.join(recdir, rec)):
            bad.append(f"call {call_id}: recording {rec} is missing or incomplete (repaired flag {rep})")
    if bill > 0:
        for k, r in downs:
            if talk_from < k and end > k + 2000:
                bad.append(f"call {call_id} talked before the kill at {k} and is billed to {end} ({bill} s): downtime billed")
for d, _, files in os.walk(recdir):
    bad += [f"left unrepaired: {os.path.join(d, f)}" for f in files if f.endswith(".part")]

rss = {}
for l in open(os.path.join(work, "rss.log")):
    inc, t, kb = map(int, l.split())
    rss.setdefault(inc, []).append((t, kb))
rss_lines = []
for inc, samples in sorted(rss.items()):
    span = samples[-1][0] - samples[0][0]
    peak = max(kb for _, kb in samples) / 1024
    kept = [kb for t, kb in samples if t >= 30]
    if span < 50 or len(kept) < 6:
        rss_lines.append(f"  run {inc}: {span} s, peak {peak:.1f} MiB (too short to judge)")
        continue
    third = len(kept) // 3
    first, last = sum(kept[:third]) / third / 1024, sum(kept[-third:]) / third / 1024
    limit = first * (1 + rss_pct / 100) + 8
    ok = last <= limit
    rss_lines.append(f"  run {inc}: {span} s, RSS first third {first:.1f} MiB, last third {last:.1f} MiB "
                     f"(limit {limit:.1f}), peak {peak:.1f} MiB {'ok' if ok else 'GROWING'}")
    if not ok:
        bad.append(f"resident memory grew in run {inc}: {first:.1f} -> {last:.1f} MiB")

api = [l.split() for l in open(os.path.join(work, "api.log")) if len(l.split()) == 3]
served = sum(1 for _, code, _ in api if code.startswith("2"))
down = sum(1 for _, code, _ in api if code == "000")
errors = [f"{p} {code}" for _, code, p in api if code.startswith("5")]
if errors:
    bad.append(f"{len(errors)} API answers were 5xx, e.g. {errors[:3]}")
if stop_status != 0:
    bad.append(f"the graceful stop exited {stop_status}")
if connected == 0 or recorded == 0:
    bad.append("no call connected with a recording: the load did not run")
if kills == 0:
    bad.append("yunhu was never killed")

print(f"soak summary ({work}):")
print(f"  kill -9: {kills}; graceful stop exit {stop_status}")
print(f"  calls {len(calls)}, records {sum(recs.values())}, connected {connected}, cut by a crash {crashed}")
print(f"  recordings {recorded}, repaired and flagged {repaired}")
print(f"  API requests {len(api)}: {served} 2xx, {down} while down, {len(errors)} 5xx")
print("\n".join(rss_lines))
if bad:
    print(f"VIOLATIONS ({len(bad)}):")
    for b in bad[:50]:
        print("  " + b)
    sys.exit(1)
print("  every invariant holds")
EOF
status=$?
[ $status = 0 ] && [ -z "${SOAK_DIR:-}" ] && rm -rf "$work"
exit $status
