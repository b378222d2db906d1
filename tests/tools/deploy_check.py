#!/usr/bin/env python3
"""deploy_check.py -- offline checks of the deployment files (docker/compose.yaml and
deploy/k8s/), for tests/integration/deploy_*.sh. No Docker engine or cluster runs here, so
what can be checked is checked without one: every YAML document parses; each has the fields
its kind requires; the names that tie documents together resolve (Service selectors, volume
claims, ConfigMaps, the ScaledObject's target); the Redis names are the ones common/keys.h
defines; and every program and --option a manifest runs exists in the built programs'
--help. Prints `ok NAME` / `FAIL NAME: why` lines.

    deploy_check.py compose FILE BIN_DIR
    deploy_check.py k8s DIR BIN_DIR
    deploy_check.py systemd DIR BIN_DIR
    deploy_check.py compose-sh FILE

compose-sh prints, for tests/integration/compose_netns.sh to eval, each service's
environment, command and healthcheck as shell words (ENV_<service>, CMD_<service>,
HEALTH_<service>), after Compose's own interpolation: ${VAR:-default} from this
environment, then $$ to $; and its bind mounts, as HOST:CONTAINER words (BINDS_<service>).
"""
import os
import re
import shlex
import subprocess
import sys

import yaml

PROGRAMS = ("fruitstream", "fruitstream-ventilator", "fruitstream-worker", "fruitstream-sink")
failures = 0


def report(name, problems):
    global failures
    if problems:
        failures += 1
        print("FAIL %s: %s" % (name, "; ".join(problems)[:800]))
    else:
        print("ok %s" % name)


def keys_h(name):
    """The string a #define in common/keys.h gives NAME."""
    with open("common/keys.h") as f:
        m = re.search(r'#define %s "([^"]+)"' % name, f.read())
    return m.group(1)


def help_options(bin_dir, program, cache={}):
    if program not in cache:
        out = subprocess.run([os.path.join(bin_dir, program), "--help"], capture_output=True,
                             text=True, timeout=10).stdout
        cache[program] = set(re.findall(r"(--[a-z][a-z-]*)", out))
    return cache[program]


def check_command(words, bin_dir, where):
    """Problems with the programs and options in a command line (a list of words, or words
    inside `sh -c` strings)."""
    text = " ".join(words)
    problems = []
    programs = [p for p in re.findall(r"\b(fruitstream(?:-[a-z]+)?)\b", text) if p in PROGRAMS]
    if not programs:
        return ["%s runs no fruitstream program: %s" % (where, text)]
    program = programs[0]
    known = help_options(bin_dir, program)
    for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text):
        if opt not in known:
            problems.append("%s: %s has no option %s" % (where, program, opt))
    return problems


REDIS_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                          "redis.conf")


def redis_conf_args():
    """deploy/redis.conf's settings as redis-server arguments: `--name value...` per line,
    `""` an empty argument, as cli/private_redis.c reads it."""
    args = []
    with open(REDIS_CONF) as f:
        for line in f:
            words = line.split()
            if words and not words[0].startswith("#"):
                args += ["--" + words[0]] + ["" if w == '""' else w for w in words[1:]]
    return args


def huge_pages_asked(env):
    """deploy/redis.conf's `disable-thp no` needs jemalloc to ask for huge pages: the official
    image's Redis reads JE_MALLOC_CONF (its jemalloc has the prefix je_), one on the system's
    jemalloc MALLOC_CONF."""
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return ["redis: %s is not thp:always" % name for name in ("JE_MALLOC_CONF", "MALLOC_CONF")
            if env.get(name) != "thp:always"]


