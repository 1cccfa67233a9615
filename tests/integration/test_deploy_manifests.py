"""The deployment material in deploy/: the Kubernetes manifests and the Dockerfile.

Every manifest in deploy/k8s/ is parsed and checked for what must hold for sluice to work as a
sidecar: the policy file sluice reads is the ConfigMap key that is mounted, the embedded policy
passes `sluice -t`, probes hit the admin API, the Service reaches sluice and not the app, the
grace period covers the drain, containers run as non-root with resource requests, and the app
listens where the policy sends traffic. With a `redis:` block: the Redis wiring and instances.

The Kubernetes schema check runs deploy/schema-check/validate.mjs (npm package kubernetes-models:
the API's JSON schemas compiled with ajv, plus unknown-field detection). It needs
`npm ci --prefix deploy/schema-check`, which scripts/install-deps runs; without it the test fails.
"""

import fnmatch
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
DOCKERFILE = DEPLOY / "Dockerfile"
SCHEMA_CHECK = DEPLOY / "schema-check"

# Kubernetes' defaults, for fields a manifest leaves out.
K8S_DEFAULT_GRACE = 30
K8S_DEFAULT_PERIOD = 10
K8S_DEFAULT_FAILURE_THRESHOLD = 3
# sluice's defaults (DESIGN.md).
DEFAULT_DRAIN_DELAY_S = 5.0
DEFAULT_SHUTDOWN_TIMEOUT_S = 30.0
DEFAULT_ROUTE_TIMEOUT_S = 30.0


def sluice_bin():
    return Path(os.environ.get("SLUICE_BIN") or REPO / "build" / "gateway" / "sluice")


def unavailable(reason):
    """A missing tool is a missing install step (scripts/install-deps): fail, never skip."""
    pytest.fail(f"{reason} (scripts/install-deps installs it)")


# ---- parsing helpers ---------------------------------------------------------------------------

DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")


def seconds(text):
    """A sluice duration ("250ms", "5s", "2m", "1h") in seconds."""
    m = DURATION.match(str(text))
    assert m, f"not a sluice duration: {text!r}"
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def split_address(text):
    """"host:port" or "[v6]:port" -> (host, port)."""
    text = str(text)
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", text) or re.match(r"^([^:\[\]]+):(\d+)$", text)
    assert m, f"not a host:port address: {text!r}"
    return m.group(1), int(m.group(2))


def is_loopback(host):
    return host == "localhost" or host == "::1" or host.startswith("127.")


def is_wildcard(host):
    return host in ("0.0.0.0", "::")


class Manifest:
    """One file of deploy/k8s/: its documents, the gateway pod and its embedded policy."""

    def __init__(self, path):
        self.path = path
        self.docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]

    def of_kind(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def named(self, kind, name):
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.path.name}: expected one {kind} {name!r}, found {len(found)}"
        return found[0]

    @property
    def gateway(self):
        """The Deployment whose pod runs a container named sluice."""
        found = [d for d in self.of_kind("Deployment") if any(c["name"] == "sluice" for c in pod_spec(d)["containers"])]
        assert len(found) == 1, f"{self.path.name}: expected one Deployment with a sluice container, found {len(found)}"
        return found[0]

    @property
    def pod(self):
        return pod_spec(self.gateway)

    @property
    def sluice(self):
        return container(self.gateway, "sluice")

    @property
    def apps(self):
        """The pod's other containers: the application(s) behind sluice."""
        return [c for c in self.pod["containers"] if c["name"] != "sluice"]

    def config_path(self):
        args = list(self.sluice.get("command", [])[1:]) + list(self.sluice.get("args", []))
        for i, a in enumerate(args):
            if a in ("-c", "--config") and i + 1 < len(args):
                return args[i + 1]
            if a.startswith("--config="):
                return a.split("=", 1)[1]
        raise AssertionError(f"{self.path.name}: sluice's args have no -c FILE: {args}")

    def policy_source(self):
        """(ConfigMap, key, text) of the policy file that sluice's -c reads, following the mount."""
        path = self.config_path()
        mounts = [m for m in self.sluice.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")]
        assert len(mounts) == 1, f"{self.path.name}: {path} is under {len(mounts)} volume mounts of the sluice container"
        mount = mounts[0]
        volumes = [v for v in self.pod.get("volumes", []) if v["name"] == mount["name"]]
        assert len(volumes) == 1 and "configMap" in volumes[0], f"{self.path.name}: volume {mount['name']} is no ConfigMap"
        source = volumes[0]["configMap"]
        cm = self.named("ConfigMap", source["name"])
        rel = path[len(mount["mountPath"].rstrip("/")) + 1:]
        key = rel
        if source.get("items"):
            keys = [i["key"] for i in source["items"] if i["path"] == rel]
            assert keys, f"{self.path.name}: no item of the ConfigMap volume is mounted as {rel}"
            key = keys[0]
        assert key in cm.get("data", {}), f"{self.path.name}: ConfigMap {cm['metadata']['name']} has no key {key!r}"
        return cm, key, cm["data"][key]

    @property
    def policy(self):
        return yaml.safe_load(self.policy_source()[2])


def pod_spec(deployment):
    return deployment["spec"]["template"]["spec"]


def container(deployment, name):
    found = [c for c in pod_spec(deployment)["containers"] if c["name"] == name]
    assert len(found) == 1, f"no single container {name!r} in Deployment {deployment['metadata']['name']}"
    return found[0]


def port_number(c, port):
    """A probe's or Service's port (number or name) as a number, resolved in container c."""
    if isinstance(port, int):
        return port
    if str(port).isdigit():
        return int(port)
    named = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == port]
    assert named, f"container {c['name']} has no port named {port!r}"
    return named[0]


