# curve.sh -- CURVE authentication over TCP on loopback (issue 12), as across machines.
# With --keys, every upload is stored exactly once by the authorised workers (one given
# --keys, one FRUITSTREAM_KEYS and --cert), while outsiders get nothing through: a plain
# PULL and a CURVE PULL whose key is not in workers/ connect to the task port for the whole
# run and receive no task (and none is lost to them: nothing is re-sent), a plain PUSH and
# an unauthorised CURVE PUSH send results that are never stored. A ventilator or sink
# bound to a non-loopback address without keys refuses to start, saying why, unless given
# --insecure; a worker whose key is allowed after it started gets in; missing certificates
# are errors naming the file, and so are damaged ones,
# without their content; no log shows a secret key;
# `fruitstream run` with TCP endpoints makes and uses keys of its own.
. tests/integration/lib.sh
unset FRUITSTREAM_KEYS FS_CERT

K=$T/keys
PULL=$B/tests/tools/pull_frames
SEND=$B/tests/tools/send_frames
"$B/fruitstream" keys "$K" >"$T/keys.log" 2>&1 &&
    "$B/fruitstream" keys "$K" --add w2 >>"$T/keys.log" 2>&1 &&
    "$B/fruitstream" keys "$K" --add rogue >>"$T/keys.log" 2>&1 &&
    rm "$K/workers/rogue.cert" || { fail curve_keys "$(cat "$T/keys.log")"; exit 1; }

# refuse_check NAME PATTERN CMD...: CMD exits non-zero within 10 s, saying PATTERN.
refuse_check() {
    name=$1; pattern=$2; shift 2
    timeout 10 "$@" >"$T/$name.log" 2>&1
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qF -- "$pattern" "$T/$name.log"; then
        pass "$name"
    else
        fail "$name" "exit $rc, wanted \"$pattern\": $(tail -n 2 "$T/$name.log")"
    fi
}
P=$(free_port)
refuse_check curve_ventilator_refuses_open_bind "refusing to bind tcp://0.0.0.0:$P without --keys" \
    "$B/fruitstream-ventilator" --tasks "tcp://0.0.0.0:$P" --redis "unix://$T/none.sock"
refuse_check curve_sink_refuses_open_bind "refusing to bind tcp://*:$P without --keys" \
    "$B/fruitstream-sink" --results "tcp://*:$P" --redis "unix://$T/none.sock"
refuse_check curve_worker_names_missing_cert "$T/nokeys/server.cert" \
    "$B/fruitstream-worker" --keys "$T/nokeys" --weights "$WEIGHTS"
# What a worker's machine holds: no server secret, so it cannot pose as the sink.
mkdir -p "$T/workerside/workers"
cp "$K/server.cert" "$K/worker.cert" "$K/worker.cert_secret" "$T/workerside/"
refuse_check curve_sink_names_missing_secret "$T/workerside/server.cert_secret" \
    "$B/fruitstream-sink" --keys "$T/workerside" --results "tcp://127.0.0.1:$P" \
    --redis "unix://$T/none.sock"
# A damaged secret file: CZMQ's parser printed the line it choked on, the secret key
# itself, to stdout (`E (zconfig): ... invalid syntax '?= "<secret>"'`). The error names
# the file, and the output does not show the key.
cp -r "$T/workerside" "$T/damaged"
sed -i 's/secret-key = /secret-key ?= /' "$T/damaged/worker.cert_secret"
refuse_check curve_damaged_secret_named "$T/damaged/worker.cert_secret is not a CURVE certificate" \
    "$B/fruitstream-worker" --keys "$T/damaged" --weights "$WEIGHTS"
