# deploy_systemd.sh -- the systemd units of deploy/systemd, as `make install-systemd`
# installs them, pass `systemd-analyze verify` (syntax, known settings, ExecStart programs
# that exist and run), with no warning, and each says how it restarts and stops.
#
# The units are installed pointing at this build's programs and at a copy of the example
# environment file in $T, so that verify checks real paths. The worker template is checked
# as an instance. Without systemd-analyze the test is skipped, visibly.
. tests/integration/lib.sh

if ! command -v systemd-analyze >/dev/null; then
    echo "skip systemd_units_verify: systemd-analyze not installed (Debian package systemd)"
    exit 0
fi
BIN=$(cd "$B" && pwd)
if ! make -s install-systemd DESTDIR= BINDIR="$BIN" SYSCONFDIR="$T/etc" UNITDIR="$T/units" \
    >"$T/install.log" 2>&1; then
    fail systemd_units_install "make install-systemd: $(tail -n 3 "$T/install.log")"
    exit 1
fi
U=$T/units
n=$(ls "$U"/*.service | wc -l)
[ "$n" -eq 3 ] && [ -f "$T/etc/fruitstream/fruitstream.env" ] &&
    grep -q "^ExecStart=$BIN/fruitstream-worker " "$U/fruitstream-worker@.service" &&
    grep -q "^EnvironmentFile=$T/etc/fruitstream/fruitstream.env" "$U/fruitstream-sink.service" &&
    pass systemd_units_install || fail systemd_units_install "$(ls "$U" "$T/etc/fruitstream")"

cp "$U/fruitstream-worker@.service" "$U/fruitstream-worker@1.service"
(cd "$U" && systemd-analyze verify ./fruitstream-worker@1.service ./fruitstream-ventilator.service \
    ./fruitstream-sink.service) >"$T/verify.log" 2>&1
rc=$?
[ $rc -eq 0 ] && [ ! -s "$T/verify.log" ] && pass systemd_units_verify ||
    fail systemd_units_verify "rc=$rc: $(head -c 600 "$T/verify.log")"

# What the issue asks of every unit: the environment file, restart on failure, SIGTERM, a
# stop timeout.
bad=""
for u in fruitstream-worker@ fruitstream-ventilator fruitstream-sink; do
    for want in "^EnvironmentFile=$T/etc/fruitstream/fruitstream.env$" "^Restart=on-failure$" \
        "^KillSignal=SIGTERM$" "^TimeoutStopSec=[0-9]"; do
        grep -q "$want" "$U/$u.service" || bad="$bad $u:$want"
    done
done
[ -z "$bad" ] && pass systemd_units_settings || fail systemd_units_settings "missing$bad"

# every ExecStart runs a real program with real options and variables the env file sets
python3 tests/tools/deploy_check.py systemd deploy/systemd "$B"
mkdir -p "$T/broken"
cp deploy/systemd/* "$T/broken/"
sed -i 's/--threads \${FRUITSTREAM_THREADS}/--thread ${FRUITSTREAM_THREAD}/' \
    "$T/broken/fruitstream-worker@.service"
python3 tests/tools/deploy_check.py systemd "$T/broken" "$B" 2>&1 | grep -q \
    "^FAIL .*no option --thread;.*FRUITSTREAM_THREAD is set nowhere" &&
    pass systemd_commands_check_can_fail || fail systemd_commands_check_can_fail "accepted"

# verify must be able to fail: a unit naming a program that is not there.
sed "s|^ExecStart=$BIN/fruitstream-sink|ExecStart=$T/nothere|" "$U/fruitstream-sink.service" \
    >"$U/broken.service"
(cd "$U" && systemd-analyze verify ./broken.service) >/dev/null 2>&1 &&
    fail systemd_units_verify_can_fail "a missing ExecStart program passed" ||
    pass systemd_units_verify_can_fail