def pod_port_number(pod, port):
    """A Service targetPort (number or name) resolved over every container of a pod."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    named = [p["containerPort"] for c in pod["containers"] for p in c.get("ports", []) if p.get("name") == port]
    assert len(named) == 1, f"targetPort {port!r} names {len(named)} container ports"
    return named[0]


def listen_addresses(policy):
    listen = policy.get("listen", "0.0.0.0:8080")
    return [split_address(a) for a in (listen if isinstance(listen, list) else [listen])]


def drain_seconds(policy):
    """(drain_delay, shutdown_timeout) of a policy in seconds, sluice's defaults filled in."""
    drain_delay = seconds(policy["drain_delay"]) if "drain_delay" in policy else DEFAULT_DRAIN_DELAY_S
    shutdown_timeout = seconds(policy["shutdown_timeout"]) if "shutdown_timeout" in policy else DEFAULT_SHUTDOWN_TIMEOUT_S
    return drain_delay, shutdown_timeout


def prestop_sleep(c):
    """Seconds a container's preStop hook sleeps (exec sleep N, sh -c "sleep N", sleep action), or 0."""
    pre = c.get("lifecycle", {}).get("preStop")
    if not pre:
        return 0
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    command = " ".join(str(x) for x in pre.get("exec", {}).get("command", []))
    m = re.search(r"\bsleep\s+(\d+)\b", command)
    assert m, f"container {c['name']}: preStop {pre} does not sleep"
    return int(m.group(1))


def cli_option(argv, name):
    """The value of --name V or --name=V in an argv list, or None."""
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return str(argv[i + 1])
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def env_var(c, name):
    found = [e for e in c.get("env", []) if e["name"] == name]
    return found[0] if found else None


def project_version():
    m = re.search(r"version\s*:\s*'([^']+)'", (REPO / "meson.build").read_text())
    assert m, "meson.build declares no project version"
    return m.group(1)


@pytest.fixture(params=MANIFESTS, ids=[p.name for p in MANIFESTS])
def manifest(request):
    return Manifest(request.param)


def test_there_are_manifests():
    names = {p.name for p in MANIFESTS}
    assert {"fastapi-sidecar.yaml", "fastapi-sidecar-redis.yaml"} <= names


# ---- the manifests -----------------------------------------------------------------------------


def test_documents_are_well_formed(manifest):
    seen = set()
    for d in manifest.docs:
        assert isinstance(d, dict) and d.get("apiVersion") and d.get("kind"), f"{manifest.path.name}: {d!r:.80}"
        name = d.get("metadata", {}).get("name")
        assert name, f"{manifest.path.name}: a {d['kind']} without metadata.name"
        assert (d["kind"], name) not in seen, f"{manifest.path.name}: two {d['kind']} named {name}"
        seen.add((d["kind"], name))
    for dep in manifest.of_kind("Deployment"):
        selector = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"Deployment {dep['metadata']['name']}: selector does not match its pods"


