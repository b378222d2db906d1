# faults_redis.sh -- restart redis-server mid-stream, once killed with SIGKILL and once
# stopped with SIGTERM, on the same socket and data directory (append-only file, fsync on
# every write). Every role reconnects by itself and the uploader retries; every key is
# stored exactly once and nothing acknowledged is lost.
. tests/integration/lib.sh
. tests/integration/stream.lib

make_list "$T/list" 90 Banana Kiwi Limes Cocos Lemon Pear Peach
start_redis || { fail redis_start "redis-server did not start"; exit 1; }
start_sink --refresh-seconds 0.5
start_ventilator --lease-ms $LEASE
start_worker w1 --size $S
start_worker w2 --size $S
head -n 300 "$T/list" | tr '\n' '\0' | xargs -0 "$B/fruitstream" upload 2>/dev/null
tail -n +301 "$T/list" >"$T/rest"
feed uploader "$T/rest" 30 0.3
restarted=0
for how in KILL TERM; do
    at=$([ $how = KILL ] && echo 60 || echo 330)
    stored_at_least $at || { fail redis_progress "stored stuck at $(counter stored)"; exit 1; }
    kill -$how "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
    PIDS="$PIDS $REDIS_PID"
    sleep 1
    if start_redis; then
        restarted=$((restarted + 1))
    else
        fail redis_restart "redis-server did not start again after SIG$how: $(tail -n 3 "$T/redis.log")"
        exit 1
    fi
done
[ $restarted = 2 ] && pass redis_restarted_twice
wait_done redis_restart_completes "$T/list" 60 || exit 1
check_once redis_restart_every_key_once "$T/list"
# each role noticed and reconnected
r_ok=1
for role in sink ventilator; do
    grep -q "reconnected to Redis" "$T/$role.log" || r_ok=0
done
[ $r_ok = 1 ] && pass redis_restart_roles_reconnected ||
    fail redis_restart_roles_reconnected "$(grep -h -i redis "$T/sink.log" "$T/ventilator.log" | tail -n 4)"
stop_sink_check redis_restart_pca_n
