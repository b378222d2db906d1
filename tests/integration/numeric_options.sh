# numeric_options.sh -- issue 12, finding 8: numeric options read whole and in range by
# every program. Each bad value below used to run as something else (224x as 224, 1e6 as 1,
# 99999999999 wrapped, abc as 0); now the program refuses at once, with status 2 and an
# error naming the option and the value, and starts nothing. Good values with units work.
. tests/integration/lib.sh

start_redis || { fail options_redis "redis-server did not start"; exit 1; }
bad=""
# refused OPTION VALUE CMD...: CMD exits 2 within 5 s, stderr names OPTION and VALUE.
refused() {
    opt=$1 val=$2; shift 2
    timeout 5 "$@" >/dev/null 2>"$T/err"; rc=$?
    grep -q -F -- "$opt" "$T/err" && grep -q -F -- "$val" "$T/err" && [ $rc -eq 2 ] ||
        bad="$bad [$* -> rc=$rc: $(head -c 160 "$T/err")]"
}
V="$B/fruitstream-ventilator --tasks ipc://$T/tasks"
S="$B/fruitstream-sink --results ipc://$T/results"
W="$B/fruitstream-worker --tasks ipc://$T/tasks --results ipc://$T/results --weights $WEIGHTS"
refused --size 224x $W --size 224x
refused --max-pixels 1e6 $W --max-pixels 1e6
refused --threads 0 $W --threads 0
refused --task-buffer -1 $W --task-buffer -1
refused --max-in-flight 99999999999 $V --max-in-flight 99999999999
refused --lease-ms 5s $V --lease-ms 5s
refused --max-image-bytes 64MB $V --max-image-bytes 64MB
refused --tasks-per-message "" $V --tasks-per-message ""
refused --k abc $S --k abc
refused --k 1281 $S --k 1281
refused --variance 1.5 $S --variance 1.5
refused --batch 4096 $S --batch 4096
refused --standardize "takes no value" $S --standardize=1
refused --help "takes no value" $W --help=1
refused --id "longer than 127 bytes" $W --id "$(head -c 200 /dev/zero | tr '\0' a)"
refused --refresh-seconds nan $S --refresh-seconds nan
refused --gather-ms 2.5 $S --gather-ms 2.5
refused --refresh-min-seconds -1 $S --refresh-min-seconds -1
refused --workers 2x "$B/fruitstream" run --workers 2x "$T"
refused --size 99999999999999999999 "$B/fruitstream" run --size 99999999999999999999 "$T"
refused --size 0 "$B/fruitstream" featurize --size 0 "$T/none.jpg"
refused --variance 0 "$B/fruitstream" export --variance 0
[ -z "$bad" ] && pass options_bad_numbers_refused_naming_option || fail options_bad_numbers_refused_naming_option "$bad"

# An endpoint too long for `run` is refused, not cut to 127 bytes (another endpoint).
long=$(head -c 150 /dev/zero | tr '\0' a)
timeout 20 "$B/fruitstream" run --data-dir "$T/run" --tasks "ipc://$T/$long" "$DATA/Kiwi" \
    >/dev/null 2>"$T/long.err"
rc=$?
if [ $rc = 1 ] && grep -q -- "--tasks: an endpoint of more than 127 bytes" "$T/long.err" &&
    [ ! -e "$T/run" ]; then
    pass options_run_long_endpoint_refused
else
    fail options_run_long_endpoint_refused "exit $rc: $(tail -n 1 "$T/long.err")"
fi

# Nothing started: no consumer group was made, no counter written.
[ "$(rcli exists fs:uploads fs:counters)" = 0 ] && pass options_refusal_starts_nothing ||
    fail options_refusal_starts_nothing "keys: $(rcli keys 'fs:*' | paste -sd' ')"

# Units and plain values still work: a ventilator with 16M and 8K runs.
bg ventilator "$B/fruitstream-ventilator" --tasks "ipc://$T/tasks" --max-image-bytes 16M \
    --task-buffer 8K --max-in-flight 8 --lease-ms 1500
if wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock exists fs:uploads)\" = 1 ]" && kill -0 $LAST_PID; then
    pass options_units_accepted
else
    fail options_units_accepted "$(tail -n 2 "$T/ventilator.log")"
fi