def test_sluice_reads_the_mounted_configmap_key(manifest):
    path = manifest.config_path()
    cm, key, _ = manifest.policy_source()
    mount = [m for m in manifest.sluice["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")][0]
    assert path == f"{mount['mountPath'].rstrip('/')}/{key}", "the -c file must be the ConfigMap key under the mount"
    assert path == "/etc/sluice/" + key, "the policy lives in /etc/sluice (the image's CMD and the docs say so)"
    assert mount.get("readOnly") is True, "the policy mount must be read-only"
    # A subPath mount is never updated when the ConfigMap changes: mount the directory.
    assert "subPath" not in mount, "mount the ConfigMap directory, not a subPath (subPath mounts never see updates)"


def test_embedded_policy_passes_sluice_check(manifest, tmp_path):
    binary = sluice_bin()
    if not os.access(binary, os.X_OK):
        unavailable(f"sluice binary not built: {binary} (set SLUICE_BIN or build with meson/ninja)")
    _, key, text = manifest.policy_source()
    policy_file = tmp_path / key
    policy_file.write_text(text)
    env = dict(os.environ)
    # Every ${VAR} of the policy must come from the sluice container's environment; give each a
    # stand-in value for the check.
    for var in sorted(set(re.findall(r"\$\{([^}]+)\}", text))):
        assert env_var(manifest.sluice, var), f"the policy uses ${{{var}}} but the sluice container does not set {var}"
        env[var] = f"test-{var.lower()}"
    proc = subprocess.run([str(binary), "-t", "-c", str(policy_file)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"sluice -t rejected the policy of {manifest.path.name}:\n{proc.stdout}{proc.stderr}"


def test_sluice_ports_match_the_policy(manifest):
    policy = manifest.policy
    ports = {p["name"]: p["containerPort"] for p in manifest.sluice.get("ports", [])}
    listen_ports = {port for _, port in listen_addresses(policy)}
    _, admin_port = split_address(policy["admin"])
    assert ports.get("http") in listen_ports, f"container port http {ports.get('http')} is not a listen port {listen_ports}"
    assert ports.get("admin") == admin_port, "container port admin must be the policy's admin port"
    assert admin_port not in listen_ports, "the admin API must not share the public listener"
    for host, _ in listen_addresses(policy):
        assert not is_loopback(host), "sluice must listen on the pod's address, or the Service cannot reach it"


def test_probes_hit_the_admin_api(manifest):
    policy = manifest.policy
    admin_host, admin_port = split_address(policy["admin"])
    # The kubelet probes the pod IP: an admin API on loopback would fail every probe.
    assert not is_loopback(admin_host), f"admin {policy['admin']} is unreachable by the kubelet's probes"
    expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe_name, path in expected.items():
        probe = manifest.sluice.get(probe_name)
        assert probe and "httpGet" in probe, f"sluice needs an httpGet {probe_name}"
        assert probe["httpGet"]["path"] == path, f"{probe_name} must GET {path}"
        assert port_number(manifest.sluice, probe["httpGet"]["port"]) == admin_port, f"{probe_name} must use the admin port"


def test_readiness_notices_the_drain_before_the_listener_closes(manifest):
    drain_delay, _ = drain_seconds(manifest.policy)
    probe = manifest.sluice["readinessProbe"]
    notice = probe.get("periodSeconds", K8S_DEFAULT_PERIOD) * probe.get("failureThreshold", K8S_DEFAULT_FAILURE_THRESHOLD)
    assert notice <= drain_delay, f"readiness notices a drain after up to {notice}s, drain_delay is {drain_delay}s"


def test_grace_period_covers_the_drain(manifest):
    drain_delay, shutdown_timeout = drain_seconds(manifest.policy)
    drain = drain_delay + shutdown_timeout
    grace = manifest.pod.get("terminationGracePeriodSeconds", K8S_DEFAULT_GRACE)
    sluice_sleep = prestop_sleep(manifest.sluice)
    assert grace > sluice_sleep + drain, f"terminationGracePeriodSeconds {grace} <= drain_delay + shutdown_timeout {drain}"
    # The app gets SIGTERM only when its preStop returns: it must keep serving until sluice is done.
    assert manifest.apps, "no application container next to sluice"
    for app in manifest.apps:
        sleep = prestop_sleep(app)
        assert sleep >= sluice_sleep + drain, f"{app['name']}: preStop sleep {sleep}s ends before sluice's drain ({drain}s)"
        assert sleep < grace, f"{app['name']}: preStop sleep {sleep}s leaves no time for its own shutdown (grace {grace}s)"
    # A request admitted just before the listener closes can use its whole route budget.
    longest = max(seconds(r["timeout"]) if "timeout" in r else DEFAULT_ROUTE_TIMEOUT_S for r in manifest.policy["routes"])
    assert shutdown_timeout >= longest, f"shutdown_timeout {shutdown_timeout}s < the longest route timeout {longest}s"


def test_service_targets_sluice_not_the_app(manifest):
    gateway = manifest.gateway
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    services = [s for s in manifest.of_kind("Service") if s["spec"].get("selector") and s["spec"]["selector"].items() <= labels.items()]
    assert services, "no Service selects the sluice pods"
    listen_ports = {port for _, port in listen_addresses(manifest.policy)}
    _, admin_port = split_address(manifest.policy["admin"])
    app_ports = {split_address(u["address"])[1] for u in manifest.policy["upstreams"].values()}
    sluice_http = port_number(manifest.sluice, "http")
    for svc in services:
        assert any(p.get("name") == "http" for p in svc["spec"]["ports"]), f"Service {svc['metadata']['name']}: no port named http"
        for p in svc["spec"]["ports"]:
            target = pod_port_number(manifest.pod, p.get("targetPort", p["port"]))
            assert target == sluice_http and target in listen_ports, f"Service port {p} must reach sluice's http port {sluice_http}"
            assert target not in app_ports, f"Service port {p} bypasses sluice: it targets the app"
            assert target != admin_port, f"Service port {p} exposes the admin API"


def test_containers_run_as_non_root(manifest):
    for dep in manifest.of_kind("Deployment"):
        pod = pod_spec(dep)
        pod_sc = pod.get("securityContext", {})
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            where = f"{dep['metadata']['name']}/{c['name']}"
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot must be true"
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, f"{where}: runs as uid 0"
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation must be false"
            assert sc.get("privileged", False) is False, f"{where}: privileged"
    sc = manifest.sluice["securityContext"]
    assert sc.get("readOnlyRootFilesystem") is True, "sluice: readOnlyRootFilesystem must be true"
    assert sc.get("runAsUser") == dockerfile_uid(), "sluice's runAsUser must be the image's USER"


def test_resource_requests_are_set(manifest):
    for dep in manifest.of_kind("Deployment"):
        for c in pod_spec(dep)["containers"]:
            requests = c.get("resources", {}).get("requests", {})
            assert "cpu" in requests and "memory" in requests, f"{dep['metadata']['name']}/{c['name']}: set cpu and memory requests"
    assert "memory" in manifest.sluice["resources"].get("limits", {}), "sluice: set a memory limit"


def test_the_app_listens_where_the_policy_sends_traffic(manifest):
    policy = manifest.policy
    served = set()
    for app in manifest.apps:
        argv = [str(x) for x in app.get("command", []) + app.get("args", [])]
        host, port = cli_option(argv, "--host"), cli_option(argv, "--port")
        assert host and port, f"{app['name']}: pass --host and --port explicitly (uvicorn), got {argv}"
        # Loopback only: nothing but sluice can reach the app.
        assert is_loopback(host), f"{app['name']}: listens on {host}, reachable without sluice"
        assert not any(p.get("containerPort") == int(port) for p in app.get("ports", [])), f"{app['name']}: do not publish {port}"
        served.add((host, int(port)))
    upstreams = {name: split_address(u["address"]) for name, u in policy["upstreams"].items()}
    for route in policy["routes"]:
        assert upstreams[route["upstream"]] in served, f"route {route['name']}: upstream {upstreams[route['upstream']]} is served by no app container ({served})"
    assert ("127.0.0.1", 8000) in served and ("127.0.0.1", 8000) in upstreams.values()


def test_sluice_image_is_this_version(manifest):
    assert manifest.sluice["image"] == f"sluice:{project_version()}", "tag the image with meson.build's project version"


def concurrency_limits(route):
    """A route's concurrency limits, whether given as one mapping or a list."""
    c = route.get("concurrency")
    return [] if c is None else c if isinstance(c, list) else [c]


def test_fastapi_policy_stays_under_anyio_threads(manifest):
    """FastAPI runs sync code on anyio's 40 threads per process; more than 40 requests inside
    can deadlock an app with a pooled sync dependency (tests/integration/test_examples.py shows
    it). Every route must have a route-wide limit (a per-key one bounds nothing in total), and
    their sum must stay under 40."""
    total = 0
    for route in manifest.policy["routes"]:
        route_wide = [c["limit"] for c in concurrency_limits(route) if "per" not in c]
        assert route_wide, f"route {route['name']}: no route-wide concurrency limit"
        total += min(route_wide)
    assert total < 40, f"the routes let {total} requests into the app at once"


def test_redis_wiring(manifest):
    policy = manifest.policy
    limits = []
    for r in policy["routes"]:
        limits.extend(concurrency_limits(r))
        limits.extend(r.get("rate_limits", []))
    global_limits = [x for x in limits if x.get("scope") == "global"]
    if "redis" not in policy:
        assert not global_limits, "scope: global needs a redis: block"
        return
    redis = policy["redis"]
    assert global_limits, "a redis: block with no scope: global limit"
    # One Redis for every replica: a Service of this file, at the policy's address.
    host, port = split_address(redis["address"])
    svc = manifest.named("Service", host)
    assert any(p["port"] == port for p in svc["spec"]["ports"]), f"Service {host} has no port {port}"
    backends = [d for d in manifest.of_kind("Deployment") if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert len(backends) == 1 and backends[0] is not manifest.gateway, f"Service {host} must select the Redis Deployment"
    server = pod_spec(backends[0])["containers"][0]
    svc_target = [p.get("targetPort", p["port"]) for p in svc["spec"]["ports"] if p["port"] == port][0]
    assert port_number(server, svc_target) == 6379 or port_number(server, svc_target) == port
    # The fallback share: each instance gets limit/instances while Redis is down.
    assert redis.get("instances") == manifest.gateway["spec"]["replicas"], "redis.instances must equal the Deployment's replicas"
    assert redis.get("on_error", "local") in ("local", "allow", "deny")
    # The password: never in the ConfigMap, from a Secret through the environment.
    assert redis.get("password") == "${REDIS_PASSWORD}", "redis.password must be ${REDIS_PASSWORD}"
    ref = env_var(manifest.sluice, "REDIS_PASSWORD")
    assert ref and "secretKeyRef" in ref.get("valueFrom", {}), "sluice's REDIS_PASSWORD must come from a Secret"
    secret = ref["valueFrom"]["secretKeyRef"]
    server_ref = env_var(server, "REDIS_PASSWORD")
    assert server_ref and server_ref["valueFrom"]["secretKeyRef"] == secret, "Redis and sluice must use the same Secret key"
    argv = [str(x) for x in server.get("command", []) + server.get("args", [])]
    assert cli_option(argv, "--requirepass") == "$(REDIS_PASSWORD)", "Redis must require the Secret's password"


def test_cookbook_policies_pass_sluice_check(tmp_path):
    # docs/COOKBOOK.md promises that each of its yaml blocks is a complete, valid policy.
    binary = sluice_bin()
    if not os.access(binary, os.X_OK):
        unavailable(f"sluice binary not built: {binary}")
    text = (REPO / "docs" / "COOKBOOK.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) >= 4
    for i, block in enumerate(blocks):
        policy_file = tmp_path / f"cookbook-{i + 1}.yaml"
        policy_file.write_text(block)
        env = dict(os.environ, **{v: "test" for v in re.findall(r"\$\{([^}]+)\}", block)})
        proc = subprocess.run([str(binary), "-t", "-c", str(policy_file)], env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"COOKBOOK.md yaml block {i + 1} fails sluice -t:\n{proc.stdout}{proc.stderr}"


# ---- the Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions():
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def dockerfile_stages():
    stages = []
    for word, rest in dockerfile_instructions():
        if word == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append((word, rest))
    return stages


def dockerfile_uid():
    users = [rest for word, rest in dockerfile_stages()[-1] if word == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), "USER must be numeric for Kubernetes' runAsNonRoot check"
    return int(user)


def exec_form(rest):
    value = yaml.safe_load(rest)  # a JSON array is valid YAML
    assert isinstance(value, list), f"use the exec (JSON) form: {rest}"
    return value


def test_dockerfile_is_multi_stage_on_debian_12():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "build and runtime stages"
    for stage in stages:
        assert stage[0][1].split()[0] == "debian:12-slim", f"base image: {stage[0][1]}"
    build_name = stages[0][0][1].split()[-1]
    assert re.search(r"\bAS\b", stages[0][0][1], re.I), "name the build stage"
    runtime = stages[-1]
    copies = [rest for word, rest in runtime if word == "COPY" and f"--from={build_name}" in rest]
    assert any(rest.split()[-1] == "/usr/local/bin/sluice" for rest in copies), "copy the binary to /usr/local/bin/sluice"
    runtime_installs = " ".join(rest for word, rest in runtime if word == "RUN")
    assert not re.search(r"-dev\b|build-essential|meson|ninja", runtime_installs), "the runtime stage installs build tools"
    for lib in ("libh2o-evloop0.13", "libyaml-0-2", "libhiredis0.14", "libssl3", "ca-certificates"):
        assert lib in runtime_installs, f"the runtime stage lacks {lib}"


def test_dockerfile_runs_sluice_as_non_root():
    uid = dockerfile_uid()
    assert uid != 0
    runtime = dockerfile_stages()[-1]
    entry = [rest for word, rest in runtime if word == "ENTRYPOINT"]
    assert entry and exec_form(entry[-1]) == ["/usr/local/bin/sluice"], "ENTRYPOINT must be the sluice binary (exec form: PID 1)"
    cmd = [rest for word, rest in runtime if word == "CMD"]
    assert cmd and exec_form(cmd[-1]) == ["-c", "/etc/sluice/sluice.yaml"]
    exposed = {int(p.split("/")[0]) for word, rest in runtime if word == "EXPOSE" for p in rest.split()}
    for path in MANIFESTS:
        m = Manifest(path)
        assert {p["containerPort"] for p in m.sluice["ports"]} <= exposed, f"{path.name}: ports the image does not EXPOSE"


def meson_subdirs(directory=REPO):
    """Every directory meson descends into, relative to the repository root."""
    found = []
    for sub in re.findall(r"subdir\(\s*'([^']+)'\s*\)", (directory / "meson.build").read_text()):
        path = directory / sub
        found.append(path.relative_to(REPO).as_posix())
        if (path / "meson.build").exists():
            found += meson_subdirs(path)
    return found


def test_dockerignore_keeps_what_meson_needs():
    ignore = DEPLOY / "Dockerfile.dockerignore"
    assert ignore.exists(), "deploy/Dockerfile.dockerignore (the context is the repo root)"
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
    needed = ["meson.build"] + meson_subdirs() + [d + "/meson.build" for d in meson_subdirs()]
    assert len(needed) > 1
    for path in needed:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in patterns:
            if pattern.startswith("!"):
                continue
            bare = pattern.rstrip("/")
            assert not any(fnmatch.fnmatchcase(p, bare) for p in prefixes), f"{pattern!r} excludes {path}, which meson needs"
    assert any(p.rstrip("/") in (".git", "**/.git") for p in patterns), "keep .git out of the context"


# ---- Kubernetes schema validation --------------------------------------------------------------


def schema_check(*files):
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    if not (SCHEMA_CHECK / "node_modules" / "kubernetes-models").is_dir():
        unavailable("schema validator not installed: npm ci --prefix deploy/schema-check")
    return subprocess.run([node, str(SCHEMA_CHECK / "validate.mjs"), *map(str, files)], capture_output=True, text=True, timeout=120)


def test_manifests_match_the_kubernetes_schemas():
    proc = schema_check(*MANIFESTS)
    assert proc.returncode == 0, f"Kubernetes schema validation failed:\n{proc.stdout}{proc.stderr}"
    assert "0 invalid" in proc.stdout


def test_schema_check_catches_mistakes(tmp_path):
    # The validator must not pass everything: a misspelt probe, a misplaced field and a wrong
    # type in a copy of a real manifest must each be reported.
    docs = list(yaml.safe_load_all(MANIFESTS[0].read_text()))
    dep = next(d for d in docs if d and d.get("kind") == "Deployment")
    sluice = next(c for c in pod_spec(dep)["containers"] if c["name"] == "sluice")
    sluice["readinesProbe"] = sluice.pop("readinessProbe")
    pod_spec(dep)["readOnlyRootFilesystem"] = True
    sluice["ports"][0]["containerPort"] = "8080"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(docs))
    proc = schema_check(broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "must be integer" in proc.stdout
    # A failed type check stops the unknown-field pass for that document: check it separately.
    sluice["ports"][0]["containerPort"] = 8080
    broken.write_text(yaml.safe_dump_all(docs))
    proc = schema_check(broken)
    assert proc.returncode == 1
    assert 'unknown field "readinesProbe"' in proc.stdout and 'unknown field "readOnlyRootFilesystem"' in proc.stdout