def binds(svc, compose_path):
    """A service's bind mounts: {container path: host path}, host paths relative to the
    Compose file resolved (named volumes are not binds)."""
    out = {}
    for v in svc.get("volumes", []):
        parts = str(v).split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/")):
            out[parts[1]] = os.path.abspath(os.path.join(os.path.dirname(compose_path),
                                                         parts[0]))
    return out


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_compose(path, bin_dir):
    docs = load_all(path)
    report("compose_parses", [] if len(docs) == 1 and isinstance(docs[0], dict) else
           ["expected one mapping, got %d documents" % len(docs)])
    services = docs[0].get("services", {})
    problems = [s + " missing" for s in ("redis", "sink", "ventilator", "worker")
                if s not in services]
    report("compose_services", problems)

    problems = []
    for name in ("sink", "ventilator", "worker", "cli"):
        svc = services.get(name, {})
        build = svc.get("build", {})
        dockerfile = os.path.join(os.path.dirname(path), build.get("context", "."),
                                  build.get("dockerfile", "Dockerfile"))
        if not os.path.isfile(dockerfile):
            problems.append("%s: no Dockerfile at %s" % (name, dockerfile))
        if svc.get("image") != services.get("sink", {}).get("image"):
            problems.append("%s: not the one image of every role" % name)
        problems += check_command(svc.get("command", []), bin_dir, name)
        if name != "cli" and "healthcheck" not in svc:
            problems.append("%s: no healthcheck" % name)
    report("compose_roles_one_image_real_options", problems)

    worker = services.get("worker", {})
    problems = []
    if "container_name" in worker or "ports" in worker:
        problems.append("a container_name or published ports stop --scale worker=N")
    if not any(str(v).endswith(":/weights:ro") for v in worker.get("volumes", [])):
        problems.append("the weights are not mounted read-only at /weights")
    if keys_h("KEY_WORKER_PREFIX") not in str(worker.get("healthcheck", {}).get("test")):
        problems.append("the healthcheck does not read the worker's heartbeat key")
    report("compose_worker_scalable_weights_heartbeat", problems)

    redis = services.get("redis", {})
    command, mounted, problems = redis.get("command", []), binds(redis, path), []
    if command[:1] != ["redis-server"] or len(command) < 2 or \
            mounted.get(command[1]) != os.path.abspath(REDIS_CONF):
        problems.append("redis does not start on deploy/redis.conf, mounted: %s with %s"
                        % (command, mounted))
    problems += huge_pages_asked(redis.get("environment", {}))
    report("compose_redis_settings_from_conf", problems)


def check_systemd(directory, bin_dir):
    """Each unit's ExecStart: a real program with real options, and every variable it uses
    set by the unit (Environment=) or by the example environment file."""
    with open(os.path.join(directory, "fruitstream.env")) as f:
        defined = {m.group(1) for m in re.finditer(r"^#?\s*([A-Z_][A-Z0-9_]*)=", f.read(), re.M)}
    problems = []
    units = sorted(u for u in os.listdir(directory) if u.endswith(".service"))
    for unit in units:
        with open(os.path.join(directory, unit)) as f:
            text = f.read().replace("\\\n", " ")  # continued lines
        local = set(re.findall(r"^Environment=([A-Z_][A-Z0-9_]*)=", text, re.M))
        starts = re.findall(r"^ExecStart=(.*)$", text, re.M)
        if len(starts) != 1:
            problems.append("%s: %d ExecStart lines" % (unit, len(starts)))
            continue
        words = starts[0].split()
        problems += check_command([os.path.basename(words[0])] + words[1:], bin_dir, unit)
        for var in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", starts[0]):
            if var not in defined | local:
                problems.append("%s: $%s is set nowhere" % (unit, var))
    report("systemd_units_commands_and_variables",
           problems + ([] if len(units) == 3 else ["%d units" % len(units)]))


def interpolate(text):
    """Compose's interpolation, the forms compose.yaml uses: ${VAR:-default}, ${VAR}, $$."""
    def value(m):
        if m.group(0) == "$$":
            return "$"
        return os.environ.get(m.group(1)) or (m.group(2) or "")
    return re.sub(r"\$\$|\$\{(\w+)(?::-([^}]*))?\}", value, text)


