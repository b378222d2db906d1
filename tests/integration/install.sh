# install.sh -- `make install` as a user runs it, then the installed programs do the work.
#
# Built in a build directory of its own (WEIGHTS changes the build, the suite's build is left
# alone) with the plain flags of a user's build, installed under DESTDIR=$T/root with
# WEIGHTS set to the weights' absolute path. Then: exactly the four programs are installed;
# pipeline.sh passes against the installed programs; and `fruitstream run`, started from
# another directory without --weights or FRUITSTREAM_WEIGHTS, finds its sibling programs in
# the install directory and the weights at the compiled-in path.
# Not run under the sanitizers: it makes a build of its own, with a user's flags.
. tests/integration/lib.sh

ABS_WEIGHTS=$(cd "$(dirname "$WEIGHTS")" && pwd)/$(basename "$WEIGHTS")
BIN=$T/root/usr/local/bin
# Not the outer make's job server or variables (make test runs this suite).
if ! env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -j2 install BUILD="$T/build" \
    PREFIX=/usr/local DESTDIR="$T/root" WEIGHTS="$ABS_WEIGHTS" >"$T/make.log" 2>&1; then
    fail install_make "make install failed: $(tail -n 5 "$T/make.log")"
    exit 1
fi
installed=$(cd "$BIN" && ls | paste -sd' ')
if [ "$installed" = "fruitstream fruitstream-sink fruitstream-ventilator fruitstream-worker" ] &&
    [ -x "$BIN/fruitstream-worker" ] && [ ! -e "$T/root/usr/local/share" ] &&
    "$BIN/fruitstream-worker" --help | grep -qF "$ABS_WEIGHTS"; then
    pass install_four_programs_weights_compiled_in
else
    fail install_four_programs_weights_compiled_in \
        "installed: $installed; help: $("$BIN/fruitstream-worker" --help 2>&1 | grep -i weights)"
fi

# the pipeline test, run against the installed programs
FS_BUILD=$BIN sh tests/integration/pipeline.sh >"$T/pipeline.out" 2>"$T/pipeline.err"
rc=$?
p=$(grep -c '^ok ' "$T/pipeline.out")
f=$(grep -c '^FAIL ' "$T/pipeline.out")
[ $rc -eq 0 ] && [ "$p" -ge 5 ] && [ "$f" -eq 0 ] && pass install_pipeline_test_passes ||
    fail install_pipeline_test_passes \
        "rc=$rc, $p ok, $f FAIL: $(grep '^FAIL' "$T/pipeline.out" | head -c 400)"

# fruitstream run from elsewhere: siblings from the install dir, the compiled-in weights
class_dir "$T/elsewhere/in" Kiwi
ABS_DATA=$(cd "$DATA" && pwd) # the class folders' links lead there
(cd "$T/elsewhere" && env -u FRUITSTREAM_WEIGHTS -u REDIS_URL timeout 120 \
    "$BIN/fruitstream" run --workers 2 --size 100 --data-dir "$T/elsewhere/data" \
    --allow-path "$ABS_DATA" in) \
    >"$T/run.out" 2>"$T/run.err"
rc=$?
rows=$(cd "$T/elsewhere" && env -u REDIS_URL "$BIN/fruitstream" export --data-dir data 2>/dev/null |
    tail -n +2 | wc -l)
[ $rc -eq 0 ] && [ "$rows" -eq "$N" ] && pass install_run_uses_installed_programs ||
    fail install_run_uses_installed_programs \
        "rc=$rc, exported $rows of $N: $(tail -n 3 "$T/run.err")"

env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s uninstall BUILD="$T/build" PREFIX=/usr/local \
    DESTDIR="$T/root" >"$T/uninstall.log" 2>&1
left=$(ls "$BIN" | wc -l)
[ "$left" -eq 0 ] && pass install_uninstall_removes_them ||
    fail install_uninstall_removes_them "$left left: $(ls "$BIN" | paste -sd' ')"
