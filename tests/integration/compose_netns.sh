# compose_netns.sh -- docker/compose.yaml's services run as Compose would run them, without
# Docker: each service's command, environment (after Compose's interpolation) and
# healthcheck come from the file (tests/tools/deploy_check.py compose-sh), files of this
# checkout it mounts are read in place, and the services run in one
# network namespace of the test's own, where the service names resolve (ip netns exec
# mounts /etc/netns/NAME/hosts over /etc/hosts) and the fixed ports are free. Two workers,
# each with a hostname of its own (a UTS namespace), stand for `--scale worker=2`.
#
# Checks: Redis has deploy/redis.conf's settings and memory in huge pages, the pipeline the file describes stores every upload, both workers take part,
# every healthcheck passes, and a worker's turns unhealthy once the sink is gone. Not
# emulated: the image itself (its user, its /weights mount: the weights are given by
# FRUITSTREAM_WEIGHTS here) and Redis's image (Debian's redis-server runs the command).
. tests/integration/lib.sh

NS=fscompose$$
HOSTS_DIR=/etc/netns/$NS
[ -d /etc/netns ] && MADE_ETC_NETNS= || MADE_ETC_NETNS=1
ns_cleanup() {
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$HOSTS_DIR"
    [ -n "$MADE_ETC_NETNS" ] && rmdir /etc/netns 2>/dev/null
}
trap 'ns_cleanup; cleanup' EXIT
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "skip compose_netns: python3 with PyYAML not installed (Debian package python3-yaml)"
    exit 0
fi
if ! ip netns add "$NS" 2>"$T/netns.err"; then
    echo "skip compose_netns: ip netns add failed ($(head -c 200 "$T/netns.err"); needs root)"
    exit 0
fi
ip -n "$NS" link set lo up
mkdir -p "$HOSTS_DIR"
printf '127.0.0.1 localhost redis sink ventilator\n' >"$HOSTS_DIR/hosts"

export WORKER_THREADS=1
eval "$(python3 tests/tools/deploy_check.py compose-sh docker/compose.yaml)"
BIN=$(cd "$B" && pwd)
# A file of this checkout mounted into a service (redis's deploy/redis.conf) is read where it
# is: its path in the container becomes its path here, in the service's command.
for s in redis sink ventilator worker; do
    eval "binds=\$BINDS_$s cmd=\$CMD_$s"
    for b in $binds; do cmd=$(printf '%s' "$cmd" | sed "s|${b#*:}|${b%%:*}|g"); done
    eval "CMD_$s=\$cmd"
done
# The keys service's command, with its volume at $T/keys.
KEYS_CMD=$(printf '%s' "$CMD_keys" | sed "s|/keys|$T/keys|g")
PATH=$BIN:$PATH sh -c "$KEYS_CMD" >"$T/keys.log" 2>&1 && [ -f "$T/keys/server.cert" ] ||
    { fail compose_keys "the keys service failed: $(tail -n 2 "$T/keys.log")"; exit 1; }
for s in sink ventilator worker; do
    eval "ENV_$s=\"\$ENV_$s FRUITSTREAM_KEYS=$T/keys\""
done
ABS_WEIGHTS=$(cd "$(dirname "$WEIGHTS")" && pwd)/$(basename "$WEIGHTS")
# in_service HOSTNAME ENV CMD: CMD run in the namespace as in the service's container
in_service() {
    exec ip netns exec "$NS" unshare --uts sh -c "hostname $1 && cd $T && export PATH=$BIN:\$PATH \
        FRUITSTREAM_WEIGHTS=$ABS_WEIGHTS $2 && exec $3"
}
# service NAME HOSTNAME: starts the service's command; $LAST_PID
service() {
    eval "env=\$ENV_$1 cmd=\$CMD_$1"
    bg "$2" in_service "$2" "$env" "$cmd"
}
# healthy NAME PID: the service's healthcheck, run in that process's namespaces
healthy() {
    eval "env=\$ENV_$1 check=\$HEALTH_$1"
    nsenter --target "$2" --net --uts --mount sh -c "export PATH=$BIN:\$PATH $env && $check" \
        >/dev/null 2>&1
}

service redis redis; REDIS=$LAST_PID
wait_for 10 "nsenter --target $REDIS --net redis-cli ping" ||
    { fail compose_redis "redis did not start: $(tail -n 3 "$T/redis.log")"; exit 1; }
rcli() { nsenter --target "$REDIS" --net redis-cli "$@"; }
[ "$(rcli config get stream-node-max-entries | sed -n 2p)" = 16 ] &&
    [ "$(rcli config get hash-max-listpack-value | sed -n 2p)" = 8192 ] &&
    pass compose_redis_has_deploy_settings ||
    fail compose_redis_has_deploy_settings "$(rcli config get '*-max-*' | paste -sd' ' | head -c 200)"
why=$(huge_pages_skip)
if [ -n "$why" ]; then
    echo "skip compose_redis_huge_pages: $why"
else
    huge_kb=$(redis_huge_kb "$REDIS" rcli)
    [ "${huge_kb:-0}" -ge 2048 ] && pass compose_redis_huge_pages ||
        fail compose_redis_huge_pages "Redis (pid $REDIS) has ${huge_kb:-no} kB in huge pages"
fi
service sink sink; SINK=$LAST_PID
service ventilator ventilator; VENT=$LAST_PID
service worker worker-1; W1=$LAST_PID
service worker worker-2; W2=$LAST_PID
sleep 1 # every service started, connected and sent a heartbeat

# uploads as `docker compose run cli fruitstream upload` would
mkdir -p "$T/up"
for c in Kiwi Lemon; do ls "$DATA/$c"/*.jpg | head -n 60; done >"$T/list"
N=$(wc -l <"$T/list")
tr '\n' '\0' <"$T/list" | ip netns exec "$NS" env $ENV_cli xargs -0 "$BIN/fruitstream" upload \
    >"$T/upload.log" 2>&1 || { fail compose_upload "$(tail -n 3 "$T/upload.log")"; exit 1; }
STORED="nsenter --target $REDIS --net redis-cli hget fs:counters stored"
if wait_for 60 "[ \"\$($STORED)\" = $N ]"; then
    pass compose_pipeline_stores_every_upload
else
    fail compose_pipeline_stores_every_upload \
        "stored $($STORED) of $N: $(tail -n 2 "$T"/worker-1.log)"
fi
w1=$(results_by worker-1)
[ "$w1" -gt 0 ] && [ "$w1" -lt "$N" ] && pass compose_scaled_workers_both_work ||
    fail compose_scaled_workers_both_work "worker-1 stored $w1 of $N"

bad=""
for s in redis:$REDIS sink:$SINK ventilator:$VENT worker:$W1 worker:$W2; do
    healthy "${s%%:*}" "${s#*:}" || bad="$bad ${s%%:*}(${s#*:})"
done
[ -z "$bad" ] && pass compose_healthchecks_pass || fail compose_healthchecks_pass "unhealthy:$bad"

# the worker's healthcheck reads its heartbeat: with the sink gone it fails within seconds
kill -TERM "$SINK"; wait "$SINK"
IN_W1="nsenter --target $W1 --net --uts --mount"
if wait_for 10 "! $IN_W1 sh -c 'export $ENV_worker && $HEALTH_worker'"; then
    pass compose_worker_unhealthy_without_sink
else
    fail compose_worker_unhealthy_without_sink "still healthy 10 s after the sink stopped"
fi
healthy sink "$W1" && fail compose_sink_check_can_fail "healthy with the sink stopped" ||
    pass compose_sink_check_can_fail
