#!/bin/sh
# Bench section: how much of the machine the pipeline turns into features (issue 3's ratio).
#
#   FS_BUILD=build SHARED=../shared sh bench/section_40_pipeline.sh
#
# Each round runs, back to back: the single-thread featurizer rate (bench_featurizer
# --size S); one featurizer per core at once on one copy of the weights, as the worker's
# threads run, with no plumbing ("side by side"); `fruitstream run` on the Test split with
# one worker per core and its private Redis; the single-thread rate again. The ratio is the
# pipeline's images/s over (workers x the mean of the two single-thread rates): measuring
# before and after brackets the drift of a shared machine's speed. Target >= 0.9. The
# side-by-side ratio is the ceiling with no plumbing at all (cores that share a power budget
# and a cache lose some speed when all are busy); pipeline / side by side is what the
# plumbing leaves of it. The run's cpu line says where the time went: workers (ms/image)
# and the plumbing (sink, ventilator, Redis) as a share of all CPU used. "worker slower"
# compares a pipeline worker's CPU per image (its ZeroMQ I/O thread included) with a
# side-by-side featurizer's time per image: what sharing the cores with the plumbing costs
# the workers beyond the plumbing's own CPU. "CURVE on" is one more `fruitstream run` right
# after, with --keys (every task and result authenticated and encrypted), and its images/s
# over the plain run's.
# FS_BENCH_PIPELINE_DIR sets the folder, FS_BENCH_PIPELINE_ROUNDS the number of rounds
# (default 2).
set -eu
B=${FS_BUILD:-build}
SHARED=${SHARED:-../shared}
DIR=${FS_BENCH_PIPELINE_DIR:-$SHARED/data/fruits-360/Test}
ROUNDS=${FS_BENCH_PIPELINE_ROUNDS:-2}
S=224
WORKERS=$(getconf _NPROCESSORS_ONLN)
T=$(mktemp -d /tmp/fs-bench-pipeline.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$B/fruitstream" keys "$T/keys" >/dev/null

# The images/s of T featurizer threads at once (default 1), one copy of the weights.
single() {
    "$B/bench/bench_featurizer" --images 200 --size $S --threads "${1:-1}" |
        sed -n 's/.* images_per_s=\([0-9.]*\) .*/\1/p'
}

# pipeline SUMMARY [options]: one `fruitstream run` over DIR, its summary into SUMMARY.
pipeline() {
    out=$1; shift
    rm -rf "$T/data"
    "$B/fruitstream" run --workers "$WORKERS" --size $S --data-dir "$T/data" \
        --weights "$SHARED/models/mobilenet_v2/model.safetensors" "$@" "$DIR" >"$out" 2>"$T/log"
}

# value KEY FILE: the number after "KEY: " or "KEY " in the run's summary.
value() { sed -n "s|.*$1:\{0,1\} \([0-9.]*\).*|\1|p" "$2" | head -n 1; }

printf '%-5s %8s %14s %9s %8s %8s %8s %11s %14s %9s %9s   %s\n' round single "side by side" \
    pipeline single ratio ceiling "pipe/side" "worker slower" "CURVE on" "on/off" \
    "cpu s: workers (ms/image) sink ventilator redis; plumbing"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    before=$(single)
    side=$(single "$WORKERS")
    pipeline "$T/summary"
    after=$(single)
    pipeline "$T/summary.curve" --keys "$T/keys"
    curve=$(value images/s "$T/summary.curve")
    rate=$(value images/s "$T/summary")
    cpu=$(sed -n 's/^cpu seconds: //p' "$T/summary")
    workers=$(value workers "$T/summary")
    worker_ms=$(echo "$cpu" | sed -n 's|.*(\([0-9.]*\) ms/image).*|\1|p')
    plumbing=$(echo "$cpu" | awk -F', ' '{ for (i = 2; i <= NF; i++) { n = split($i, f, " "); s += f[n] } print s }')
    awk -v r="$round" -v b="$before" -v a="$after" -v p="$rate" -v n="$WORKERS" -v sd="$side" \
        -v cpu="$cpu" -v w="$workers" -v pl="$plumbing" -v wms="$worker_ms" -v c="$curve" 'BEGIN {
        one = (b + a) / 2
        printf "%-5s %8s %14s %9s %8s %8.3f %8.3f %11.3f %13.1f%% %9s %9.3f   %s; %.1f%%\n", r,
            b, sd, p, a, p / (n * one), sd / (n * one), p / sd, 100 * (wms / (1000 * n / sd) - 1),
            c, c / p, cpu, 100 * pl / (w + pl) }'
    round=$((round + 1))
done
echo "S=$S, $WORKERS workers. ratio = pipeline / ($WORKERS x mean single), target >= 0.9;" \
    "ceiling = side by side / ($WORKERS x mean single)."
