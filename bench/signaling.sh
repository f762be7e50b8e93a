#!/usr/bin/env bash
# Signaling cost of yunhu against Kamailio, measured in the same run on the same machine.
#
# The same sipp load (a carrier calling extension 1001, answered by a sipp phone, no media) goes
# once through yunhu (B2BUA: two legs, event log, call record) and once through Kamailio as a
# stateful proxy (`-x tlsf`). Prints calls, failures, CPU microseconds per call (user+system
# of the whole process tree), p50/p99 INVITE→200, and yunhu's CPU as a ratio of Kamailio's.
#
#   CALLS=5000 RATE=500 HOLD_MS=0 bench/signaling.sh
set -euo pipefail
CALLS=${CALLS:-2000}
RATE=${RATE:-200}
HOLD_MS=${HOLD_MS:-0}
cd "$(dirname "$0")/.."
root=$(pwd)
YUNHU_SIP=25060 HTTP=25080 KAM=25070 UAC=25071 UAS=25072 REG=25073
. bench/common.sh
bench_prepare sipp:sip-tester kamailio:kamailio

ticks() { # user+system clock ticks of a process and all its descendants
  local total=0 p
  for p in $(pstree -pT "$1" | grep -o '([0-9]*)' | tr -d '()'); do
    [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

load() { # $1 = label, $2 = target port, $3 = pid to measure
  local before after
  sipp -sn uas -i 127.0.0.1 -p $UAS -nostdin >/dev/null 2>&1 &
  local uas=$!
  sleep 0.5
  before=$(ticks "$3")
  (cd "$work" && sipp "127.0.0.1:$2" -sf "$root/bench/uac.xml" -s 1001 -r "$RATE" -m "$CALLS" -d "$HOLD_MS" \
      -i 127.0.0.1 -p $UAC -nostdin -trace_rtt -rtt_freq 1 -trace_stat -stf "$work/$1.csv" \
      -timeout 600s >/dev/null 2>&1) || true
  sleep 1
  after=$(ticks "$3")
  kill $uas 2>/dev/null || true
  wait $uas 2>/dev/null || true
  local stats ok failed
  stats=$(tail -n 1 "$work/$1.csv")
  ok=$(head -n 1 "$work/$1.csv" | tr ';' '\n' | grep -n '^SuccessfulCall(C)$' | cut -d: -f1)
  failed=$(head -n 1 "$work/$1.csv" | tr ';' '\n' | grep -n '^FailedCall(C)$' | cut -d: -f1)
  ok=$(echo "$stats" | cut -d';' -f"$ok")
  failed=$(echo "$stats" | cut -d';' -f"$failed")
  local rtt
  rtt=$(cat "$work"/uac_*_rtt.csv 2>/dev/null | awk -F';' 'NR>1 && $2 ~ /^[0-9.]+$/ {print $2}' | sort -n |
        awk '{a[NR]=$1} END {if (NR==0) {print "n/a n/a"; exit} i=int(NR*0.5)+1; j=int(NR*0.99)+1; if (j>NR) j=NR; print a[i], a[j]}')
  rm -f "$work"/uac_*_rtt.csv
  local us=$(( (after - before) * 1000000 / $(getconf CLK_TCK) / (ok > 0 ? ok : 1) ))
  echo "$1 $ok $failed $us $rtt"
}

bench_start_yunhu
y=$(load yunhu $YUNHU_SIP $yunhu)
kill $yunhu 2>/dev/null || true; wait $yunhu 2>/dev/null || true

sed -e "s/BENCH_KAMAILIO_PORT/$KAM/; s/BENCH_UAS_PORT/$UAS/" bench/kamailio.cfg > "$work/kamailio.cfg"
kamailio -f "$work/kamailio.cfg" -x tlsf -m 1024 -M 16 -DD -E >"$work/kamailio.log" 2>&1 &
kam=$!
sleep 1
k=$(load kamailio $KAM $kam)
kill $kam 2>/dev/null || true; wait $kam 2>/dev/null || true

echo "signaling: $CALLS calls at $RATE/s, held ${HOLD_MS} ms, no media"
printf '%-9s %8s %7s %12s %10s %10s\n' peer ok failed 'cpu us/call' 'p50 ms' 'p99 ms'
for row in "$y" "$k"; do
  # shellcheck disable=SC2086
  printf '%-9s %8s %7s %12s %10s %10s\n' $row
done
yu=$(echo "$y" | cut -d' ' -f4); ku=$(echo "$k" | cut -d' ' -f4)
awk -v a="$yu" -v b="$ku" 'BEGIN { if (b > 0) printf "ratio yunhu/kamailio cpu per call: %.2fx (goal <= 1.5x)\n", a / b }'