key=$(sed -n 's/.*secret-key = "\(.*\)"/\1/p' "$K/worker.cert_secret")
if [ ${#key} -eq 40 ] && ! grep -qF -- "$key" "$T/curve_damaged_secret_named.log" &&
    ! grep -q zconfig "$T/curve_damaged_secret_named.log"; then
    pass curve_damaged_secret_not_printed
else
    fail curve_damaged_secret_not_printed "$(grep -h zconfig "$T/curve_damaged_secret_named.log" | sed 's/"[^"]*"/"<redacted>"/g' | head -n 1)"
fi

start_redis || { fail curve_redis "redis-server did not start"; exit 1; }

# --insecure: both start on 0.0.0.0 (on a Redis database of their own) and listen.
for role in ventilator sink; do
    P=$(free_port)
    flag=--tasks; [ $role = sink ] && flag=--results
    bg "insecure-$role" "$B/fruitstream-$role" $flag "tcp://0.0.0.0:$P" --insecure \
        --redis "unix://$T/redis.sock?db=1"
    if wait_for 10 "ss -ltn | grep -q '0.0.0.0:$P '"; then
        pass "curve_${role}_insecure_starts"
    else
        fail "curve_${role}_insecure_starts" "not listening on $P: $(tail -n 2 "$T/insecure-$role.log")"
    fi
    kill -9 "$LAST_PID"
done

TASKS=tcp://127.0.0.1:$(free_port)
RESULTS=tcp://127.0.0.1:$(free_port)
[ "$TASKS" = "$RESULTS" ] && RESULTS=tcp://127.0.0.1:$(free_port)
bg sink "$B/fruitstream-sink" --results "$RESULTS" --keys "$K"
bg ventilator "$B/fruitstream-ventilator" --tasks "$TASKS" --keys "$K" --lease-ms 2000

# Outsiders, connected before any worker and for the whole run.
bg pull-plain "$PULL" "$TASKS"
PULL_PLAIN=$LAST_PID
bg pull-rogue env FRUITSTREAM_KEYS="$K" FS_CERT=rogue "$PULL" "$TASKS"
PULL_ROGUE=$LAST_PID
bg push-plain "$SEND" "$RESULTS" connect result:forged-plain
bg push-rogue env FRUITSTREAM_KEYS="$K" FS_CERT=rogue "$SEND" "$RESULTS" connect result:forged-rogue

bg worker-w1 "$B/fruitstream-worker" --tasks "$TASKS" --results "$RESULTS" --keys "$K" \
    --weights "$WEIGHTS" --id w1 --size 100
bg worker-w2 env FRUITSTREAM_KEYS="$K" "$B/fruitstream-worker" --tasks "$TASKS" \
    --results "$RESULTS" --cert w2 --weights "$WEIGHTS" --id w2 --size 100
if wait_for 20 "[ \$(redis-cli -s $T/redis.sock exists fs:worker:w1 fs:worker:w2) = 2 ]"; then
    pass curve_authorised_workers_reach_sink
else
    fail curve_authorised_workers_reach_sink "no heartbeats: $(tail -n 2 "$T"/worker-w*.log)"
fi

ls "$DATA/Kiwi"/*.jpg | head -n 60 >"$T/list"
N=$(wc -l <"$T/list")
tr '\n' '\0' <"$T/list" | xargs -0 "$B/fruitstream" upload >"$T/upload.log" 2>&1
if wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = $N ]" &&
    [ "$(rcli --scan --pattern 'fs:image:*' | wc -l)" -eq "$N" ] &&
    [ "$(counter duplicates)" -eq 0 ] && [ "$(counter failed)" -eq 0 ] &&
    [ "$(rcli xlen fs:uploads)" -eq 0 ]; then
    pass curve_every_upload_stored_once
else
    fail curve_every_upload_stored_once "N=$N stored=$(counter stored) failed=$(counter failed) duplicates=$(counter duplicates) $(tail -n 2 "$T/upload.log")"
fi
w1=$(results_by w1)
w2=$(results_by w2)
[ "$w1" -gt 0 ] && [ "$w2" -gt 0 ] && pass curve_both_identities_work ||
    fail curve_both_identities_work "w1=$w1 w2=$w2"

plain=$(grep -c '^frame' "$T/pull-plain.log")
rogue=$(grep -c '^frame' "$T/pull-rogue.log")
if kill -0 "$PULL_PLAIN" "$PULL_ROGUE" && [ "$plain" = 0 ] && [ "$rogue" = 0 ] &&
    [ "$(counter retried)" -eq 0 ]; then
    pass curve_outsiders_receive_no_task
else
    fail curve_outsiders_receive_no_task "plain PULL got '$plain', unauthorised CURVE PULL got '$rogue', retried=$(counter retried)"
fi
forged=$(rcli exists fs:image:forged-plain fs:image:forged-rogue)
if [ "$forged" -eq 0 ] && [ "$(counter stored)" -eq "$N" ] && [ "$(counter malformed)" -eq 0 ]; then
    pass curve_outsiders_store_nothing
else
    fail curve_outsiders_store_nothing "forged results stored: $forged, stored=$(counter stored) of $N"
fi

# A worker whose key is allowed only after it started: both servers refuse its handshake,
# after which ZeroMQ does not connect again by itself; the worker makes its sockets anew
# (after 1 s, then 2, 4, ...) and gets in once its certificate is in workers/: its heartbeat
# reaches the sink. (Before, it stayed out until restarted.)
"$B/fruitstream" keys "$K" --add late >>"$T/keys.log" 2>&1 && mv "$K/workers/late.cert" "$T/"
bg worker-w3 "$B/fruitstream-worker" --tasks "$TASKS" --results "$RESULTS" --keys "$K" \
    --cert late --weights "$WEIGHTS" --id w3 --size 100
sleep 2
early=$(rcli exists fs:worker:w3)
mv "$T/late.cert" "$K/workers/"
if [ "$early" = 0 ] && wait_for 20 "[ \$(redis-cli -s $T/redis.sock exists fs:worker:w3) = 1 ]" &&
    grep -q "dropped the task connection" "$T/worker-w3.log" &&
    grep -q "dropped the result connection" "$T/worker-w3.log"; then
    pass curve_worker_allowed_later_gets_in
else
    fail curve_worker_allowed_later_gets_in "heartbeat before allowed: $early, after: $(rcli exists fs:worker:w3); $(tail -n 2 "$T/worker-w3.log")"
fi

# fruitstream run with TCP endpoints: keys made in its data dir, used by every role.
mkdir -p "$T/in/Kiwi"
head -n 12 "$T/list" | while read -r f; do
    ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$T/in/Kiwi/"
done
env -u REDIS_URL timeout 120 "$B/fruitstream" run --tasks "tcp://127.0.0.1:$(free_port)" \
    --results "tcp://127.0.0.1:$(free_port)" --data-dir "$T/run" --workers 1 --size 100 \
    --weights "$WEIGHTS" "$T/in" >"$T/run.out" 2>"$T/run.log"
rc=$?
if [ $rc -eq 0 ] && grep -q '^images: 12$' "$T/run.out" &&
    [ "$(stat -c %a "$T/run/keys/server.cert_secret")" = 600 ] &&
    [ "$(grep -c 'CURVE on' "$T/run.log")" -ge 3 ]; then
    pass curve_run_makes_and_uses_keys
else
    fail curve_run_makes_and_uses_keys "exit $rc: $(head -n 1 "$T/run.out") $(grep -c 'CURVE on' "$T/run.log") roles with CURVE; $(tail -n 2 "$T/run.log")"
fi

# No secret key in any output: the secret files' keys never appear in a log.
leaked=""
checked=0
for s in "$K"/*.cert_secret "$T"/run/keys/*.cert_secret; do
    key=$(sed -n 's/.*secret-key = "\(.*\)"/\1/p' "$s")
    [ ${#key} -eq 40 ] && checked=$((checked + 1))
    grep -lF -- "$key" "$T"/*.log "$T"/*.out >/dev/null 2>&1 && leaked="$leaked $s"
done
[ -z "$leaked" ] && [ $checked -eq 7 ] && pass curve_no_secret_in_logs ||
    fail curve_no_secret_in_logs "printed:$leaked (checked $checked of 7 keys)"
