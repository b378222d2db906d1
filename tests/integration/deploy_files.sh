# deploy_files.sh -- docker/ and deploy/k8s/ checked offline: no Docker engine or cluster
# runs on the machines the tests run on.
#
# - docker/Dockerfile: two stages, `make install` in the first, and a run-time stage that
#   installs the Debian package of every shared library the built programs need.
# - docker/compose.yaml: `docker-compose config` (Debian's docker-compose validates against
#   the Compose schema), then tests/tools/deploy_check.py: roles, one image, scalable worker,
#   weights, heartbeat healthcheck, every --option real.
# - deploy/k8s: deploy_check.py parses every document and checks kinds, required fields,
#   references, the KEDA ScaledObject and the numbers tied together.
# Each checker is also shown a broken copy, which it must refuse.
# Not run under the sanitizers: it reads the programs' library needs, which a sanitized build
# changes, and runs them only for their --help.
. tests/integration/lib.sh

if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "skip deploy_files: python3 with PyYAML not installed (Debian package python3-yaml)"
    exit 0
fi
CHECK="python3 tests/tools/deploy_check.py"

# --- Dockerfile
D=docker/Dockerfile
libs_missing=""
for lib in $(for p in fruitstream fruitstream-ventilator fruitstream-worker fruitstream-sink; do
    readelf -d "$B/$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
    real=$(readlink -f "$path")
    pkg=$( (dpkg -S "$real" || dpkg -S "/usr$real") 2>/dev/null | head -n 1 | cut -d: -f1)
    [ "$pkg" = libc6 ] && continue # in every Debian image
    grep -q "^FROM debian:12$" "$D" && sed -n '/^FROM debian:12$/,$p' "$D" | grep -qw -- "$pkg" ||
        libs_missing="$libs_missing $lib(${pkg:-no package})"
done
[ "$(grep -c '^FROM ' "$D")" -eq 2 ] && grep -q '^FROM debian:12 AS build$' "$D" &&
    grep -q 'make .*install .*DESTDIR=' "$D" && grep -q '^COPY --from=build ' "$D" &&
    [ -z "$libs_missing" ] && pass docker_multistage_runtime_libs ||
    fail docker_multistage_runtime_libs "stages=$(grep -c '^FROM ' "$D") missing:$libs_missing"

# --- compose
export FRUITSTREAM_MODELS="$T"
if command -v docker-compose >/dev/null; then
    if docker-compose -f docker/compose.yaml config -q >"$T/compose.log" 2>&1 &&
        [ "$(docker-compose -f docker/compose.yaml config --services | sort | paste -sd' ')" = \
            "cli keys redis sink ventilator worker" ]; then
        pass compose_config_valid
    else
        fail compose_config_valid "$(head -c 400 "$T/compose.log")"
    fi
    sed 's/^    stop_grace_period: 60s$/    stop_grace_period: [60s]/' docker/compose.yaml \
        >docker/.compose-broken.yaml
    docker-compose -f docker/.compose-broken.yaml config -q >/dev/null 2>&1 &&
        fail compose_config_can_fail "a list as stop_grace_period passed" ||
        pass compose_config_can_fail
    rm -f docker/.compose-broken.yaml
else
    echo "skip compose_config_valid: docker-compose not installed (Debian package docker-compose)"
fi
$CHECK compose docker/compose.yaml "$B"
sed 's|/usr/local/etc/redis/fruitstream.conf"\]|/usr/local/etc/redis/redis.conf"]|' \
    docker/compose.yaml >docker/.compose-other-conf.yaml
$CHECK compose docker/.compose-other-conf.yaml "$B" 2>&1 |
    grep -q "^FAIL compose_redis_settings_from_conf: " && pass compose_redis_check_can_fail ||
    fail compose_redis_check_can_fail "a redis started on another file passed"
rm -f docker/.compose-other-conf.yaml

# --- Kubernetes
$CHECK k8s deploy/k8s "$B"

# --- the checker refuses broken copies
cp -r deploy/k8s "$T/k8s"
sed -i 's/"--max-in-flight", "512"/"--max-inflight", "512"/' "$T/k8s/ventilator.yaml"
sed -i 's/stream: fs:uploads/stream: fs:upload/' "$T/k8s/worker-scaledobject.yaml"
sed -i 's/cpu: "2"/cpu: "1"/' "$T/k8s/worker.yaml"
sed -i 's/"--stream-node-max-entries", "16"/"--stream-node-max-entries", "100"/' "$T/k8s/redis.yaml"
$CHECK k8s "$T/k8s" "$B" >"$T/k8s.out" 2>&1
grep -q "^FAIL k8s_workloads_services_refs_options: .*no option --max-inflight" "$T/k8s.out" &&
    grep -q "^FAIL k8s_keda_scaledobject: stream fs:upload " "$T/k8s.out" &&
    grep -q "^FAIL k8s_worker_threads_cpu_grace_weights: worker: CPU request 1.0 for 2" \
        "$T/k8s.out" && grep -q "^FAIL k8s_redis_settings_from_conf: " "$T/k8s.out" &&
    pass k8s_check_can_fail ||
    fail k8s_check_can_fail "$(grep FAIL "$T/k8s.out" | head -c 400)"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n' >"$T/k8s/bad.yaml"
sed -i 's/^  - config.yaml$/  - config.yaml\n  - bad.yaml/' "$T/k8s/kustomization.yaml"
$CHECK k8s "$T/k8s" "$B" 2>&1 | grep -q "^FAIL k8s_documents_parse_with_kind_and_name: bad.yaml" &&
    pass k8s_check_refuses_bad_yaml || fail k8s_check_refuses_bad_yaml "bad.yaml accepted"
