# Shared by the bench scripts: installs what they drive, builds yunhu, and starts it on embedded
# defaults with the example tenants, the carrier (trunk) at 127.0.0.1:$UAC and extension 1001
# registered at the sipp phone on 127.0.0.1:$UAS. Source it after setting those ports.

bench_prepare() { # $@ = command:debian-package pairs (or /path/of/a/file:package)
  local need
  for need in "$@"; do
    command -v "${need%%:*}" >/dev/null || [ -e "${need%%:*}" ] || {
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need##*:}" >/dev/null
    }
  done
  cargo build --release --locked -q -p yunhu
  work=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5' EXIT
  echo "bench: work directory $work"
}

bench_start_yunhu() { # sets $yunhu to its pid; YUNHU_BIN runs another build (an older engine, say)
  # BENCH_PROVISION_SED: a further sed expression for the provisioning file, if a bench needs one.
  sed -e "s/127.0.0.1:5090/127.0.0.1:$UAC/" ${BENCH_PROVISION_SED:+-e "$BENCH_PROVISION_SED"} \
    examples/provision.toml > "$work/provision.toml"
  RUST_LOG=warn "${YUNHU_BIN:-target/release/yunhu}" --data-dir "$work/data" --http-listen "127.0.0.1:$HTTP" \
    --sip-listen "127.0.0.1:$YUNHU_SIP" --rtp-ports 30000-39999 serve --provision "$work/provision.toml" \
    >"$work/yunhu.log" 2>&1 &
  yunhu=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP/yunhu/v1/openapi.json" >/dev/null && break; sleep 0.1; done
  sipp "127.0.0.1:$YUNHU_SIP" -sf tests/sipp/register.xml -m 1 -au 1001 -ap 1001pw -key user 1001 \
    -key domain 777777.yunhu -key contact_port "$UAS" -i 127.0.0.1 -p "$REG" -nostdin >/dev/null 2>&1
}

# Answering phones: sipps echoing every call's RTP on one socket each, started as pairs of SIP
# port and RTP port (`bench_start_echo_phone $UAS 40000 [$GUEST 42000 ...]`). At 500 calls that
# is 25,000 packets a second on one socket, and sipp leaves it at the kernel's default receive
# buffer, where its echo thread falls behind in bursts. The default is raised only while the sipps
# bind, so the RTP sockets of yunhu (or rtpengine), bound later per call, keep the machine's.
bench_start_echo_phone() {
  local rmem=/proc/sys/net/core/rmem_default rmem_was ports=()
  rmem_was=$(cat $rmem)
  echo 4194304 2>/dev/null > $rmem || echo "bench: cannot raise $rmem; the echo sockets keep $rmem_was bytes"
  while [ $# -ge 2 ]; do
    sipp -sf bench/media_uas.xml -i 127.0.0.1 -p "$1" -mp "$2" -rtp_echo -nostdin >/dev/null 2>&1 &
    ports+=("$(printf ':%04X ' "$2")")
    shift 2
  done
  for _ in $(seq 1 50); do
    local all=1 p
    for p in "${ports[@]}"; do grep -q "$p" /proc/net/udp || all=0; done
    [ $all = 1 ] && break
    sleep 0.1
  done
  echo "$rmem_was" 2>/dev/null > $rmem || true
}

# Datagrams dropped at full receive buffers, per local UDP port, once a second into
# $work/udp_drops.txt (run in the background; the highest count per port is what was lost).
bench_watch_udp_drops() {
  while :; do
    awk 'NR > 1 { split($2, a, ":"); if ($NF > 0) print a[2], $NF }' /proc/net/udp
    sleep 1
  done > "$work/udp_drops.txt"
}
