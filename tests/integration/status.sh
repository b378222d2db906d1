# status.sh -- the sink's once-a-second samples in fs:metrics and `fruitstream status`:
# samples appear with every field, count the live workers and the latency, and stay capped
# near --metrics-length; `status --watch` on a terminal (tmux) shows workers joining and
# leaving; without a terminal it prints plain snapshots; `--json` parses and agrees with
# Redis; Redis unreachable is a non-zero exit.
. tests/integration/lib.sh
S=100
FS=$B/fruitstream
LENGTH=8
NODE=4 # stream-node-max-entries: MAXLEN ~ trims whole nodes, so this bounds the overshoot
TMUX_SOCK=$T/tmux.sock
trap 'tmux -S "$TMUX_SOCK" kill-server 2>/dev/null; cleanup' EXIT

start_redis --stream-node-max-entries $NODE || { fail status_redis "redis-server did not start"; exit 1; }
start_sink --metrics-length $LENGTH
start_ventilator
ls "$DATA"/Banana/*.jpg | head -n 40 >"$T/first"
ls "$DATA"/Kiwi/*.jpg | head -n 40 >"$T/second"

# Unreachable Redis: an error, and a non-zero exit.
if "$FS" status --redis "unix://$T/nobody.sock" >"$T/unreachable.out" 2>&1; then
    fail status_unreachable_exits_nonzero "exit 0: $(head -c 200 "$T/unreachable.out")"
else
    pass status_unreachable_exits_nonzero
fi

tmux -S "$TMUX_SOCK" new-session -d -x 160 -y 40 "$FS status --watch; sleep 30"
screen() { tmux -S "$TMUX_SOCK" capture-pane -p; }
start_worker w1 --size $S; W1=$LAST_PID
tr '\n' '\0' <"$T/first" | xargs -0 "$FS" upload 2>/dev/null
if wait_for 20 "tmux -S $TMUX_SOCK capture-pane -p | grep -Eq '^ +w1 +[^ ]+ +(avx512|avx2|neon|portable) '" &&
    wait_for 20 "tmux -S $TMUX_SOCK capture-pane -p | grep -q 'stored 40 '"; then
    pass status_watch_shows_worker
else
    fail status_watch_shows_worker "$(screen | head -n 12)"
fi
start_worker w2 --size $S; W2=$LAST_PID
# Upload once w2's first heartbeat is in Redis (it follows its connect): a w2 still loading
# its weights would leave all 40 to w1, and status_json checks that both did some.
wait_for 20 "[ \$(redis-cli -s $T/redis.sock exists fs:worker:w2) -eq 1 ]" ||
    fail status_worker_w2_heartbeat "no fs:worker:w2 after 20 s"
tr '\n' '\0' <"$T/second" | xargs -0 "$FS" upload 2>/dev/null
if wait_for 20 "tmux -S $TMUX_SOCK capture-pane -p | grep -q 'workers: 2 live'" &&
    screen | grep -Eq '^ +w2 '; then
    pass status_watch_worker_joins
else
    fail status_watch_worker_joins "$(screen | head -n 12)"
fi
stored_ok=$(wait_for 30 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) -eq 80 ]" && echo y)

# Samples while two workers are live: every field, the worker count, latencies measured.
sleep 1.5
last=$(rcli --raw xrevrange fs:metrics + - count 1 | paste -sd' ')
fields_ok=y
for f in uploaded stored failed backlog in_flight rate workers p50_ms p99_ms; do
    echo " $last " | grep -q " $f " || fields_ok="missing $f"
done
max_workers=$(rcli --raw xrange fs:metrics - + | awk 'prev == "workers" && $1 > m { m = $1 } { prev = $1 } END { print m + 0 }')
max_p99=$(rcli --raw xrange fs:metrics - + | awk 'prev == "p99_ms" && $1 > m { m = $1 } { prev = $1 } END { print m + 0 }')
if [ "$stored_ok" = y ] && [ "$fields_ok" = y ] && echo " $last " | grep -q " stored 80 " &&
    [ "$max_workers" -eq 2 ] && [ "$max_p99" -gt 0 ]; then
    pass status_metrics_samples
else
    fail status_metrics_samples "stored=$(counter stored) fields=$fields_ok max workers=$max_workers max p99=$max_p99 last: $last"
fi

# --json: one object, parsed, agreeing with Redis; a key under the worker prefix that is
# not a heartbeat hash (anyone with Redis access can make one) is skipped, not fatal.
rcli set fs:worker:stray not-a-hash >/dev/null
"$FS" status --json >"$T/status.json"
rcli del fs:worker:stray >/dev/null
if python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
c = s["counters"]
assert c["stored"] == 80 and c["uploaded"] == 80 and c["failed"] == 0, c
for k in ("backlog", "in_flight", "rate", "p50_ms", "p99_ms", "eta_s"): assert k in c, k
ids = sorted(w["id"] for w in s["workers"])
assert ids == ["w1", "w2"], ids
for w in s["workers"]:
    assert w["isa"] in ("avx512", "avx2", "neon", "portable"), w
    assert w["host"] and w["done"] > 0 and w["failed"] == 0 and 0 <= w["last_seen_s"] < 5, w
    for k in ("rate", "pid", "seen_ms"): assert k in w, k
assert sum(w["done"] for w in s["workers"]) == 80
' "$T/status.json" 2>"$T/json.err"; then
    pass status_json
else
    fail status_json "$(tail -n 1 "$T/json.err") $(head -c 400 "$T/status.json")"
fi

# A worker leaves: its row goes once its heartbeat expires.
kill -TERM $W2; wait $W2
if wait_for 12 "tmux -S $TMUX_SOCK capture-pane -p | grep -q 'workers: 1 live'" &&
    ! screen | grep -Eq '^ +w2 ' && screen | grep -Eq '^ +w1 '; then
    pass status_watch_worker_leaves
else
    fail status_watch_worker_leaves "$(screen | head -n 12)"
fi

# Not a terminal: plain snapshots one after another, no escape codes.
timeout -s INT 2.5 "$FS" status --watch >"$T/plain.out" 2>&1
snapshots=$(grep -c '^fruitstream status at ' "$T/plain.out")
if [ "$snapshots" -ge 2 ] && ! grep -q "$(printf '\033')" "$T/plain.out"; then
    pass status_watch_plain_lines
else
    fail status_watch_plain_lines "$snapshots snapshots: $(head -c 300 "$T/plain.out")"
fi

# Capped: after more than LENGTH seconds, about LENGTH samples (MAXLEN ~ trims whole nodes).
wait_for 15 "[ \$(redis-cli -s $T/redis.sock xlen fs:metrics) -ge $LENGTH ]"
sleep $((NODE + 1))
len=$(rcli xlen fs:metrics)
if [ "$len" -ge "$LENGTH" ] && [ "$len" -lt $((LENGTH + NODE)) ]; then
    pass status_metrics_capped
else
    fail status_metrics_capped "xlen fs:metrics = $len, cap ~$LENGTH (node $NODE)"
fi
echo "metrics: max p99 $max_p99 ms, $len samples" >&2
