# lib.sh -- shared by the integration tests: real processes, real sockets, cleaned up.
#
# Sourcing it makes a private temp dir ($T), starts nothing yet, and arranges for every
# process started with `bg NAME CMD...` (and Redis) to be killed on exit. Tests report with
# pass NAME / fail NAME WHY, the lines tests/run.sh counts.
set -u
B=${FS_BUILD:-build}
SHARED=${SHARED:-../shared}
WEIGHTS=$SHARED/models/mobilenet_v2/model.safetensors
DATA=$SHARED/data/fruits-360/Test
T=$(mktemp -d /tmp/fs-test.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    [ -n "${REDIS_PID:-}" ] && kill -9 "$REDIS_PID" 2>/dev/null
    wait 2>/dev/null
    keep_sanitizer_reports
    rm -rf "$T"
}
# Under the sanitizers (tests/run.sh's second pass, which sets FS_SANITIZER_LOG), UBSan's
# reports are kept for the runner: built into ASan's runtime, UBSan writes to standard error
# whatever log_path says, and the programs' standard error is a log in $T.
keep_sanitizer_reports() {
    [ -n "${FS_SANITIZER_LOG:-}" ] || return 0
    grep -rlE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$T" 2>/dev/null |
        while read -r f; do cp "$f" "$FS_SANITIZER_LOG/report.$(basename "$f").$$"; done
}
trap cleanup EXIT
# A signal (Ctrl-C, a closed pipe when the output goes to `head`) exits through the EXIT trap
# too: dash does not run it on death by signal, which left servers running.
trap 'exit 1' INT TERM HUP PIPE
# (Not `kill -9 ${REDIS_PID:-0}`: pid 0 is the whole process group, the caller's shell too.)
[ -n "${FS_KEEP_TEST_DIR:-}" ] && trap "for p in \$PIDS \${REDIS_PID:-}; do kill -9 \$p 2>/dev/null; done" EXIT

pass() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

# bg NAME CMD... : starts CMD in the background, logs to $T/NAME.log, sets $LAST_PID.
bg() {
    name=$1; shift
    "$@" >"$T/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS="$PIDS $LAST_PID"
}

# start_redis [extra redis-server options]: a private server on a unix socket in $T (in the
# network namespace $REDIS_NETNS when set: a unix socket reaches across namespaces).
start_redis() {
    ${REDIS_NETNS:+ip netns exec $REDIS_NETNS} redis-server --port 0 --unixsocket "$T/redis.sock" --dir "$T" --save "" \
        --appendonly yes --appendfsync always --loglevel warning "$@" >"$T/redis.log" 2>&1 &
    REDIS_PID=$!
    export REDIS_URL="unix://$T/redis.sock"
    wait_for 10 "redis-cli -s $T/redis.sock ping"
}

rcli() { redis-cli -s "$T/redis.sock" "$@"; }

# huge_pages_skip: why no Redis here can take transparent huge pages; nothing when one can.
huge_pages_skip() {
    thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
    if [ -z "$thp" ] || [ "${thp#*\[never\]}" != "$thp" ]; then
        echo "this kernel gives no transparent huge pages"
    elif ! redis-server --version | grep -q malloc=jemalloc; then
        echo "this redis-server does not use jemalloc"
    fi
}
# redis_huge_kb PID CLI...: the kB of Redis PID's memory in huge pages while it holds a 24 MB
# value, written and then deleted by the redis-cli command line CLI...
redis_huge_kb() {
    pid=$1
    shift
    head -c 24000000 /dev/zero | tr '\0' x | "$@" -x set fs:test:big >/dev/null
    awk '/^AnonHugePages:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null
    "$@" del fs:test:big >/dev/null
}

