# redis_auth.sh -- issue 12, finding 7: a Redis that wants a password. Over TCP on
# loopback: an ACL user and a %-encoded password in the URL, the default user's password
# from $REDIS_PASSWORD, credentials in a unix:// URL; the pipeline stores every upload and
# no log holds the password. A wrong or missing password ends each program at once with
# one clear error and a non-zero status, and status/pca/export fail rather than print
# nothing.
. tests/integration/lib.sh

PORT=$(free_port)
TASKS=tcp://127.0.0.1:$(free_port)
RESULTS=tcp://127.0.0.1:$(free_port)
ADMIN=admin-secret-71
USERPASS='fs-pass@62'
URL="redis://fsuser:fs-pass%4062@127.0.0.1:$PORT/0"
redis-server --port "$PORT" --bind 127.0.0.1 --unixsocket "$T/redis.sock" --dir "$T" \
    --save "" --requirepass "$ADMIN" --loglevel warning >"$T/redis.log" 2>&1 &
REDIS_PID=$!
rcli() { redis-cli -s "$T/redis.sock" --no-auth-warning -a "$ADMIN" "$@"; }
wait_for 10 "redis-cli -s $T/redis.sock --no-auth-warning -a $ADMIN ping | grep -q PONG" ||
    { fail auth_redis "redis-server did not start"; exit 1; }
rcli acl setuser fsuser on ">$USERPASS" '~*' '&*' '+@all' >/dev/null
rcli acl setuser reader on ">reader-pw-5" '~*' '&*' '+@read' '+@connection' >/dev/null
unset REDIS_URL

mkdir -p "$T/in/Kiwi"
ls "$DATA/Kiwi"/*.jpg | head -n 6 | while read -r f; do cp "$f" "$T/in/Kiwi/"; done
bg sink "$B/fruitstream-sink" --redis "$URL" --results "$RESULTS"
bg worker "$B/fruitstream-worker" --tasks "$TASKS" --results "$RESULTS" --weights "$WEIGHTS" \
    --size 100 --id w1
bg ventilator "$B/fruitstream-ventilator" --redis "$URL" --tasks "$TASKS" --dir "$T/in"
if wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock --no-auth-warning -a $ADMIN hget fs:counters stored)\" = 6 ]"; then
    pass auth_acl_user_pipeline_stores_all
else
    fail auth_acl_user_pipeline_stores_all "stored=$(rcli hget fs:counters stored) $(tail -n 2 "$T/sink.log")"
fi

out=$(REDIS_PASSWORD=$ADMIN "$B/fruitstream" status --redis "redis://127.0.0.1:$PORT" 2>&1)
out2=$("$B/fruitstream" status --redis "unix://fsuser:fs-pass%4062@$T/redis.sock?db=0" 2>&1)
if echo "$out" | grep -q " stored 6 " && echo "$out2" | grep -q " stored 6 "; then
    pass auth_env_password_and_unix_url
else
    fail auth_env_password_and_unix_url "$out / $out2"
fi

# wrong_exit NAME CMD...: CMD ends by itself within 10 s, non-zero, with one ERROR line
# that names the refusal, and prints no counters.
wrong_exit() {
    name=$1; shift
    "$@" >"$T/$name.out" 2>"$T/$name.log" &
    pid=$!
    i=0
    while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 $pid 2>/dev/null && { bad="$bad $name(still running)"; return; }
    wait $pid; rc=$?
    errors=$(grep -c -i "error" "$T/$name.log")
    [ $rc -ne 0 ] && [ "$errors" -eq 1 ] && grep -q -E "WRONGPASS|NOAUTH|NOPERM" "$T/$name.log" &&
        ! grep -q "uploaded [0-9]" "$T/$name.out" || bad="$bad $name(rc=$rc, $errors errors: $(head -c 300 "$T/$name.log"))"
}
bad=""
WRONG="redis://fsuser:not-it-93@127.0.0.1:$PORT/0"
NONE="redis://127.0.0.1:$PORT/0"
wrong_exit sink_wrong "$B/fruitstream-sink" --redis "$WRONG" --results "tcp://127.0.0.1:$(free_port)"
wrong_exit vent_wrong "$B/fruitstream-ventilator" --redis "$WRONG" --tasks "tcp://127.0.0.1:$(free_port)"
wrong_exit sink_none "$B/fruitstream-sink" --redis "$NONE" --results "tcp://127.0.0.1:$(free_port)"
wrong_exit status_none "$B/fruitstream" status --redis "$NONE"
wrong_exit status_wrong "$B/fruitstream" status --redis "$WRONG"
wrong_exit pca_none "$B/fruitstream" pca --redis "$NONE"
wrong_exit export_none "$B/fruitstream" export --redis "$NONE"
wrong_exit vent_noperm "$B/fruitstream-ventilator" --redis "redis://reader:reader-pw-5@127.0.0.1:$PORT" \
    --tasks "tcp://127.0.0.1:$(free_port)"
wrong_exit upload_wrong "$B/fruitstream" upload --redis "$WRONG" "$T/in/Kiwi/$(ls "$T/in/Kiwi" | head -n 1)"
[ -z "$bad" ] && pass auth_refused_ends_with_one_error || fail auth_refused_ends_with_one_error "$bad"

# The live roles were not disturbed, and no output anywhere holds a password.
leaks=$(grep -l -e "$USERPASS" -e "fs-pass%40" -e "not-it-93" -e "$ADMIN" -e reader-pw "$T"/*.log "$T"/*.out 2>/dev/null | grep -v redis.log)
if [ -z "$leaks" ] && grep -q 'fsuser:\*\*\*@' "$T"/*.log; then
    pass auth_passwords_never_printed
else
    fail auth_passwords_never_printed "in: $leaks; redacted form seen: $(grep -h -o 'redis://[^ ]*' "$T"/*.log | head -n 2)"
fi
