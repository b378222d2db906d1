# serve.sh -- `fruitstream serve` as a live service fed every way in at once: HTTP (curl),
# a watched folder (files there at start, a file moved in, a new subfolder, a folder moved
# in, then out, a file written slowly), and `fruitstream upload`. Each image is stored once with the right label and
# GET /v1/images/KEY returns it; the slow file is not read before its writer closes it;
# SIGTERM drains and stops every process; a restart over the same folder uploads nothing
# twice and still takes new files.
. tests/integration/lib.sh

mkdir -p "$T/watch/Kiwi"
set -- $(ls "$DATA/Kiwi"/*.jpg | head -n 3) $(ls "$DATA/Limes"/*.jpg | head -n 2) \
    $(ls "$DATA/Pear"/*.jpg | head -n 2) $(ls "$DATA/Banana"/*.jpg | head -n 2)
cp "$1" "$T/watch/Kiwi/k1.jpg" # there at start
cp "$2" "$T/watch/Kiwi/k2.jpg"
C1=$(ls "$DATA/Cocos"/*.jpg | head -n 1)
C2=$(ls "$DATA/Cocos"/*.jpg | sed -n 2p)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
A="Authorization: Bearer $(cat "$T/token")"

start_redis || { fail serve_redis "redis-server did not start"; exit 1; }
start_serve() { # NAME [OPTION...]: serve on the test's Redis, watching $T/watch, HTTP on a free port
    name=$1
    shift
    bg "$name" "$B/fruitstream" serve --redis "$REDIS_URL" --size 100 --workers 1 \
        --weights "$WEIGHTS" --watch "$T/watch" --http 127.0.0.1:0 --http-token-file "$T/token" "$@"
    SERVE_PID=$LAST_PID
    wait_for 20 "grep -q 'HTTP API on' $T/$name.log" && wait_for 20 "grep -q 'worker local' $T/$name.log"
    PORT=$(grep -o 'HTTP API on 127.0.0.1:[0-9]*' "$T/$name.log" | sed 's/.*://')
}
stored_is() { wait_for "$2" "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = $1 ]"; }
start_serve serve1

# the three ways in, and a new subfolder, while serving
code=$(curl -s -o "$T/post1" -w '%{http_code}' -H "$A" --data-binary "@$4" \
    "http://127.0.0.1:$PORT/v1/images?key=app/limes-1&label=Limes")
code2=$(curl -s -o "$T/post2" -w '%{http_code}' -H "$A" --data-binary "@$5" \
    "http://127.0.0.1:$PORT/v1/images?label=Limes")
made_key=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' "$T/post2")
mkdir -p "$T/watch/Pear" "$T/staging"
cp "$6" "$T/staging/p1.jpg"
mv "$T/staging/p1.jpg" "$T/watch/Pear/p1.jpg"
mkdir -p "$T/staging/Cocos"
cp "$C1" "$T/staging/Cocos/c1.jpg"
mv "$T/staging/Cocos" "$T/watch/Cocos"
"$B/fruitstream" upload --key app/kiwi-3 --label Kiwi "$3" 2>/dev/null
if [ "$code" = 202 ] && grep -q '"key":"app/limes-1"' "$T/post1" && [ "$code2" = 202 ] &&
    [ -n "$made_key" ] && stored_is 7 30; then
    pass serve_takes_http_watch_and_upload
else
    fail serve_takes_http_watch_and_upload "codes $code $code2 ($(cat "$T/post1")), stored $(counter stored) of 7; $(tail -n 3 "$T/serve1.log")"
fi

label_of() { rcli hget "fs:image:$1" label; }
W=$(cd "$T/watch" && pwd -P)
if [ "$(label_of app/limes-1)" = Limes ] && [ "$(label_of "$made_key")" = Limes ] &&
    [ "$(label_of "$W/Kiwi/k1.jpg")" = Kiwi ] && [ "$(label_of "$W/Kiwi/k2.jpg")" = Kiwi ] &&
    [ "$(label_of "$W/Pear/p1.jpg")" = Pear ] && [ "$(label_of app/kiwi-3)" = Kiwi ] &&
    [ "$(label_of "$W/Cocos/c1.jpg")" = Cocos ] &&
    [ "$(rcli xlen fs:stored)" = 7 ] && [ "$(counter duplicates)" = 0 ] &&
    [ "$(counter failed)" = 0 ]; then
    pass serve_each_stored_once_with_its_label
else
    fail serve_each_stored_once_with_its_label "labels: $(rcli hgetall fs:labels | paste -sd' ') stored entries $(rcli xlen fs:stored) duplicates $(counter duplicates)"
fi

get() { curl -s -H "$A" "http://127.0.0.1:$PORT/v1/images/$1"; }
get app/limes-1 >"$T/get1"
get "app/limes-1?features=1" >"$T/get2"
get "$W/Pear/p1.jpg" >"$T/get3"
nf=$(sed 's/.*"features":\[\([^]]*\)\].*/\1/' "$T/get2" | tr ',' '\n' | wc -l)
if grep -q '"status":"ok"' "$T/get1" && grep -q '"label":"Limes"' "$T/get1" &&
    grep -q '"worker":"local"' "$T/get1" && grep -q '"timings":{"decode_ms":' "$T/get1" &&
    grep -q '"pca":\[' "$T/get1" && ! grep -q '"features"' "$T/get1" && [ "$nf" -eq 1280 ] &&
    grep -q '"label":"Pear"' "$T/get3" && [ "$(get nobody/here | grep -c '"status":404')" = 1 ]; then
    pass serve_get_image_json
else
    fail serve_get_image_json "$(head -c 300 "$T/get1") / $nf features / $(head -c 200 "$T/get3")"
fi

# A folder moved out of the tree is no longer watched: a file put there is not taken.
mv "$T/watch/Cocos" "$T/gone"
cp "$C2" "$T/gone/c2.jpg"

# A file written in two halves 3 s apart: not taken until its writer closes it.
mkdir -p "$T/watch/Banana"
half=$(($(wc -c <"$8") / 2))
(head -c "$half" "$8"; sleep 3; tail -c +$((half + 1)) "$8") >"$T/watch/Banana/slow.jpg" &
WRITER=$!
sleep 2.5
early=$(rcli sismember fs:watched "$W/Banana/slow.jpg")
wait $WRITER
if [ "$early" = 0 ] && stored_is 8 20 &&
    [ "$(rcli hget "fs:image:$W/Banana/slow.jpg" status)" = ok ]; then
    pass serve_slow_file_not_read_half_written
else
    fail serve_slow_file_not_read_half_written "taken early: $early, status '$(rcli hget "fs:image:$W/Banana/slow.jpg" status)' $(rcli hget "fs:image:$W/Banana/slow.jpg" error)"
fi

# the folder moved out: its new file was not taken, neither under its old path nor its new
if [ "$(rcli scard fs:watched)" = 5 ] && [ "$(rcli sismember fs:watched "$W/Cocos/c2.jpg")" = 0 ]; then
    pass serve_folder_moved_out_not_watched
else
    fail serve_folder_moved_out_not_watched "watched: $(rcli smembers fs:watched | paste -sd' ')"
fi

# SIGTERM: drains and stops everything it started, exit 0.
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
status=$?
left=$(pgrep -f "fruitstream-$SERVE_PID\\." | wc -l)
if [ $status -eq 0 ] && [ "$left" -eq 0 ] && grep -q "stopped: 8 stored, 0 failed" "$T/serve1.log"; then
    pass serve_sigterm_drains_and_stops
else
    fail serve_sigterm_drains_and_stops "status $status, $left processes left; $(tail -n 2 "$T/serve1.log")"
fi

# Restart over the same folder (one file added while it was down): only that one is new.
uploaded=$(counter uploaded)
cp "$9" "$T/watch/Banana/b2.jpg"
touch -d '1 minute ago' "$T/watch/Banana/b2.jpg"
start_serve serve2 --classify-reload 1
if stored_is 9 20 && sleep 3 && [ "$(counter uploaded)" = $((uploaded + 1)) ] &&
    [ "$(rcli xlen fs:stored)" = 9 ] && [ "$(counter duplicates)" = 0 ] &&
    [ "$(rcli xlen fs:uploads)" = 0 ]; then
    pass serve_restart_uploads_nothing_twice
else
    fail serve_restart_uploads_nothing_twice "uploaded $(counter uploaded) (was $uploaded), stored $(rcli xlen fs:stored), duplicates $(counter duplicates)"
fi

# classify (the model the first serve's sink published): a stored Kiwi finds itself first,
# and Kiwi wins; nothing is stored for it. GET /v1/status is `status --json`'s object.
U="http://127.0.0.1:$PORT"
code=$(curl -s -o "$T/classify" -w '%{http_code}' -H "$A" --data-binary "@$1" "$U/v1/classify?k=3")
curl -s -H "$A" "$U/v1/status" >"$T/status.json"
if [ "$code" = 200 ] && grep -q '^{"label":"Kiwi","votes":[1-3],"nearest":\[{"key":"[^"]*/Kiwi/k1.jpg","label":"Kiwi","distance":0[,.e}]' "$T/classify" &&
    [ "$(rcli xlen fs:stored)" = 9 ]; then
    pass serve_classify_finds_stored_image
else
    fail serve_classify_finds_stored_image "$code $(head -c 300 "$T/classify")"
fi
if python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["counters"]["stored"] == 9; assert any(w["id"] == "local" for w in s["workers"])' "$T/status.json" 2>"$T/status.err"; then
    pass serve_status_json
else
    fail serve_status_json "$(head -c 300 "$T/status.json") $(tail -n 1 "$T/status.err")"
fi
# classify's model and gallery loaded again in the background (--classify-reload 1): the
# first request a second after they were loaded starts the reload and is answered at once
# from the gallery there is, without an image stored since; a later request, once the
# reload is done, finds that image itself.
P2=$7
cp "$P2" "$T/watch/Pear/p2.jpg"
stored_is 10 30
sleep 1.2
classify_p2() { curl -s -o "$T/$1" -w '%{http_code}' -H "$A" --data-binary "@$P2" "$U/v1/classify?k=1"; }
first=$(classify_p2 reload1)
found=no
for try in $(seq 40); do
    if [ "$(classify_p2 reload2)" = 200 ] &&
        grep -q '"nearest":\[{"key":"[^"]*/Pear/p2.jpg","label":"Pear","distance":0[,.e}]' "$T/reload2"; then
        found=yes
        break
    fi
    sleep 0.25
done
if [ "$first" = 200 ] && grep -q '"nearest":\[{"key"' "$T/reload1" && ! grep -q 'p2.jpg' "$T/reload1" &&
    [ $found = yes ] && ! grep -q "loading them again failed" "$T/serve2.log"; then
    pass serve_classify_reloads_in_background
else
    fail serve_classify_reloads_in_background "first $first $(head -c 200 "$T/reload1"); then $(head -c 200 "$T/reload2"); $(grep "again failed" "$T/serve2.log" | tail -n 1)"
fi
# Nothing stored since, nor a new model: the reloads that requests start then read the
# stamp (XREVRANGE fs:stored) and load nothing. Should the sink publish a model meanwhile (a
# timed refresh), one load more is right.
# (A load walks fs:stored with XRANGE, which nothing else sends while nothing is stored.)
calls() { rcli info commandstats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\).*/\1/p"; }
loads() { grep -c "classify: loaded model v" "$T/serve2.log"; }
loads0=$(loads) version0=$(rcli hget fs:pca:model version)
rev0=$(calls xrevrange) walks0=$(calls xrange)
for try in 1 2 3; do
    sleep 1.2
    classify_p2 idle >/dev/null
done
sleep 0.5
loads1=$(loads) rev1=$(calls xrevrange) walks1=$(calls xrange)
if [ "$loads0" -ge 2 ] && [ "${rev1:-0}" -gt "${rev0:-0}" ] &&
    { { [ "$loads1" = "$loads0" ] && [ "$walks1" = "$walks0" ]; } ||
        { [ "$(rcli hget fs:pca:model version)" != "$version0" ] &&
            [ "$loads1" = $((loads0 + 1)) ]; }; }; then
    pass serve_classify_idle_reload_loads_nothing
else
    fail serve_classify_idle_reload_loads_nothing "loads $loads0 then $loads1, XREVRANGE calls $rev0 then $rev1, XRANGE calls $walks0 then $walks1; $(grep "classify:" "$T/serve2.log" | tail -n 2)"
fi
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
