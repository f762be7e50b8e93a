#!/usr/bin/env bash
# Signaling cost of yunhu against Kamailio, measured in the same run on the same machine.
#
# The same sipp load (a carrier calling extension 1001, answered by a sipp phone, no media) goes
# through yunhu (B2BUA: two legs, event log, call record) and through two Kamailios:
#  - bare: a stateful proxy (kamailio.cfg, `-x tlsf -m 1024`), as lean as Kamailio gets;
#  - fair: the same proxy keeping what a call center keeps of a call (kamailio_fair.cfg): dialog
#    state, one CDR per call written by `acc` to SQLite, and topology hiding (`topos`) with its
#    records in the same SQLite file (WAL mode). Kamailio 5.6's db_sqlite sets no busy timeout and
#    has no parameter for one (db_set_busy_timeout came with 6.0): without one, 2,000 calls at
#    1000/s left 219 CDRs and 10,320 "database is locked" errors. The bench builds
#    bench/sqlite_busy.c and preloads it into Kamailio, which sets a 5 s busy timeout on each
#    connection db_sqlite opens, and the run checks that every completed call left its CDR.
#    KAM_SQLITE_SYNC (default NORMAL: a commit reaches the WAL without waiting for the disk, as
#    yunhu's progress events do) is set as PRAGMA synchronous on each connection; FULL, SQLite's
#    own default, makes Kamailio wait for the disk on every statement and costs it about twice
#    the CPU; empty leaves SQLite's default.
# Prints for each: calls ok/failed, CPU microseconds per call (user+system of the whole process
# tree), p50/p99 INVITE→200, and yunhu's CPU per call as a ratio of each Kamailio's. RATES runs
# the three at each rate in turn and then compares yunhu's cost per call between the first and
# the last rate.
#
#   CALLS=2000 RATES="200 1000" bench/signaling.sh
#   CALLS=5000 RATE=500 HOLD_MS=0 bench/signaling.sh
set -euo pipefail
CALLS=${CALLS:-2000}
RATE=${RATE:-200}
RATES=${RATES:-$RATE}
HOLD_MS=${HOLD_MS:-0}
KAM_SQLITE_SYNC=${KAM_SQLITE_SYNC-NORMAL}
cd "$(dirname "$0")/.."
root=$(pwd)
YUNHU_SIP=25060 HTTP=25080 KAM=25070 UAC=25071 UAS=25072 REG=25073
. bench/common.sh
bench_prepare sipp:sip-tester kamailio:kamailio sqlite3:sqlite3 gcc:gcc pstree:psmisc \
  /usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so:kamailio-sqlite-modules
gcc -shared -fPIC -O2 -o "$work/sqlite_busy.so" bench/sqlite_busy.c -ldl
kamdb=/usr/share/kamailio/db_sqlite

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

fair_db() { # a fresh SQLite file with Kamailio's own schema for acc and topos, in WAL mode
  rm -f "$work"/kamailio.db*
  { cat $kamdb/standard-create.sql $kamdb/acc-create.sql $kamdb/topos-create.sql
    echo "ALTER TABLE acc_cdrs ADD COLUMN callid VARCHAR(255) DEFAULT '' NOT NULL;"
    echo "ALTER TABLE acc_cdrs ADD COLUMN src VARCHAR(255) DEFAULT '' NOT NULL;"
    echo "ALTER TABLE acc_cdrs ADD COLUMN dst VARCHAR(255) DEFAULT '' NOT NULL;"
    echo "PRAGMA journal_mode=WAL;"
  } | sqlite3 "$work/kamailio.db" >/dev/null
}

row() { printf '%-15s %8s %7s %12s %10s %10s %8s\n' "$@"; }
first_us='' last_us=''
for RATE in $RATES; do
  bench_start_yunhu
  y=$(load yunhu-$RATE $YUNHU_SIP $yunhu)
  kill $yunhu 2>/dev/null || true; wait $yunhu 2>/dev/null || true

  sed -e "s/BENCH_KAMAILIO_PORT/$KAM/; s/BENCH_UAS_PORT/$UAS/" bench/kamailio.cfg > "$work/kamailio.cfg"
  kamailio -f "$work/kamailio.cfg" -x tlsf -m 1024 -M 16 -DD -E >"$work/kamailio-$RATE.log" 2>&1 &
  kam=$!
  sleep 1
  k=$(load bare-$RATE $KAM $kam)
  kill $kam 2>/dev/null || true; wait $kam 2>/dev/null || true

  fair_db
  sed -e "s/BENCH_KAMAILIO_PORT/$KAM/; s/BENCH_UAS_PORT/$UAS/; s|BENCH_DB|$work/kamailio.db|g" bench/kamailio_fair.cfg \
    > "$work/kamailio_fair.cfg"
  BENCH_SQLITE_SYNC=$KAM_SQLITE_SYNC LD_PRELOAD="$work/sqlite_busy.so" \
    kamailio -f "$work/kamailio_fair.cfg" -x tlsf -m 1024 -M 16 -DD -E >"$work/kamailio-fair-$RATE.log" 2>&1 &
  kam=$!
  sleep 1
  f=$(load fair-$RATE $KAM $kam)
  kill $kam 2>/dev/null || true; wait $kam 2>/dev/null || true
  cdrs=$(sqlite3 "$work/kamailio.db" "select count(*) from acc_cdrs")
  locked=$(grep -c 'database is locked' "$work/kamailio-fair-$RATE.log" || true)

  echo "signaling: $CALLS calls at $RATE/s, held ${HOLD_MS} ms, no media"
  row peer ok failed 'cpu us/call' 'p50 ms' 'p99 ms' records
  # shellcheck disable=SC2086
  row yunhu ${y#* } -
  row kamailio-bare ${k#* } -
  row kamailio-fair ${f#* } "$cdrs"
  echo "(records: the fair Kamailio's CDRs in acc_cdrs; its log has $locked 'database is locked' errors)"
  yu=$(echo "$y" | cut -d' ' -f4); ku=$(echo "$k" | cut -d' ' -f4); fu=$(echo "$f" | cut -d' ' -f4)
  awk -v y="$yu" -v k="$ku" -v f="$fu" -v r="$RATE" -v yrow="$y" 'BEGIN {
    split(yrow, a, " ")
    printf "yunhu: %s failed, p99 %s ms: %s (goal 0 failed and p99 < 50 ms)\n", a[3], a[6], (a[3] == 0 && a[6] < 50) ? "met" : "not met"
    if (f > 0) printf "ratio yunhu/kamailio-fair cpu per call: %.2fx (goal <= 0.5x at 200/s)\n", y / f
    if (k > 0) printf "ratio yunhu/kamailio-bare cpu per call: %.2fx (goal <= 2.5x)\n", y / k
  }'
  [ -n "$first_us" ] || first_us=$yu
  last_us=$yu
  echo
done
set -- $RATES
if [ $# -gt 1 ]; then
  awk -v a="$first_us" -v b="$last_us" -v r1="$1" -v r2="${!#}" 'BEGIN { if (b > 0)
    printf "yunhu cpu per call at %s/s against %s/s: %.2fx (goal <= 1.3x)\n", r1, r2, a / b }'
fi
