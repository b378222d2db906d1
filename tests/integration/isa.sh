# isa.sh -- a mixed fleet: one worker per kernel path this CPU runs (FRUITSTREAM_ISA), all in
# one stream. Each reports its path in its heartbeat (fs:worker:<id> isa), each takes part,
# every key is stored once, and the features of one image agree across paths within the
# reference tolerance. A path the CPU lacks is skipped, visibly; a path that does not exist
# stops the worker at start with an error naming the variable.
. tests/integration/lib.sh
. tests/integration/stream.lib

runs() { # ISA: true when this machine can run that path
    FRUITSTREAM_ISA=$1 "$B/fruitstream" featurize --size 32 "$T/none.jpg" 2>&1 |
        grep -qv FRUITSTREAM_ISA
}

PATHS=""
for isa in portable avx2 avx512 neon; do
    if runs $isa; then
        PATHS="$PATHS $isa"
    elif [ "$isa" != neon ] || [ "$(uname -m)" = aarch64 ]; then
        echo "skip isa_worker_$isa: this CPU cannot run $isa"
    fi
done

FRUITSTREAM_ISA=bogus "$B/fruitstream-worker" --weights "$WEIGHTS" >"$T/bogus.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "FRUITSTREAM_ISA=bogus" "$T/bogus.log"; then
    pass isa_unknown_path_refused
else
    fail isa_unknown_path_refused "exit $rc: $(head -c 300 "$T/bogus.log")"
fi

make_list "$T/list" 20 Banana Kiwi Limes Cocos Lemon Pear
start_redis || { fail isa_redis "redis-server did not start"; exit 1; }
start_sink
start_ventilator --lease-ms $LEASE
for isa in $PATHS; do
    export FRUITSTREAM_ISA=$isa
    start_worker "w-$isa" --size $S
done
unset FRUITSTREAM_ISA
for isa in $PATHS; do
    if wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:worker:w-$isa isa)\" = $isa ]" &&
        grep -q "$isa kernels" "$T/worker-w-$isa.log"; then
        pass "isa_worker_${isa}_reports_its_path"
    else
        fail "isa_worker_${isa}_reports_its_path" "heartbeat isa=$(rcli hget "fs:worker:w-$isa" isa); $(head -n 2 "$T/worker-w-$isa.log")"
    fi
done
feed uploader "$T/list" 20 0.2
wait_done isa_mixed_fleet_completes "$T/list" 60 || exit 1
check_once isa_every_key_once "$T/list"
missing=""
for isa in $PATHS; do
    [ "$(results_by "w-$isa")" -gt 0 ] || missing="$missing $isa"
done
[ -z "$missing" ] && pass isa_every_path_takes_part || fail isa_every_path_takes_part "no results from:$missing"

# One image through every path: features within the reference tolerance of each other.
img=$(head -n 1 "$T/list")
for isa in $PATHS; do
    FRUITSTREAM_ISA=$isa "$B/fruitstream" featurize --size $S --weights "$WEIGHTS" "$img" |
        cut -f2 | tr ' ' '\n' >"$T/f-$isa"
done
worst=$(for isa in $PATHS; do paste "$T/f-portable" "$T/f-$isa"; done |
    awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%g", m + 0 }')
n=$(wc -l <"$T/f-portable")
if [ "$n" -eq 1280 ] && awk -v w="$worst" 'BEGIN { exit !(w <= 1e-3) }'; then
    pass isa_paths_agree
else
    fail isa_paths_agree "$n values, worst difference $worst"
fi
