#!/usr/bin/env bash
# Media cost of yunhu: CALLS concurrent G.711 calls relayed and recorded, each held for LOOPS × 7 s
# of speech from the carrier side (sipp's g711a.pcap) that the answering phone echoes back
# (sipp -rtp_echo), so RTP flows both ways through yunhu. Prints CPU per call as a share of one
# core, packets delivered against what sipp sent, relayed packets, and recording gaps.
#
#   CALLS=100 LOOPS=8 bench/media.sh
set -euo pipefail
CALLS=${CALLS:-100}
LOOPS=${LOOPS:-8}
RATE=${RATE:-20}
cd "$(dirname "$0")/.."
YUNHU_SIP=26060 HTTP=26080 UAC=26071 UAS=26072 REG=26073
. bench/common.sh
bench_prepare sipp:sip-tester sqlite3:sqlite3
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sed -e "s/BENCH_LOOPS/$LOOPS/" bench/media_uac.xml > "$work/uac.xml"
bench_start_yunhu
sipp -sf bench/media_uas.xml -i 127.0.0.1 -p $UAS -mp 40000 -rtp_echo -nostdin >/dev/null 2>&1 &
sleep 0.5
before=$(cpu $yunhu)
start=$(date +%s.%N)
(cd "$work" && sipp "127.0.0.1:$YUNHU_SIP" -sf "$work/uac.xml" -s 1001 -r "$RATE" -m "$CALLS" -l "$CALLS" \
   -i 127.0.0.1 -p $UAC -mp 41000 -nostdin -trace_stat -stf "$work/uac.csv" -timeout 900s >/dev/null 2>&1) || true
end=$(date +%s.%N)
sleep 2
after=$(cpu $yunhu)
db="$work/data/yunhu.db"
ok=$(sqlite3 "$db" "select count(*) from call_records where cause = 'NORMAL_CLEARING' and talk_secs > 0")
read -r received forwarded gap_ms < <(sqlite3 -separator ' ' "$db" \
  "select coalesce(sum(json_extract(data,'\$.received')),0), coalesce(sum(json_extract(data,'\$.forwarded')),0), coalesce(sum(json_extract(data,'\$.gap_ms')),0) from events where kind = 'media_stats'")
talk=$(sqlite3 "$db" "select coalesce(sum(talk_secs),0) from call_records")
recorded=$(sqlite3 "$db" "select count(*) from call_records where recording <> ''")
sent=$((CALLS * LOOPS * 236))
tck=$(getconf CLK_TCK)
echo "media: $CALLS calls (up to $CALLS at once), each $LOOPS x 7 s of G.711 both ways, relayed and recorded"
awk -v b="$before" -v a="$after" -v t="$tck" -v talk="$talk" -v s="$start" -v e="$end" -v ok="$ok" -v calls="$CALLS" \
    -v rec="$recorded" -v sent="$sent" -v recv="$received" -v fwd="$forwarded" -v gap="$gap_ms" 'BEGIN {
  cpu = (a - b) / t
  printf "calls answered and completed: %d of %d, recorded: %d\n", ok, calls, rec
  printf "wall %.1f s, yunhu cpu %.2f s, talk %d call-seconds\n", e - s, cpu, talk
  if (talk > 0) printf "cpu per call: %.3f %% of a core (goal <= 0.10 %%; RustPBX 0.19 %%)\n", 100 * cpu / talk
  # The carrier sends `sent` packets; the phone echoes each one it gets, so both legs together
  # should bring yunhu twice that.
  printf "packets received (both legs): %d of %d expected (%.2f %%)\n", recv, 2 * sent, 100 * recv / (2 * sent)
  printf "packets relayed: %d of %d received (%.2f %%)\n", fwd, recv, 100 * fwd / (recv > 0 ? recv : 1)
  printf "recording gaps: %d ms in total\n", gap
}'
