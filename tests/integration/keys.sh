# keys.sh -- issue 12, finding 9: keys are never cut. Two different 100 KB keys used to be
# cut to the same 1,023 bytes (the second upload counted as a duplicate, its result lost),
# and a NUL cut a key short. Now a key longer than 1,024 bytes is refused by `upload`, and
# a stream entry with a long key or a NUL in it is refused by the ventilator (deleted,
# counted as rejected): nothing is stored under a cut key, and the uploads around them are
# stored. So is an entry naming its key or blob twice (the ventilator read the first, the
# sink the last: its result was rejected and sent again for ever), deleting neither blob. The CSV export is valid UTF-8 (bad bytes written as \xHH) and, with
# --excel-safe, no field starts a formula.
. tests/integration/lib.sh

set -- $(ls "$DATA/Banana"/*.jpg | head -n 4)
start_redis || { fail keys_redis "redis-server did not start"; exit 1; }
K1=$(head -c 100000 /dev/zero | tr '\0' a)
K2="${K1%a}b"
K1024=$(head -c 1024 /dev/zero | tr '\0' k)
bad=""
for k in "$K1" "$K2" "${K1024}x"; do
    "$B/fruitstream" upload --key "$k" "$1" 2>"$T/up.err" && bad="$bad accepted(${#k})"
    grep -q "refused" "$T/up.err" || bad="$bad no-error(${#k})"
done
if [ -z "$bad" ] && [ "$(rcli xlen fs:uploads)" = 0 ] && [ -z "$(rcli --scan --pattern 'fs:blob:*')" ]; then
    pass keys_upload_refuses_long_keys
else
    fail keys_upload_refuses_long_keys "$bad uploads=$(rcli xlen fs:uploads)"
fi

# Entries an app wrote itself: a long key, a key with a NUL, between good uploads.
"$B/fruitstream" upload --key "$K1024" "$1" 2>/dev/null
"$B/fruitstream" upload --key "$(printf '=HYPERLINK("x")\377')" "$2" 2>/dev/null
rcli set fs:blob:long "$(cat "$3" | base64 -w0)" >/dev/null
rcli xadd fs:uploads '*' blob fs:blob:long key "$K1" >/dev/null
printf 'a\000b' | rcli -x xadd fs:uploads '*' blob fs:blob:long key >/dev/null
rcli set fs:blob:victim x >/dev/null
rcli xadd fs:uploads '*' key twice1 key twice2 blob fs:blob:long >/dev/null
rcli xadd fs:uploads '*' key twice3 blob fs:blob:long blob fs:blob:victim >/dev/null
"$B/fruitstream" upload --key "@last" --label "-minus" "$4" 2>/dev/null
start_sink
start_worker w1 --size 100
start_ventilator
if wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 3 ] &&
        [ \"\$(redis-cli -s $T/redis.sock xlen fs:uploads)\" = 0 ]" &&
    [ "$(counter rejected)" = 4 ] && [ "$(rcli hget "fs:image:$K1024" status)" = ok ] &&
    [ "$(rcli exists fs:image:a fs:image:twice1 fs:image:twice2 fs:image:twice3)" = 0 ] &&
    [ "$(rcli exists fs:blob:victim)" = 1 ] &&
    [ "$(rcli --scan --pattern 'fs:image:*' | wc -l)" = 3 ]; then
    pass keys_long_nul_and_twice_named_entries_refused_others_stored
else
    fail keys_long_nul_and_twice_named_entries_refused_others_stored "stored=$(counter stored) rejected=$(counter rejected) uploads=$(rcli xlen fs:uploads) $(grep -i refused "$T/ventilator.log" | head -c 300)"
fi

"$B/fruitstream" export --features --out "$T/plain.csv" 2>/dev/null
"$B/fruitstream" export --features --excel-safe --out "$T/safe.csv" 2>/dev/null
utf8() { python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$1"; }
if utf8 "$T/plain.csv" && utf8 "$T/safe.csv" &&
    grep -q -F '"=HYPERLINK(""x"")\xFF"' "$T/plain.csv" &&
    grep -q -F '"'"'"'=HYPERLINK(""x"")\xFF"' "$T/safe.csv" &&
    grep -q -F "'@last,'-minus," "$T/safe.csv" && grep -q -F "@last,-minus," "$T/plain.csv" &&
    ! cut -d, -f1 "$T/safe.csv" | grep -q -E "^\"?[=+@-]"; then
    pass keys_export_utf8_and_excel_safe
else
    fail keys_export_utf8_and_excel_safe "$(cut -c1-40 "$T/plain.csv" | head -n 4 | paste -sd'|') / $(cut -c1-40 "$T/safe.csv" | head -n 4 | paste -sd'|')"
fi
