# model_hash.sh -- the commands that read the sink's PCA model (fs:pca:model) from a hash
# written by something else: `pca` and `report` read a well-formed one; they, `query` and
# `export` answer a missing, partial or mis-sized one with an error naming the field (export
# then goes on with its own PCA options), never a crash or a guess (`pca` crashed on a hash
# holding only `version`).
. tests/integration/lib.sh
FS=$B/fruitstream
start_redis || { fail model_hash_redis "redis-server did not start"; exit 1; }

# doubles V...: the values as LE float64, on standard output.
doubles() { python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<%dd" % (len(sys.argv) - 1), *map(float, sys.argv[1:])))' "$@"; }
# model_field FIELD V...: a float64 array field of the model.
model_field() { f=$1; shift; doubles "$@" | rcli -x hset fs:pca:model "$f" >/dev/null; }

# A model as pca_store_publish writes one, at dim 4 and k 2.
well_formed() {
    rcli del fs:pca:model >/dev/null
    rcli hset fs:pca:model version 3 n 10 k 2 dim 4 standardize 0 variance_target 0.95 \
        total_variance 2 explained 0.75 updated_ms 1 scale "" >/dev/null
    model_field mean 1 2 3 4
    model_field axes 1 0 0 0 0 1 0 0
    model_field eigenvalues 1 0.5
    model_field ratios 0.5 0.25
}

# expect NAME WANT-STATUS PATTERN CMD...: CMD exits with WANT-STATUS and PATTERN is in what
# it printed (both streams).
expect() {
    name=$1 want=$2 pattern=$3; shift 3
    "$@" >"$T/$name.out" 2>&1
    rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pattern" "$T/$name.out"; then
        pass "$name"
    else
        fail "$name" "exit $rc (want $want), output: $(head -c 300 "$T/$name.out" | tr '\n' ' ')"
    fi
}

expect model_none_pca 1 "no PCA model in fs:pca:model yet" "$FS" pca

well_formed
expect model_pca_reads 0 "^        2  0.250000000000  0.750000000000$" "$FS" pca
grep -qx "variance target: 0.95" "$T/model_pca_reads.out" && grep -qx "k: 2" "$T/model_pca_reads.out" &&
    pass model_pca_fields || fail model_pca_fields "$(tr '\n' ' ' <"$T/model_pca_reads.out")"
expect model_report_reads 0 "report written" "$FS" report --out "$T/good.html"
grep -q "k = 2 components explain 75.00% of the variance" "$T/good.html" &&
    pass model_report_variance || fail model_report_variance "no variance sentence in the report"

# Partial and mis-sized hashes: each names its field.
rcli del fs:pca:model >/dev/null
rcli hset fs:pca:model version 1 >/dev/null
expect model_partial_pca 1 "fs:pca:model is malformed: field n " "$FS" pca
expect model_partial_report 0 "report written" "$FS" report --out "$T/partial.html"
grep -q "fs:pca:model is malformed: field n " "$T/partial.html" &&
    pass model_partial_report_says || fail model_partial_report_says "no reason in the report"
expect model_partial_export 0 "field n .*export chooses k by its own defaults" \
    "$FS" export --features --out "$T/features.csv"

well_formed
rcli hset fs:pca:model k 5 >/dev/null # more axes than dim
expect model_k_above_dim 1 "field k " "$FS" pca
well_formed
rcli hset fs:pca:model n 10x >/dev/null
expect model_n_not_number 1 "field n " "$FS" pca
well_formed
rcli hset fs:pca:model explained nan >/dev/null
expect model_explained_nan 1 "field explained " "$FS" pca
well_formed
printf 'abc' | rcli -x hset fs:pca:model ratios >/dev/null
expect model_ratios_size 1 "field ratios " "$FS" pca

# The projecting view checks its arrays: axes one value short.
well_formed
model_field axes 1 0 0 0 0 1 0
expect model_axes_size 1 "field axes " "$FS" query --weights "$WEIGHTS" \
    "$DATA/Banana/$(ls "$DATA/Banana" | head -n 1)"

# The largest shape the reader allows (k = dim = 65536: 16 GB of axes) with a mean of the
# right size and axes of one value, read with 8 GB of address space: the sizes are checked
# before anything is allocated, so the answer names axes rather than running out of memory.
rcli hset fs:pca:model k 65536 dim 65536 >/dev/null
python3 -c 'import sys; sys.stdout.buffer.write(bytes(8 * 65536))' | rcli -x hset fs:pca:model mean >/dev/null
model_field axes 1
# (AddressSanitizer reserves terabytes of address space for its shadow memory, which such a
# limit refuses.)
if [ -n "${FS_SANITIZED:-}" ]; then
    echo "skip model_huge_shape: a limit on address space and AddressSanitizer do not mix"
else
    expect model_huge_shape 1 "field axes " sh -c 'ulimit -v 8000000 && exec "$@"' sh \
        "$FS" query --weights "$WEIGHTS" \
        "$DATA/Banana/$(ls "$DATA/Banana" | head -n 1)"
fi
