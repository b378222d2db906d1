# serve_http.sh -- the HTTP API against hostile clients, on loopback: no token, a wrong
# token, a 100 MB body (with and without Content-Length), a body sent where none is taken,
# malformed paths, keys and bodies, a client sending a byte a second, 500 connections at
# once, Redis gone (503) then back, and a key of raw non-UTF-8 bytes (its answers still valid JSON). Each is refused or
# served at a bounded cost while the service keeps storing other uploads. The `serve`
# process (the HTTP server and its request handling) runs from the AddressSanitizer +
# UBSan build when there is one ($FS_ASAN_BUILD, default build-asan, as `make test`
# makes), so any memory error or leak there fails the test.
. tests/integration/lib.sh

SERVE_B=$B
ASAN_B=${FS_ASAN_BUILD:-build-asan}
if [ -x "$ASAN_B/fruitstream" ] && [ -x "$ASAN_B/fruitstream-worker" ]; then
    SERVE_B=$ASAN_B
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
    echo "skip serve_http_under_asan: no $ASAN_B build (make asan)"
fi
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
TOKEN=$(cat "$T/token")
A="Authorization: Bearer $TOKEN"
set -- $(ls "$DATA/Kiwi"/*.jpg | head -n 3)
LIMIT=3

start_redis || { fail serve_http_redis "redis-server did not start"; exit 1; }
bg serve "$SERVE_B/fruitstream" serve --redis "$REDIS_URL" --size 100 --workers 1 \
    --weights "$WEIGHTS" --http 127.0.0.1:0 --http-token-file "$T/token" \
    --http-max-connections 32 --http-timeout $LIMIT
SERVE_PID=$LAST_PID
wait_for 60 "grep -q 'HTTP API on' $T/serve.log" && wait_for 60 "grep -q 'worker local' $T/serve.log"
PORT=$(grep -o 'HTTP API on 127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
U="http://127.0.0.1:$PORT"
code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 20 "$@"; }

c1=$(code "$U/v1/status")
c2=$(code -H "Authorization: Bearer wrong$TOKEN" "$U/v1/status")
c3=$(code -H "Authorization: $TOKEN" --data-binary "@$1" "$U/v1/images")
c4=$(code "$U/healthz")
c5=$(code -H "$A" "$U/v1/status")
if [ "$c1$c2$c3" = 401401401 ] && [ "$c4" = 200 ] && [ "$c5" = 200 ] &&
    grep -q '"counters":{' "$T/body" && [ "$(rcli xlen fs:uploads)" = 0 ] &&
    ! grep -q "$TOKEN" "$T/serve.log"; then
    pass serve_http_token_required
else
    fail serve_http_token_required "no token $c1, wrong $c2, no Bearer $c3, healthz $c4, status $c5"
fi

head -c 100000000 /dev/zero >"$T/big"
start=$(date +%s)
c1=$(code -H "$A" --data-binary "@$T/big" "$U/v1/images")
c2=$(code -H "$A" -H 'Transfer-Encoding: chunked' --data-binary "@$T/big" "$U/v1/images")
took=$(($(date +%s) - start))
rm -f "$T/big"
if [ "$c1" = 413 ] && [ "$c2" != 202 ] && [ "$took" -le 10 ] && [ "$(rcli xlen fs:uploads)" = 0 ]; then
    pass serve_http_100mb_body_refused
else
    fail serve_http_100mb_body_refused "with length $c1, chunked $c2, $took s"
fi

# A body where none is taken: four clients with no token announce 64 MiB each to /healthz,
# one with the token announces a body to /v1/status, one a chunked one. Each is answered 400
# before its body is read, so none of them holds the uploads' memory: an upload sent while
# they are still connected is accepted.
python3 -c '
import socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
def ask(head):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head.encode() + b"\r\n")
    return s
def status(s):
    s.settimeout(5)
    data = b""
    try:
        while b"\r\n" not in data:
            got = s.recv(4096)
            if not got:
                break
            data += got
    except OSError:
        pass
    return data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.1 ") else "none"
auth = "Authorization: Bearer " + token + "\r\n"
held = [ask("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n")
        for _ in range(4)]
held.append(ask("GET /v1/status HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 10\r\n"))
held.append(ask("GET /v1/status HTTP/1.1\r\nHost: x\r\n" + auth +
                "Transfer-Encoding: chunked\r\n"))
print(" ".join(status(s) for s in held), flush=True)
time.sleep(3)
' "$PORT" "$TOKEN" >"$T/bodies" 2>&1 &
BODIES=$!
wait_for 20 "[ -s $T/bodies ]"
c1=$(code -H "$A" --data-binary "@$1" "$U/v1/images?key=while/bodies&label=Kiwi")
wait $BODIES
if [ "$(cat "$T/bodies")" = "400 400 400 400 400 400" ] && [ "$c1" = 202 ] &&
    wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 1 ]"; then
    pass serve_http_body_only_where_taken
else
    fail serve_http_body_only_where_taken "answers $(head -c 300 "$T/bodies"), upload meanwhile $c1"
fi

c1=$(code -H "$A" "$U/v1/images/")
c2=$(code -H "$A" "$U/v1/images/no/such/key")
c3=$(code -H "$A" "$U/v1/nothing")
c4=$(code -H "$A" -X PUT "$U/v1/images")
c5=$(code -H "$A" --data-binary "not a jpeg" "$U/v1/images")
c6=$(code -H "$A" --data-binary "@$1" "$U/v1/images?key=%01bad")
c7=$(code -H "$A" "$U/v1/images/%ZZ%00")
c8=$(code -H "$A" -X POST --data-binary '{"broken json' "$U/v1/classify")
grep -q '"status":400' "$T/body" && grep -q '"error":' "$T/body" && json=ok || json=bad
if [ "$c1$c2$c3$c4$c5$c6" = 400404404405400400 ] && [ "$c7" -ge 400 ] && [ "$c7" -lt 500 ] &&
    [ "$c8" = 400 ] && [ $json = ok ]; then
    pass serve_http_malformed_requests_get_json_errors
else
    fail serve_http_malformed_requests_get_json_errors "codes $c1 $c2 $c3 $c4 $c5 $c6 $c7 $c8 ($json)"
fi

# A client sending a byte a second, and 500 connections at once; meanwhile an upload by
# `fruitstream upload` is stored before the flood is cut, and HTTP uploads work after.
"$B/tests/tools/http_hostile" slow "$PORT" 20 >"$T/slow" &
SLOW=$!
"$B/tests/tools/http_hostile" flood "$PORT" 500 20 >"$T/flood" &
FLOOD=$!
sleep 0.5
"$B/fruitstream" upload --key during/flood --label Kiwi "$2" 2>/dev/null
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 2 ]"
kill -0 $FLOOD 2>/dev/null && during=stored || during="stored after the flood"
wait $SLOW $FLOOD
c1=$(code -H "$A" --data-binary "@$3" "$U/v1/images?key=after/flood&label=Kiwi")
v() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
if [ "$(v "$T/slow" cut)" = 1 ] &&
    awk -v l=$LIMIT '$1 == "last_close_s" { exit !($2 <= l + 2) }' "$T/slow" &&
    [ "$(v "$T/flood" opened)" = 500 ] && [ "$(v "$T/flood" open)" = 0 ] &&
    [ "$(v "$T/flood" cut)" -le 32 ] &&
    awk -v l=$LIMIT '$1 == "last_close_s" { exit !($2 <= l + 2) }' "$T/flood" &&
    [ "$c1" = 202 ] && [ "$during" = stored ] &&
    wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 3 ]" &&
    [ "$(rcli hget fs:image:after/flood label)" = Kiwi ] &&
    [ "$(rcli hget fs:image:during/flood status)" = ok ]; then
    pass serve_http_slow_client_and_flood_bounded
else
    fail serve_http_slow_client_and_flood_bounded "slow: $(tr '\n' ' ' <"$T/slow") flood: $(tr '\n' ' ' <"$T/flood") post $c1, stored $(counter stored), during: $during"
fi

# Redis gone: 503 with a JSON error; back: served again.
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
REDIS_PID=
c1=$(code -H "$A" --data-binary "@$1" "$U/v1/images")
grep -q '"status":503' "$T/body" && json=ok || json=bad
c2=$(code "$U/healthz")
c3=$(code -H "$A" "$U/v1/images/after/flood")
# ...and back: the API answers again, from the data Redis kept
start_redis
wait_for 10 "[ \$(curl -s -o /dev/null -w '%{http_code}' $U/healthz) = 200 ]"
c4=$(code -H "$A" "$U/v1/images/after/flood")
if [ "$c1$c2$c3" = 503503503 ] && [ $json = ok ] && [ "$c4" = 200 ] &&
    grep -q '"status":"ok"' "$T/body"; then
    pass serve_http_redis_down_503_then_back
else
    fail serve_http_redis_down_503_then_back "post $c1 ($json), healthz $c2, get $c3; back: get $c4"
fi

# A key of raw bytes that are not UTF-8 (and a quote): stored as given, and every answer
# naming it is still valid JSON, those bytes as U+FFFD.
c1=$(code -H "$A" --data-binary "@$1" "$U/v1/images?key=raw%FF%FE%22k&label=L%C3%A9%80")
cp "$T/body" "$T/raw_post"
c2=$(code -H "$A" "$U/v1/images/raw%FF%FE%22k")
if [ "$c1" = 202 ] && [ "$c2" = 200 ] && python3 -c '
import json, sys
post, get = (json.load(open(f, encoding="utf-8")) for f in sys.argv[1:3])
want = "raw\ufffd\ufffd\"k"
assert post == {"key": want, "status": "pending"}, post
assert get["key"] == want and get.get("status") in ("pending", "ok"), get
' "$T/raw_post" "$T/body" 2>"$T/raw.err"; then
    pass serve_http_raw_bytes_valid_json
else
    fail serve_http_raw_bytes_valid_json "post $c1 $(head -c 200 "$T/raw_post"), get $c2 $(head -c 200 "$T/body") $(tail -n 1 "$T/raw.err")"
fi

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
status=$?
if [ $status -eq 0 ] && ! grep -q "Sanitizer" "$T/serve.log" && ! grep -q "runtime error" "$T/serve.log"; then
    pass serve_http_clean_exit_no_sanitizer_report
else
    fail serve_http_clean_exit_no_sanitizer_report "exit $status; $(grep -m 3 -A 5 'Sanitizer\|runtime error' "$T/serve.log" | head -c 600)"
fi
