#!/bin/sh
# The sink's online PCA: pca_add throughput, refresh and projection cost, checkpoint cost,
# and the overall rate with a refresh every 10240 vectors, with OpenBLAS on 1 and 2 threads.
# (The sink's target is >= 20,000 vectors/s including its Redis writes.)
exec "${FS_BUILD:-build}/bench/bench_pca"
