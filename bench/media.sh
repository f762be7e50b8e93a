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
# Datagrams the kernel dropped because a socket's receive buffer was full, per local UDP port
# (hex, as /proc/net/udp prints it), sampled every second while the calls run: where the
# packets missing from "received" were lost.
sed -e "s/BENCH_LOOPS/$LOOPS/" bench/media_uac.xml > "$work/uac.xml"
bench_start_yunhu
bench_start_echo_phone $UAS 40000
sleep 0.5
before=$(cpu $yunhu)
bench_watch_udp_drops &
watcher=$!
start=$(date +%s.%N)
(cd "$work" && sipp "127.0.0.1:$YUNHU_SIP" -sf "$work/uac.xml" -s 1001 -r "$RATE" -m "$CALLS" -l "$CALLS" \
   -i 127.0.0.1 -p $UAC -mp 41000 -nostdin -trace_stat -stf "$work/uac.csv" -timeout 900s >/dev/null 2>&1) || true
end=$(date +%s.%N)
sleep 2
after=$(cpu $yunhu)
kill $watcher 2>/dev/null || true
# The highest count each socket reached; yunhu's RTP ports (30000-39999, hex 7530-9C3F) against
# the answering phone's echo socket (sipp -mp 40000, hex 9C40). The carrier's own RTP sockets are
# left out: it only plays its pcap and never reads the echo yunhu relays back to it.
read -r yunhu_drops echo_drops < <(awk '{ if ($2 > max[$1]) max[$1] = $2 }
  END { for (p in max) { if (p "" >= "7530" && p "" <= "9C3F") y += max[p]; else if (p "" == "9C40") e += max[p] }
        print y + 0, e + 0 }' "$work/udp_drops.txt")
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
    -v rec="$recorded" -v sent="$sent" -v recv="$received" -v fwd="$forwarded" -v gap="$gap_ms" \
    -v ydrop="$yunhu_drops" -v edrop="$echo_drops" 'BEGIN {
  cpu = (a - b) / t
  printf "calls answered and completed: %d of %d, recorded: %d\n", ok, calls, rec
  printf "wall %.1f s, yunhu cpu %.2f s, talk %d call-seconds\n", e - s, cpu, talk
  if (talk > 0) printf "cpu per call: %.3f %% of a core (goal <= 0.10 %%; RustPBX 0.19 %%)\n", 100 * cpu / talk
  # The carrier sends `sent` packets; the phone echoes each one it gets, so both legs together
  # should bring yunhu twice that.
  printf "packets received (both legs): %d of %d expected (%.2f %%)\n", recv, 2 * sent, 100 * recv / (2 * sent)
  printf "packets relayed: %d of %d received (%.2f %%)\n", fwd, recv, 100 * fwd / (recv > 0 ? recv : 1)
  printf "dropped at full receive buffers: %d at yunhu (its RTP sockets), %d at the answering phone (its echo socket)\n", ydrop, edrop
  printf "recording gaps: %d ms in total\n", gap
}'
