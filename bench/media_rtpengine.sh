#!/usr/bin/env bash
# Media cost of yunhu against rtpengine, in the same run on the same machine.
#
# First bench/media.sh as it is: CALLS calls from the carrier (sipp playing g711a.pcap LOOPS
# times) to extension 1001 (sipp echoing the RTP back), relayed AND recorded by yunhu. Then the
# same sipp load with rtpengine (Debian's rtpengine-daemon, userspace forwarding: --table=-1, no
# kernel module) relaying only: bench/ng_proxy.py relays the SIP between the two sipps and drives
# rtpengine over its ng control protocol (offer on INVITE, answer on the 200, delete on BYE),
# so every RTP packet goes through rtpengine both ways. Prints CPU per call as a share of one core
# for each (CPU of the whole process over the call-seconds talked), packets received against what
# the load sent, and yunhu's CPU per call as a ratio of rtpengine's. yunhu's figure also carries
# its signaling, event log and call record (about 10-13 ms per call, see README); rtpengine's
# carries only its ng commands, the SIP relay being a separate process that is not counted.
#
#   CALLS=500 LOOPS=2 RATE=50 bench/media_rtpengine.sh
set -euo pipefail
export CALLS=${CALLS:-500}
export LOOPS=${LOOPS:-2}
export RATE=${RATE:-50}
cd "$(dirname "$0")/.."
root=$(pwd)
UAC=28071 UAS=28072 PROXY=28060 NG=28223
. bench/common.sh

echo "== yunhu (bench/media.sh) =="
bench/media.sh | tee /tmp/media_rtpengine.$$.yunhu
yunhu_pct=$(sed -n 's/^cpu per call: \([0-9.]*\) %.*/\1/p' /tmp/media_rtpengine.$$.yunhu)
yunhu_recv=$(sed -n 's/^packets received (both legs): \([0-9]*\) of.*/\1/p' /tmp/media_rtpengine.$$.yunhu)
rm -f /tmp/media_rtpengine.$$.yunhu

echo "== rtpengine =="
bench_prepare sipp:sip-tester rtpengine:rtpengine-daemon python3:python3
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sed -e "s/BENCH_LOOPS/$LOOPS/" bench/media_uac.xml > "$work/uac.xml"
rtpengine --config-file=none --foreground --log-stderr --log-level=4 --table=-1 --interface=127.0.0.1 \
  --listen-ng=127.0.0.1:$NG --port-min=30000 --port-max=39999 --timeout=60 --delete-delay=0 \
  >"$work/rtpengine.log" 2>&1 &
rtp=$!
python3 bench/ng_proxy.py $PROXY $UAC $UAS $NG "$work/calls.txt" 2>"$work/ng_proxy.log" &
bench_start_echo_phone $UAS 40000
sleep 1
kill -0 $rtp || { cat "$work/rtpengine.log"; exit 1; }
before=$(cpu $rtp)
bench_watch_udp_drops &
watcher=$!
(cd "$work" && sipp "127.0.0.1:$PROXY" -sf "$work/uac.xml" -s 1001 -r "$RATE" -m "$CALLS" -l "$CALLS" \
   -i 127.0.0.1 -p $UAC -mp 41000 -nostdin -trace_stat -stf "$work/uac.csv" -timeout 900s >/dev/null 2>&1) || true
sleep 2
after=$(cpu $rtp)
kill $watcher 2>/dev/null || true
read -r rtp_drops echo_drops < <(awk '{ if ($2 > max[$1]) max[$1] = $2 }
  END { for (p in max) { if (p "" >= "7530" && p "" <= "9C3F") y += max[p]; else if (p "" == "9C40") e += max[p] }
        print y + 0, e + 0 }' "$work/udp_drops.txt")
ok=$(head -n 1 "$work/uac.csv" | tr ';' '\n' | grep -n '^SuccessfulCall(C)$' | cut -d: -f1)
ok=$(tail -n 1 "$work/uac.csv" | cut -d';' -f"$ok")
sent=$((CALLS * LOOPS * 236))
echo "rtpengine: $CALLS calls (up to $CALLS at once), each $LOOPS x 7 s of G.711 both ways, relayed only"
awk -v b="$before" -v a="$after" -v t="$(getconf CLK_TCK)" -v ok="$ok" -v calls="$CALLS" -v sent="$sent" \
    -v rdrop="$rtp_drops" -v edrop="$echo_drops" -v ypct="$yunhu_pct" -v yrecv="$yunhu_recv" '
  { talk += $3 - $2; recv += $4; n++ }
  END {
    cpu = (a - b) / t
    printf "calls completed: %d of %d (%d deleted through ng)\n", ok, calls, n
    printf "rtpengine cpu %.2f s, talk %d call-seconds\n", cpu, talk
    pct = talk > 0 ? 100 * cpu / talk : 0
    printf "cpu per call: %.3f %% of a core\n", pct
    printf "packets received (both legs): %d of %d expected (%.2f %%)\n", recv, 2 * sent, 100 * recv / (2 * sent)
    printf "dropped at full receive buffers: %d at rtpengine (its RTP sockets), %d at the answering phone (its echo socket)\n", rdrop, edrop
    print ""
    printf "%-30s %14s %12s %10s\n", "", "cpu/call %core", "received", "lost"
    printf "%-30s %14.3f %12d %10d\n", "yunhu (relay + record)", ypct, yrecv, 2 * sent - yrecv
    printf "%-30s %14.3f %12d %10d\n", "rtpengine (relay, userspace)", pct, recv, 2 * sent - recv
    if (pct > 0) printf "ratio yunhu/rtpengine cpu per call: %.2fx (goal <= 1.5x)\n", ypct / pct
  }' "$work/calls.txt"
