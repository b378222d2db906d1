#!/bin/sh
# `fruitstream query`'s search: latency over 22,688 (the Test split) and 1,000,000 synthetic
# stored projections of k = 212 (k at 95% variance on the Test split), one query and in
# blocks of 64; then, when a `fruitstream run` data directory holds a stored Test split
# (FS_BENCH_QUERY_DATA, default fruitstream-data), the leave-one-out accuracy of the
# 5-nearest vote over it, each image against all the others.
B=${FS_BUILD:-build}
for rows in ${FS_BENCH_QUERY_ROWS:-22688 1000000}; do
    "$B/bench/bench_query" synthetic "$rows" || exit 1
done
DIR=${FS_BENCH_QUERY_DATA:-fruitstream-data}
if [ ! -d "$DIR" ]; then
    echo "skip leave-one-out: no data directory $DIR (make run first)"
    exit 0
fi
# bench_query finds the directory's Redis as `fruitstream query` does: the one a `serve` or
# `run` keeps there, else one of its own, never a second server over the same files.
"$B/bench/bench_query" loo "$DIR" 5
