#!/bin/sh
# Bench section: the featurizer against PyTorch, single thread, same images, same run.
#
#   FS_BUILD=build SHARED=../shared sh bench/section_10_featurizer.sh
#
# Runs build/bench/bench_featurizer (ours: decode + resize + network, sgemm peak, max RSS)
# and bench/torch_featurizer.py (PyTorch 1.13 + PIL, with /usr/bin/python3, which has torch;
# the pyenv python3 on PATH does not), then prints one table. FS_BENCH_IMAGES sets the
# number of images (default 200). Targets: >= 1.8x PyTorch's images/s, RSS < 100 MB; a
# miss is reported, not an error (figures depend on the machine and its load).
set -eu
BUILD="${FS_BUILD:-build}"
N="${FS_BENCH_IMAGES:-200}"
PY=/usr/bin/python3

ours=$("$BUILD/bench/bench_featurizer" --images "$N")
torch=$("$PY" bench/torch_featurizer.py --images "$N")

# field TEXT TAG SIZE KEY: the value of KEY on the line starting with TAG (and size=SIZE).
field() {
    printf '%s\n' "$1" | awk -v tag="$2" -v size="$3" -v key="$4" '
        $1 == tag && (size == "" || index($0, " size=" size " ")) {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] }
        }'
}

printf '%s\n' "$ours" "$torch" | sed 's/^/  /'
echo
printf '%-5s %12s %12s %7s   %14s %14s %7s   %10s\n' size "ours img/s" "torch img/s" ratio \
    "ours net img/s" "torch net" ratio "sgemm peak"
for s in 224 100; do
    o=$(field "$ours" ours "$s" images_per_s)
    t=$(field "$torch" torch "$s" images_per_s)
    on=$(field "$ours" ours "$s" net_images_per_s)
    tn=$(field "$torch" torch "$s" net_images_per_s)
    share=$(field "$ours" network "$s" peak_share)
    ratio=$(awk -v a="$o" -v b="$t" 'BEGIN { printf "%.2f", a / b }')
    nratio=$(awk -v a="$on" -v b="$tn" 'BEGIN { printf "%.2f", a / b }')
    pct=$(awk -v a="$share" 'BEGIN { printf "%.0f%%", a * 100 }')
    printf '%-5s %12s %12s %6sx   %14s %14s %6sx   %10s\n' "$s" "$o" "$t" "$ratio" "$on" "$tn" \
        "$nratio" "$pct"
    awk -v r="$ratio" 'BEGIN { exit !(r >= 1.8) }' || echo "  S=$s: below the 1.8x target"
done
rss=$(field "$ours" worker "" max_rss_mb)
echo "sgemm peak (OpenBLAS, 1 thread, 1024^3): $(field "$ours" sgemm "" peak_gflops) GFlop/s;" \
    "network share of it = network flops / network time / peak (ours may exceed it: AVX-512)"
echo "worker max RSS after $N images at S=224 and S=100: $rss MB (target < 100 MB)"
awk -v r="$rss" 'BEGIN { exit !(r < 100) }' || echo "  above the 100 MB target"
