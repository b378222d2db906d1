#!/bin/sh
# The sink's online PCA: pca_add throughput on each instruction set this CPU runs (the
# rank-k update's, with its share of the set's single-precision FMA peak measured in the same
# run; FRUITSTREAM_ISA picks one), refresh and projection cost, checkpoint
# cost, and the overall rate with a refresh every 10240 vectors, with OpenBLAS on 1 and 2
# threads; then, per set, merge plus batched projection against the sink's target of
# >= 20,000 vectors/s (the whole sink, with its Redis writes, is section 25). Rates are
# given per second of wall time and per second of CPU time, which a shared machine does not
# move.
exec "${FS_BUILD:-build}/bench/bench_pca"
