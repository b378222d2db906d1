# netns_hosts.sh -- fruitstream on four "machines" over TCP: network namespaces joined by
# veth links, each with its own network stack, as separate hosts would be.
#
#   hub (Redis, sink, ventilator) --10.99.1.0/24-- w1 (worker)
#                                 --10.99.2.0/24-- w2 (worker, joins mid-run)
#                                 --10.99.3.0/24-- w3 (worker, killed whole mid-run)
#
# Uploads stream in over ~17 s (stream.lib's list, with keys uploaded twice), from when w1
# and w3 are connected. Mid-run: w2
# joins; w1's link goes down for 4 s and comes back, and w1 must store results again after;
# every process of w3 is killed -9; then w1's link is cut again and w1 sent SIGTERM while
# partitioned, holding tasks: it must exit within 5 s. At the end every key is stored exactly
# once, each host stored results, and w2, connected, exits within 5 s of SIGTERM too.
# Redis listens on a unix socket in $T (the hub's, reachable from the test). Every socket
# across hosts is CURVE-authenticated, as on real machines (`fruitstream keys`). The
# namespaces are removed on any exit. Needs root (ip netns add); skipped, visibly, where that fails.
. tests/integration/lib.sh
. tests/integration/stream.lib

NS=fs$$
HUB=${NS}hub
ns_cleanup() {
    for ns in $HUB ${NS}w1 ${NS}w2 ${NS}w3; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
}
trap 'ns_cleanup; cleanup' EXIT
if ! ip netns add "$HUB" 2>"$T/netns.err"; then
    echo "skip netns_hosts: ip netns add failed ($(head -c 200 "$T/netns.err"); needs root)"
    exit 0
fi
ip -n "$HUB" link set lo up
for i in 1 2 3; do
    ip netns add "${NS}w$i" &&
        ip link add "hub$i" netns "$HUB" type veth peer name "eth$i" netns "${NS}w$i" &&
        ip -n "$HUB" addr add "10.99.$i.1/24" dev "hub$i" && ip -n "$HUB" link set "hub$i" up &&
        ip -n "${NS}w$i" addr add "10.99.$i.2/24" dev "eth$i" &&
        ip -n "${NS}w$i" link set "eth$i" up && ip -n "${NS}w$i" link set lo up ||
        { fail netns_setup "could not make host w$i"; exit 1; }
done
# host_worker N: the worker of host wN, id hN, connected to the hub over its own link.
host_worker() {
    bg "worker-h$1" ip netns exec "${NS}w$1" "$B/fruitstream-worker" \
        --tasks "tcp://10.99.$1.1:5557" --results "tcp://10.99.$1.1:5558" \
        --weights "$WEIGHTS" --id "h$1" --size $S --keys "$T/keys"
    eval "H$1=\$LAST_PID"
}
link() { ip -n "${NS}w$1" link set "eth$1" "$2"; } # link N up|down
stored() { counter stored; }

make_list "$T/list" 60 Banana Kiwi Limes Cocos Lemon Pear Peach
"$B/fruitstream" keys "$T/keys" >/dev/null || { fail netns_keys "fruitstream keys failed"; exit 1; }
REDIS_NETNS=$HUB start_redis || { fail netns_redis "redis-server did not start"; exit 1; }
bg sink ip netns exec "$HUB" "$B/fruitstream-sink" --results "tcp://*:5558" --refresh-seconds 1 \
    --keys "$T/keys"
SINK_PID=$LAST_PID
bg ventilator ip netns exec "$HUB" "$B/fruitstream-ventilator" --tasks "tcp://*:5557" \
    --lease-ms $LEASE --keys "$T/keys"
# w1 reaches the sink on the hub over its link, and not over another host's link
tcp_to() { ip netns exec "${NS}w$1" timeout 2 bash -c ": </dev/tcp/$2/5558" 2>/dev/null; }
if wait_for 5 "ip netns exec ${NS}w1 timeout 2 bash -c ': </dev/tcp/10.99.1.1/5558'" &&
    ! tcp_to 1 10.99.2.1; then
    pass netns_links
else
    fail netns_links "TCP over the veth links: $(ip -n "$HUB" addr | grep 'inet ' | paste -sd' ')"
    exit 1
fi
# hosts_up N...: the first heartbeats of those hosts' workers are in Redis, so they are
# connected. The stream below is timed, and the faults must land while it still flows: a
# worker still loading its weights (slow on a busy machine) would let it run ahead.
hosts_up() {
    keys=""
    for h in "$@"; do keys="$keys fs:worker:h$h"; done
    wait_for 30 "[ \$(redis-cli -s $T/redis.sock exists$keys) = $# ]" ||
        { fail netns_progress "no heartbeat from all of h$*: $(tail -n 2 "$T"/worker-h*.log)"; exit 1; }
}
host_worker 1
host_worker 3
hosts_up 1 3
feed uploader "$T/list" 20 0.75
stored_at_least 40 || { fail netns_progress "nothing stored: $(tail -n 3 "$T"/*.log)"; exit 1; }

host_worker 2 # joins mid-run
hosts_up 2
stored_at_least 100 || { fail netns_progress "stuck at $(stored)"; exit 1; }
link 1 down
sleep 4
link 1 up
h1_at_restore=$(results_by h1)
echo "w1 link restored at stored=$(stored), h1=$h1_at_restore" >&2

stored_at_least $(($(stored) + 30)) ||
    { fail netns_progress "stuck at $(stored) of $KEYS_N after the link came back"; exit 1; }
ip netns pids "${NS}w3" | xargs -r kill -9 # the whole host dies
wait "$H3" 2>/dev/null
echo "w3 killed at stored=$(stored), h3=$(results_by h3)" >&2

# w1 is back at work after its link came back...
if wait_for 20 "[ \$(redis-cli -s $T/redis.sock eval \"\$RESULTS_BY_LUA\" 0 h1) -gt $h1_at_restore ]"; then
    pass netns_partitioned_host_rejoins
else
    fail netns_partitioned_host_rejoins "h1 stored $(results_by h1), $h1_at_restore at restore"
fi
# ...then is cut off again, mid-run, and stopped while partitioned.
link 1 down
sleep 0.5
exits_within netns_partitioned_worker_exits_5s "$H1" 5
echo "w1 stopped partitioned in $STOP_MS ms" >&2

wait_done netns_completes "$T/list" 90 || exit 1
check_once netns_every_key_once "$T/list"
h1=$(results_by h1); h2=$(results_by h2); h3=$(results_by h3)
[ "$h1" -gt 0 ] && [ "$h2" -gt 0 ] && [ "$h3" -gt 0 ] && pass netns_every_host_took_part ||
    fail netns_every_host_took_part "h1=$h1 h2=$h2 h3=$h3"
echo "stored by h1=$h1 h2=$h2 h3=$h3, retried=$(counter retried)" >&2
exits_within netns_connected_worker_exits_5s "$H2" 5
stop_sink_check netns_pca_n