def compose_sh(path):
    services = load_all(path)[0]["services"]
    for name, svc in services.items():
        ident = re.sub(r"\W", "_", name)
        env = svc.get("environment", {})
        env = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        print("ENV_%s=%s" % (ident, shlex.quote(" ".join(
            shlex.quote("%s=%s" % (k, interpolate(str(v)))) for k, v in env))))
        command = svc.get("command", [])
        print("CMD_%s=%s" % (ident, shlex.quote(" ".join(shlex.quote(interpolate(w))
                                                       for w in command))))
        print("BINDS_%s=%s" % (ident, shlex.quote(" ".join(
            "%s:%s" % (host, inside) for inside, host in binds(svc, path).items()))))
        test = svc.get("healthcheck", {}).get("test", [])
        check = interpolate(test[1]) if test[:1] == ["CMD-SHELL"] else \
            " ".join(shlex.quote(interpolate(w)) for w in test[1:])
        print("HEALTH_%s=%s" % (ident, shlex.quote(check)))


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def check_k8s(directory, bin_dir):
    kustomization = load_all(os.path.join(directory, "kustomization.yaml"))[0]
    listed = set(kustomization.get("resources", []))
    present = {f for f in os.listdir(directory) if f.endswith(".yaml")} - {"kustomization.yaml"}
    report("k8s_kustomization_lists_every_file",
           ["not listed: %s" % f for f in sorted(present - listed)] +
           ["listed, absent: %s" % f for f in sorted(listed - present)])

    docs, problems = [], []
    for f in sorted(present):
        try:
            for d in load_all(os.path.join(directory, f)):
                d["_file"] = f
                docs.append(d)
        except yaml.YAMLError as e:
            problems.append("%s: %s" % (f, e))
    for d in docs:
        for field in ("apiVersion", "kind"):
            if field not in d:
                problems.append("%s: a document without %s" % (d["_file"], field))
        if not d.get("metadata", {}).get("name"):
            problems.append("%s: a %s without metadata.name" % (d["_file"], d.get("kind")))
    report("k8s_documents_parse_with_kind_and_name", problems)
    if problems:
        return

    workloads = {**by_kind(docs, "Deployment"), **by_kind(docs, "StatefulSet")}
    configmaps = by_kind(docs, "ConfigMap")
    claims = by_kind(docs, "PersistentVolumeClaim")
    problems = []
    for name, w in workloads.items():
        selector = w["spec"].get("selector", {}).get("matchLabels", {})
        labels = w["spec"].get("template", {}).get("metadata", {}).get("labels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append("%s: selector does not match its pod labels" % name)
        for c in pod_spec(w).get("containers", []):
            if not c.get("name") or not c.get("image"):
                problems.append("%s: a container without name or image" % name)
            for ref in c.get("envFrom", []):
                if ref.get("configMapRef", {}).get("name") not in configmaps:
                    problems.append("%s: unknown ConfigMap %s" % (name, ref))
            if c.get("image") == "fruitstream":
                problems += check_command(c.get("command", []) + c.get("args", []), bin_dir,
                                          name)
        for v in pod_spec(w).get("volumes", []):
            claim = v.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                problems.append("%s: unknown claim %s" % (name, claim))
    for name in ("redis", "fruitstream-sink", "fruitstream-ventilator", "fruitstream-worker"):
        if name not in workloads:
            problems.append("no workload %s" % name)
    for name in ("fruitstream-sink", "fruitstream-ventilator"):
        w = workloads.get(name)
        if w and (w["spec"].get("replicas") != 1 or
                  w["spec"].get("strategy", {}).get("type") != "Recreate"):
            problems.append("%s: must run exactly once (replicas 1, Recreate)" % name)
    for name, s in by_kind(docs, "Service").items():
        sel = s["spec"].get("selector", {})
        if not any(all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                       for k, v in sel.items()) for w in workloads.values()):
            problems.append("Service %s selects no workload" % name)
    report("k8s_workloads_services_refs_options", problems)

    problems = []
    worker = workloads.get("fruitstream-worker")
    if worker:
        spec = pod_spec(worker)
        c = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        threads = int(env.get("WORKER_THREADS", "0"))
        cpu = str(c.get("resources", {}).get("requests", {}).get("cpu", "0"))
        cpu = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
        if threads < 1 or cpu != threads:
            problems.append("worker: CPU request %s for %s threads" % (cpu, threads))
        if "cpu" in c.get("resources", {}).get("limits", {}):
            problems.append("worker: a CPU limit throttles compute threads")
        # a worker stops within ~2 s (linger) plus the images at hand
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < 5:
            problems.append("worker: terminationGracePeriodSeconds %s < 5" % grace)
        if not any(m.get("mountPath") == "/weights" and m.get("readOnly")
                   for m in c.get("volumeMounts", [])):
            problems.append("worker: weights not mounted read-only at /weights")
    report("k8s_worker_threads_cpu_grace_weights", problems)

    redis = workloads.get("redis")
    args = pod_spec(redis)["containers"][0].get("args", []) if redis else None
    problems = [] if args == redis_conf_args() else \
        ["redis args %s, deploy/redis.conf says %s" % (args, redis_conf_args())]
    if redis:
        problems += huge_pages_asked({e["name"]: e.get("value")
                                      for e in pod_spec(redis)["containers"][0].get("env", [])})
    report("k8s_redis_settings_from_conf", problems)

    problems = []
    scaled = by_kind(docs, "ScaledObject")
    if len(scaled) != 1:
        problems.append("expected one ScaledObject, got %d" % len(scaled))
    for name, so in scaled.items():
        if not so["apiVersion"].startswith("keda.sh/"):
            problems.append("%s: apiVersion %s" % (name, so["apiVersion"]))
        target = so["spec"].get("scaleTargetRef", {}).get("name")
        if target != "fruitstream-worker" or target not in workloads:
            problems.append("%s: scales %s, not the worker Deployment" % (name, target))
        lo, hi = so["spec"].get("minReplicaCount", 0), so["spec"].get("maxReplicaCount", 100)
        if not 0 <= lo <= hi:
            problems.append("%s: replicas %s..%s" % (name, lo, hi))
        triggers = so["spec"].get("triggers", [])
        if len(triggers) != 1 or triggers[0].get("type") != "redis-streams":
            problems.append("%s: not one redis-streams trigger" % name)
            continue
        meta = triggers[0].get("metadata", {})
        if meta.get("stream") != keys_h("KEY_UPLOADS"):
            problems.append("stream %s is not %s" % (meta.get("stream"), keys_h("KEY_UPLOADS")))
        if meta.get("consumerGroup", keys_h("GROUP_VENTILATORS")) != keys_h("GROUP_VENTILATORS"):
            problems.append("consumerGroup %s" % meta.get("consumerGroup"))
        if not any(k in meta for k in ("streamLength", "pendingEntriesCount", "lagCount")):
            problems.append("no target (streamLength, pendingEntriesCount, lagCount)")
        if not all(isinstance(v, str) for v in meta.values()):
            problems.append("trigger metadata values must be strings")
        addr_env = meta.get("addressFromEnv")
        if addr_env and worker:
            env = {e["name"] for e in pod_spec(worker)["containers"][0].get("env", [])}
            for ref in pod_spec(worker)["containers"][0].get("envFrom", []):
                env |= set(configmaps.get(ref["configMapRef"]["name"], {}).get("data", {}))
            if addr_env not in env:
                problems.append("addressFromEnv %s is not in the worker's environment" % addr_env)
        elif not addr_env and "address" not in meta and "host" not in meta:
            problems.append("no Redis address")
        # enough tasks in flight for every worker the scaler may start
        vent = workloads.get("fruitstream-ventilator")
        if vent and worker:
            args = pod_spec(vent)["containers"][0].get("args", [])
            cap = int(args[args.index("--max-in-flight") + 1]) if "--max-in-flight" in args else 64
            threads = int({e["name"]: e.get("value") for e in
                           pod_spec(worker)["containers"][0].get("env", [])}
                          .get("WORKER_THREADS", "1"))
            if cap < hi * threads * 8:
                problems.append("--max-in-flight %d starves %d x %d workers" % (cap, hi, threads))
    report("k8s_keda_scaledobject", problems)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "compose-sh":
        return compose_sh(sys.argv[2])
    checks = {"compose": check_compose, "k8s": check_k8s, "systemd": check_systemd}
    if len(sys.argv) != 4 or sys.argv[1] not in checks:
        sys.exit(__doc__)
    try:
        checks[sys.argv[1]](sys.argv[2], sys.argv[3])
    except Exception as e:  # a checker that breaks must not look like one that passed
        report("deploy_check_%s" % sys.argv[1], ["crashed: %r" % e])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
