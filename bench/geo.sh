#!/usr/bin/env bash
# 号码归属地 lookups: yunhu's generated table against libphonenumber's own Python geocoder on the
# same 100,000 random Chinese numbers (mobiles and landlines). Prints ns per lookup and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
python3 -c "import phonenumbers" 2>/dev/null || pip install -q phonenumbers
work=$(mktemp -d)
python3 - "$N" > "$work/numbers.txt" <<'PY'
import random, sys
random.seed(7)
prefixes = ["13", "15", "18", "17", "19"]
for _ in range(int(sys.argv[1])):
    if random.random() < 0.8:
        print(random.choice(prefixes) + "".join(random.choice("0123456789") for _ in range(9)))
    else:
        print("0" + random.choice(["10", "21", "755", "571", "28", "991"]) + "".join(random.choice("0123456789") for _ in range(8)))
PY
cargo build --release --locked -q -p yunhu-core --example geo_lookup
read -r ours ours_found < <(target/release/examples/geo_lookup < "$work/numbers.txt")
read -r peer peer_found < <(python3 - "$work/numbers.txt" <<'PY'
import sys, time, phonenumbers
from phonenumbers import geocoder
nums = [l.strip() for l in open(sys.argv[1])]
def parse(n):
    try:
        return phonenumbers.parse(n, "CN")
    except phonenumbers.NumberParseException:
        return None
parsed = [p for p in map(parse, nums) if p is not None]
start = time.perf_counter()
found = sum(1 for p in parsed if geocoder.description_for_number(p, "zh") not in ("", "中国"))
print(f"{(time.perf_counter() - start) * 1e9 / max(len(parsed), 1):.0f} {found}")
PY
)
echo "geo: $N numbers; yunhu $ours ns/lookup ($ours_found found), libphonenumber (Python, pre-parsed) $peer ns/lookup ($peer_found found)"
awk -v a="$ours" -v b="$peer" 'BEGIN { printf "ratio yunhu/libphonenumber time per lookup: %.3fx\n", a / b }'
