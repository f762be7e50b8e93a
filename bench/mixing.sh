#!/usr/bin/env bash
# Cost of a meeting of three against a two-party call, in the same run on the same machine.
#
# Both halves use media.sh's load: CALLS calls from the carrier (sipp playing g711a.pcap LOOPS
# times, at RATE new calls a second) to extension 1001 (sipp echoing its RTP back), recorded.
#  1. two-party: the calls as they are, relayed by yunhu (its plain relay path);
#  2. meetings: each call, once bridged, gets a third party through the admin API
#     (POST .../calls/{id}/meeting {"to": "1002"}; bench/meetings.py), extension 1002 being a
#     second sipp phone that answers at once and echoes its RTP too. yunhu then mixes the three
#     in a room (each party hears the other two) and records the mix. When the carrier hangs up,
#     yunhu keeps the other two talking, so the bench hangs the call up through the API.
# Prints for each half yunhu's CPU per call and per party as a share of one core (CPU of the
# process over the call-seconds talked), packets received and relayed, datagrams the kernel
# dropped at full receive buffers (at yunhu's RTP sockets and at the phones'), recording gaps, and
# the meeting's CPU per call as a ratio of the two-party call's.
#
#   CALLS=100 LOOPS=4 RATE=20 bench/mixing.sh
set -euo pipefail
CALLS=${CALLS:-100}
LOOPS=${LOOPS:-4}
RATE=${RATE:-20}
cd "$(dirname "$0")/.."
YUNHU_SIP=27060 HTTP=27080 UAC=27071 UAS=27072 REG=27073 GUEST=27074 REG2=27075
. bench/common.sh
bench_prepare sipp:sip-tester sqlite3:sqlite3 python3:python3 curl:curl
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sed -e "s/BENCH_LOOPS/$LOOPS/" bench/media_uac.xml > "$work/uac.xml"
# Extension 1002 rings its own phone (the example has it follow the agent to a mobile).
BENCH_PROVISION_SED='s/^  phone_take_along = true/  phone_take_along = false/' bench_start_yunhu
sipp "127.0.0.1:$YUNHU_SIP" -sf tests/sipp/register.xml -m 1 -au 1002 -ap 1002pw -key user 1002 \
  -key domain 777777.yunhu -key contact_port "$GUEST" -i 127.0.0.1 -p "$REG2" -nostdin >/dev/null 2>&1
token=$(cat "$work/data/admin.token")
db="$work/data/yunhu.db"
# The carrier's and the guest's phones.
bench_start_echo_phone $UAS 40000 $GUEST 42000
sleep 0.5

half() { # $1 = label, $2 = 1 for meetings; prints: label cpu_s talk ok recorded received forwarded gap joined ydrop edrop
  local ev0 rec0 before after watcher poller=''
  ev0=$(sqlite3 "$db" "select coalesce(max(id),0) from events")
  rec0=$(sqlite3 "$db" "select coalesce(max(id),0) from call_records")
  before=$(cpu $yunhu)
  bench_watch_udp_drops &
  watcher=$!
  rm -f "$work/stop"
  if [ "$2" = 1 ]; then
    python3 bench/meetings.py "$db" $HTTP "$token" 777777 1002 "$ev0" "$CALLS" "$work/stop" >"$work/meetings.txt" 2>&1 &
    poller=$!
  fi
  (cd "$work" && sipp "127.0.0.1:$YUNHU_SIP" -sf "$work/uac.xml" -s 1001 -r "$RATE" -m "$CALLS" -l "$CALLS" \
     -i 127.0.0.1 -p $UAC -mp 41000 -nostdin -trace_stat -stf "$work/$1.csv" -timeout 900s >/dev/null 2>&1) || true
  if [ -n "$poller" ]; then
    for _ in $(seq 1 100); do kill -0 $poller 2>/dev/null || break; sleep 0.1; done
    touch "$work/stop"; wait $poller || true
  fi
  sleep 2
  after=$(cpu $yunhu)
  kill $watcher 2>/dev/null || true; wait $watcher 2>/dev/null || true
  local drops
  drops=$(awk '{ if ($2 > max[$1]) max[$1] = $2 }
    END { for (p in max) { if (p "" >= "7530" && p "" <= "9C3F") y += max[p]; else if (p "" == "9C40" || p "" == "A410") e += max[p] }
          print y + 0, e + 0 }' "$work/udp_drops.txt")
  echo "$1 $(( after - before )) $(sqlite3 -separator ' ' "$db" "
    select coalesce(sum(talk_secs),0), sum(cause = 'NORMAL_CLEARING' and talk_secs > 0), sum(recording <> '')
      from call_records where id > $rec0;")" \
    "$(sqlite3 -separator ' ' "$db" "
    select coalesce(sum(json_extract(data,'\$.received')),0), coalesce(sum(json_extract(data,'\$.forwarded')),0),
           coalesce(sum(json_extract(data,'\$.gap_ms')),0) from events where id > $ev0 and kind = 'media_stats';")" \
    "$(sqlite3 "$db" "select count(*) from events where id > $ev0 and kind = 'party_joined'")" "$drops"
}

two=$(half two-party 0)
three=$(half meetings 1)
sent=$((CALLS * LOOPS * 236))
echo "mixing: $CALLS calls at $RATE/s, each $LOOPS x 7 s of G.711 from the carrier, recorded; two-party relayed, then meetings of three mixed"
cat "$work/meetings.txt"
awk -v t="$(getconf CLK_TCK)" -v sent="$sent" -v calls="$CALLS" '
  { cpu[NR] = $2 / t; talk[NR] = $3; pct[NR] = $3 > 0 ? 100 * cpu[NR] / $3 : 0; parties = NR == 1 ? 2 : 3
    lab[NR] = $1; row[NR] = sprintf("%-10s %6d/%-4d %8d %9d %9.2f %7d %10.3f %10.3f %10d %10d %8d %8d %6d", $1, $4, calls, $5, $9, cpu[NR], $3,
      pct[NR], pct[NR] / parties, $6, $7, $10, $11, $8) }
  END {
    printf "%-10s %11s %8s %9s %9s %7s %10s %10s %10s %10s %8s %8s %6s\n", "", "completed", "recorded", "joined", "cpu s", "talk s",
      "%core/call", "%core/pty", "received", "relayed", "drop-yh", "drop-ph", "gap ms"
    print row[1]; print row[2]
    printf "the carrier sent %d packets in each half; in the two-party half yunhu should receive twice that (the echo)\n", sent
    if (pct[1] > 0) printf "ratio meeting/two-party cpu per call: %.2fx (goal <= 3x); per party: %.2fx\n", pct[2] / pct[1], (pct[2] / 3) / (pct[1] / 2)
  }' <(echo "$two"; echo "$three")