# wait_for SECONDS CMD: true once CMD succeeds, false if it never does in time.
wait_for() {
    limit=$(($1 * 10)); shift
    i=0
    while [ $i -lt $limit ]; do
        sh -c "$*" >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

counter() { v=$(rcli hget fs:counters "$1"); echo "${v:-0}"; }

# results_by WORKER: how many stored results that worker made, in one EVAL (exported for
# `wait_for` commands). A redis-cli per key took minutes on a busy machine, long enough for
# a timed test to miss what it waited for; test databases are small, so KEYS is fine here.
export RESULTS_BY_LUA="local n = 0
for _, k in ipairs(redis.call('KEYS', 'fs:image:*')) do
  if redis.call('HGET', k, 'worker') == ARGV[1] then n = n + 1 end
end
return n"
results_by() { rcli eval "$RESULTS_BY_LUA" 0 "$1"; }

# free_port: a TCP port nobody listens on (checked with ss), below the kernel's range of
# ephemeral ports (ip_local_port_range, 32768 by default), so that no outgoing connection
# of this or another test can be holding it by the time a program binds it.
free_port() {
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$low" -gt 12000 ] 2>/dev/null || low=32768
    while :; do
        p=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % (low - 10000)))
        ss -ltn | grep -q ":$p " || { echo "$p"; return; }
    done
}

# tcp_endpoints: $TASKS and $RESULTS, two distinct loopback TCP endpoints nobody listens on.
tcp_endpoints() {
    TASKS=tcp://127.0.0.1:$(free_port)
    RESULTS=tcp://127.0.0.1:$(free_port)
    [ "$TASKS" = "$RESULTS" ] && RESULTS=tcp://127.0.0.1:$(free_port)
}

# class_dir DIR CLASS...: DIR links to these Fruits-360 classes (folder labels); $N images.
class_dir() {
    dir=$1; shift
    mkdir -p "$dir"
    for c in "$@"; do ln -s "$(cd "$DATA" && pwd)/$c" "$dir/$c"; done
    N=$(find -L "$dir" -name '*.jpg' | wc -l)
}

# exits_within NAME PID SECONDS: signals PID with SIGTERM, then passes if it exits with
# status 0 within SECONDS (it is killed if not); $STOP_MS holds the time it took.
exits_within() {
    start=$(date +%s%N); STOP_MS=never
    kill -TERM "$2"
    i=0
    while kill -0 "$2" 2>/dev/null && [ $i -lt $(($3 * 20)) ]; do sleep 0.05; i=$((i + 1)); done
    if kill -0 "$2" 2>/dev/null; then
        kill -9 "$2"; wait "$2" 2>/dev/null
        fail "$1" "still running $3 s after SIGTERM"
        return 1
    fi
    wait "$2"; rc=$?
    STOP_MS=$((($(date +%s%N) - start) / 1000000))
    [ $rc -eq 0 ] && pass "$1" || fail "$1" "exit status $rc after ${STOP_MS} ms"
}

# the standard roles on ipc sockets in $T
start_sink() { bg sink "$B/fruitstream-sink" --results "ipc://$T/results" "$@"; SINK_PID=$LAST_PID; }
start_ventilator() {
    bg ventilator "$B/fruitstream-ventilator" --tasks "ipc://$T/tasks" "$@"
    VENT_PID=$LAST_PID
}
start_worker() { # ID [options]
    id=$1; shift
    bg "worker-$id" "$B/fruitstream-worker" --tasks "ipc://$T/tasks" --results "ipc://$T/results" \
        --weights "$WEIGHTS" --id "$id" "$@"
}

# deliver_uploads: what the ventilator does on reading the stream, without sending
# anything: every new upload entry becomes pending in the group. Prints their IDs.
deliver_uploads() {
    rcli xgroup create fs:uploads fs:ventilators 0 mkstream >/dev/null 2>&1
    rcli xreadgroup group fs:ventilators test count 100000 streams fs:uploads '>' |
        grep -E '^[0-9]+-[0-9]+$'
}

# feed_synthetic COUNT FIRST: COUNT synthetic results for keys bench/FIRST.jpg on, straight
# to the sink on ipc://$T/results, each answering an upload entry made pending first (the
# sink stores nothing else).
feed_synthetic() {
    "$B/bench/feed_results" --pending "$REDIS_URL" "$1" "$2" &&
        "$B/bench/feed_results" "ipc://$T/results" "$1" "$2" 2>/dev/null
}
