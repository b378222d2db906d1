# report.sh -- `fruitstream report` on a real pipeline (3 labels, a corrupt JPEG among them,
# metrics sampled for a few seconds): the HTML is self-contained (no script, nothing
# fetched) and every chart carries its SVG elements: the variance curve with its target
# line and k marker, one scatter point per stored image in a colour per label, a bar per
# label, the throughput and latency lines, the workers table and the failure with its
# reason. Then Chromium renders it headless (screenshot and DOM) with no console error;
# without a chromium binary that part is skipped, saying so (scripts/deps.sh render).
. tests/integration/lib.sh
S=100
FS=$B/fruitstream
start_redis || { fail report_redis "redis-server did not start"; exit 1; }
start_sink --refresh-every 20 --refresh-min-seconds 0
start_ventilator
start_worker w1 --size $S
mkdir -p "$T/Broken"
head -c 2000 /dev/urandom >"$T/Broken/random.jpg"
for c in Banana Kiwi Limes; do ls "$DATA/$c"/*.jpg | head -n 20; done >"$T/list"
echo "$T/Broken/random.jpg" >>"$T/list"
tr '\n' '\0' <"$T/list" | xargs -0 "$FS" upload 2>/dev/null
wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 60 ] &&
             [ \"\$(redis-cli -s $T/redis.sock hget fs:counters failed)\" = 1 ] &&
             [ \"\$(redis-cli -s $T/redis.sock xlen fs:metrics)\" -ge 3 ]" ||
    { fail report_pipeline "stored $(counter stored) failed $(counter failed) samples $(rcli xlen fs:metrics)"; exit 1; }
kill -TERM $SINK_PID; wait $SINK_PID # its final model covers all 60
K=$(rcli hget fs:pca:model k)
start_sink # back, so that the worker stays live for the workers table
wait_for 10 "redis-cli -s $T/redis.sock exists fs:worker:w1 | grep -q 1"

if "$FS" report --out "$T/report.html" 2>"$T/report.err"; then
    pass report_written
else
    fail report_written "$(tail -n 3 "$T/report.err")"
fi
python3 - "$T/report.html" "$K" >"$T/check" 2>&1 <<'PY'
import sys
from html.parser import HTMLParser
path, k = sys.argv[1], int(sys.argv[2])
class Page(HTMLParser):
    def __init__(self):
        super().__init__(); self.svg = None; self.charts = {}; self.tags = []; self.table = None
        self.rows = {}; self.cells = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs); self.tags.append((tag, a))
        if tag == "svg": self.svg = a.get("id"); self.charts[self.svg] = []
        elif self.svg: self.charts[self.svg].append((tag, a))
        if tag == "table": self.table = a.get("id"); self.rows[self.table] = []
        if tag == "tr": self.cells = []
    def handle_endtag(self, tag):
        if tag == "svg": self.svg = None
        if tag == "tr" and self.table: self.rows[self.table].append(self.cells)
    def handle_data(self, data):
        if self.table: self.cells.append(data)
p = Page(); p.feed(open(path).read())
def count(chart, tag, cls=None):
    return sum(1 for t, a in p.charts.get(chart, []) if t == tag and (cls is None or a.get("class") == cls))
errors = []
def need(cond, what):
    if not cond: errors.append(what)
need(not any(t in ("script", "link", "img", "iframe") for t, _ in p.tags), "script or external resource")
need(not any(v and "http" in v and "w3.org/2000/svg" not in v for _, a in p.tags for v in a.values()), "a URL")
need(count("chart-variance", "path", "series") == 1, "variance curve")
need(count("chart-variance", "line", "rule") == 1, "95% line")
need(count("chart-variance", "line", "mark") == 1, "k marker")
need(count("chart-scatter", "circle") == 60, "60 scatter points, got %d" % count("chart-scatter", "circle"))
need(count("chart-scatter", "g") == 3, "3 label colours")
need(count("chart-labels", "rect") == 3, "3 label bars")
need(count("chart-throughput", "path", "series") == 1, "throughput line")
need(count("chart-latency", "path", "series") == 2, "p50 and p99 lines")
need(any(r and r[0] == "w1" for r in p.rows.get("table-workers", [])), "worker w1 row")
fail_rows = [r for r in p.rows.get("table-failures", []) if r and r[0].endswith("random.jpg")]
need(fail_rows and len(fail_rows[0]) >= 2 and fail_rows[0][1].strip(), "failure with its reason")
need("k = %d" % k in open(path).read(), "chosen k = %d labelled" % k)
print("; ".join(errors) if errors else "ok")
sys.exit(1 if errors else 0)
PY
if [ $? -eq 0 ]; then
    pass report_every_chart_present
else
    fail report_every_chart_present "$(tail -n 3 "$T/check")"
fi

CHROMIUM=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROMIUM" ]; then
    echo "skip report_renders_in_chromium: no chromium binary (sh scripts/deps.sh render installs it)"
    exit 0
fi
chrome() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$T/chrome-profile" \
        --enable-logging=stderr --v=0 "$@"
}
chrome --screenshot="$T/report.png" --window-size=900,3000 "file://$T/report.html" >"$T/shot.out" 2>"$T/shot.err"
rc1=$?
chrome --dump-dom "file://$T/report.html" >"$T/dom.html" 2>"$T/dom.err"
rc2=$?
svgs=$(grep -o '<svg id="chart-[a-z]*"' "$T/dom.html" | sort -u | wc -l)
if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -s "$T/report.png" ] && [ "$svgs" -eq 5 ] &&
    ! grep -qi "console\|uncaught" "$T/shot.err" "$T/dom.err"; then
    pass report_renders_in_chromium
else
    fail report_renders_in_chromium "exit $rc1/$rc2, $svgs charts in the DOM, png $(stat -c %s "$T/report.png" 2>/dev/null): $(grep -i "console\|uncaught\|error" "$T/shot.err" "$T/dom.err" | head -n 3)"
fi
