"""The overload-adaptive scenario of bench/run: a backend of fixed capacity C, offered ten times
what it can serve, whose capacity changes mid-run; sluice `limit: auto` against the best fixed
limit (C), a poor one (4C), HAProxy's maxconn + queue at C, and no gate at all.

The backend is the Tornado test app's GET /capacity-work?ms=S: at most C handlers at a time hold
a gate for S ms, the others queue for it inside the app in arrival order, as handlers of a real
app queue for a pool of C database connections. POST /capacity?c=N changes C while it runs.
The load is open (bench/loadgen -r): RATE requests a second whatever the answers, so a gate that
sheds fast does not get more load for it. Each contender runs the same timeline: C for PHASE
seconds, then C/2, then 2C. loadgen writes every response (-o); the limit is read from sluice's
/limits four times a second. Targets (DESIGN.md, Performance): goodput at least 90% of C/S and
p99 of admitted requests under 3 S; within 10% of the new goodput less than 5 s after a change;
no burst of 503s while adapting.
"""
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request

C, S_MS, PHASE_S = 24, 100, 10
RATE = 10 * C * 1000 // S_MS  # offered: 10 x C/S
ROOM = C // 4  # the waiting room (and HAProxy's queue) of every gate: a quarter of S of waiting at C
CONNECTIONS = 512
PATH = f"/capacity-work?ms={S_MS}"
PHASES = [(0, C), (PHASE_S, C // 2), (2 * PHASE_S, 2 * C)]  # (start s, capacity)
DURATION = 3 * PHASE_S
BUCKET = 0.5  # seconds, for the series and the adaptation figures
TITLE = (f"Overload with a changing capacity: a backend of capacity C={C} ({S_MS} ms each), offered 10 x C/S = {RATE}/s; "
         f"C becomes {C // 2} at {PHASE_S} s and {2 * C} at {2 * PHASE_S} s (bench/loadgen -r)")
BEGIN, END = "<!-- overload-adaptive: written by bench/run -->", "<!-- /overload-adaptive -->"


def http(method, url, timeout=5):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def sluice_config(port, admin, backend, limit):
    concurrency = (f"{{limit: auto, queue: {{size: {ROOM}, timeout: 1s}}}}" if limit == "auto"
                   else f"{{limit: {limit}, queue: {{size: {ROOM}, timeout: 1s}}}}")
    return (f"listen: 127.0.0.1:{port}\nadmin: 127.0.0.1:{admin}\n"
            f"upstreams:\n  app: {{address: 127.0.0.1:{backend}, keepalive: 1024, max_connections: 1024}}\n"
            f"routes:\n  - name: work\n    upstream: app\n    timeout: 30s\n    concurrency: {concurrency}\n")


def haproxy_config(port, backend):
    return (
        "global\n  nbthread 1\n  maxconn 4096\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n"
        f"frontend f\n  bind 127.0.0.1:{port}\n  http-request deny deny_status 503 if {{ queue(b) ge {ROOM} }}\n"
        "  default_backend b\n"
        f"backend b\n  http-reuse always\n  timeout queue 1s\n  server s1 127.0.0.1:{backend} maxconn {C}\n"
    )


def contenders(workdir, sluice_bin, backend):
    """(name, port, admin port or None, argv or None, what it is)."""

    def cfg(name, text):
        path = os.path.join(workdir, f"overload-adaptive-{name}")
        with open(path, "w") as f:
            f.write(text)
        return path

    out = []
    for i, (name, limit, what) in enumerate([
        ("sluice-auto", "auto", f"limit: auto (defaults: min 1, max 1000, initial 16), room {ROOM}"),
        ("sluice-C", C, f"limit {C} (the best fixed limit for the first phase), room {ROOM}"),
        ("sluice-4C", 4 * C, f"limit {4 * C} (a poor fixed limit), room {ROOM}"),
    ]):
        port = 18220 + 2 * i
        out.append((name, port, port + 1, [sluice_bin, "-c", cfg(f"{name}.yaml", sluice_config(port, port + 1, backend, limit))], what))
    out.append(("haproxy", 18226, None, ["haproxy", "-db", "-f", cfg("haproxy.cfg", haproxy_config(18226, backend))],
                f"server maxconn {C}, 503 when {ROOM} wait, timeout queue 1s"))
    out.append(("no-gate", backend, None, None, "loadgen straight to the backend"))
    return out


def run_one(name, port, admin, backend, loadgen_bin, workdir):
    """One run of the timeline against one contender: every response, and the limit over time."""
    base = f"http://127.0.0.1:{backend}"
    http("POST", f"{base}/capacity?c={C}")
    responses = os.path.join(workdir, f"overload-adaptive-{name}.responses")
    limits, stop = [], threading.Event()
    argv = [loadgen_bin, "-c", str(CONNECTIONS), "-d", str(DURATION), "-r", str(RATE), "-o", responses, "-p", PATH,
            f"127.0.0.1:{port}"]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def timeline():
        for at, capacity in PHASES[1:]:
            if stop.wait(max(0.0, start + at - time.monotonic())):
                return
            http("POST", f"{base}/capacity?c={capacity}")

    def watch():
        while not stop.is_set() and time.monotonic() - start < DURATION:
            try:
                state = http("GET", f"http://127.0.0.1:{admin}/limits")["routes"][0]["concurrency"][0]
                limits.append((time.monotonic() - start, state["limit"]))
            except OSError:
                pass
            stop.wait(0.25)

    threads = [threading.Thread(target=timeline)] + ([threading.Thread(target=watch)] if admin else [])
    for t in threads:
        t.start()
    out, err = proc.communicate(timeout=DURATION + 60)
    stop.set()
    for t in threads:
        t.join()
    if proc.returncode != 0:
        raise SystemExit(f"loadgen failed against {name}: {err}")
    summary = dict(pair.split("=") for pair in out.split())
    with open(responses) as f:
        rows = [(int(t) / 1000, int(us) / 1000, c) for t, us, c in (line.split() for line in f)]
    # the backend's queue drains before the next contender (no gate leaves one)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = http("GET", f"{base}/capacity")
        if state["running"] == 0 and state["waiting"] == 0:
            break
        time.sleep(0.2)
    return {"rows": rows, "limits": limits, "summary": summary}


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(p * (len(sorted_values) - 1) + 0.5))]


def analyse(run):
    """Per phase: goodput, p50/p99 of the admitted, shed/s (whole phase, and its last half: the
    steady state); per change: when the goodput came within 10% of the new capacity's, the lowest
    goodput and the most 503s in any half second of the 5 s after it."""
    rows = run["rows"]
    phases = []
    for k, (at, capacity) in enumerate(PHASES):
        end = PHASES[k + 1][0] if k + 1 < len(PHASES) else DURATION
        ideal = capacity * 1000 / S_MS

        def figures(t0, t1):
            ok = sorted(ms for t, ms, c in rows if t0 <= t < t1 and c == "o")
            shed = sum(1 for t, ms, c in rows if t0 <= t < t1 and c == "s")
            return {"goodput": len(ok) / (t1 - t0), "p50": percentile(ok, 0.5), "p99": percentile(ok, 0.99),
                    "shed": shed / (t1 - t0)}

        phase = {"capacity": capacity, "ideal": ideal, "all": figures(at, end), "steady": figures((at + end) / 2, end)}
        buckets = []
        t = at
        while t + BUCKET <= end + 1e-9:
            buckets.append(figures(t, t + BUCKET))
            t += BUCKET
        if k > 0:
            within = None
            for i in range(len(buckets) - 1):
                g = (buckets[i]["goodput"] + buckets[i + 1]["goodput"]) / 2  # one second
                if abs(g - ideal) <= 0.1 * ideal:
                    within = i * BUCKET
                    break
            first = buckets[: int(5 / BUCKET)]
            phase["recovery_s"] = within
            phase["min_goodput_after"] = min(b["goodput"] for b in first)
            phase["max_shed_after"] = max(b["shed"] for b in first)
            # what even the lower of the two capacities justifies refusing
            phase["expected_shed"] = RATE - min(ideal, PHASES[k - 1][1] * 1000 / S_MS)
        phases.append(phase)
    series = []
    t = 0.0
    while t + 1 <= DURATION + 1e-9:
        ok = sorted(ms for tt, ms, c in rows if t <= tt < t + 1 and c == "o")
        series.append((t + 1, len(ok), percentile(ok, 0.99)))
        t += 1
    return {"phases": phases, "series": series, "limits": run["limits"], "summary": run["summary"],
            "other": int(run["summary"]["other"]) + int(run["summary"]["errors"]), "unsent": int(run["summary"].get("unsent", 0))}


def run_scenario(procs, workdir, sluice_bin, loadgen_bin, backend, wait_for_port):
    print(f"\n== overload-adaptive: C={C}, S={S_MS} ms, {RATE}/s offered, capacity {C} -> {C // 2} -> {2 * C}", flush=True)
    results = []
    for name, port, admin, argv, what in contenders(workdir, sluice_bin, backend):
        proc = None
        if argv is not None:
            proc = procs.start(f"overload-adaptive-{name}", argv)
            wait_for_port(port, proc)
        try:
            res = analyse(run_one(name, port, admin, backend, loadgen_bin, workdir))
        finally:
            if proc is not None:
                procs.stop(proc)
        res["name"], res["what"] = name, what
        results.append(res)
        cells = []
        for p in res["phases"]:
            st = p["steady"]
            cells.append(f"C={p['capacity']}: {st['goodput']:.0f}/s p99 {fmt_ms(st['p99'])}"
                         + (f", within 10% after {fmt_s(p['recovery_s'])}" if "recovery_s" in p else ""))
        print(f"  {name:12s} " + "; ".join(cells), flush=True)
    return {"scenario": "overload-adaptive", "contenders": results}


def fmt_ms(v):
    return "-" if v is None else f"{v:.0f} ms"


def fmt_s(v):
    return "never" if v is None else f"{v:.1f} s"


def verdicts(res):
    """The targets, for sluice-auto: (what, measured, met)."""
    auto = next(r for r in res["contenders"] if r["name"] == "sluice-auto")
    out = []
    for p in auto["phases"]:
        st = p["steady"]
        out.append((f"goodput >= 90% of C/S at C={p['capacity']} (steady half)", f"{st['goodput']:.0f}/s of {p['ideal']:.0f}/s "
                    f"({st['goodput'] / p['ideal']:.0%})", st["goodput"] >= 0.9 * p["ideal"]))
        out.append((f"p99 admitted < 3 S = {3 * S_MS} ms at C={p['capacity']} (steady half)", fmt_ms(st["p99"]),
                    st["p99"] is not None and st["p99"] < 3 * S_MS))
    for p in auto["phases"][1:]:
        out.append((f"within 10% of the new goodput < 5 s after C -> {p['capacity']}", fmt_s(p["recovery_s"]),
                    p["recovery_s"] is not None and p["recovery_s"] < 5))
        out.append((f"no burst of 503s after C -> {p['capacity']} (most 503/s in a half second, vs offered - the lower capacity)",
                    f"{p['max_shed_after']:.0f}/s vs {p['expected_shed']:.0f}/s; lowest goodput {p['min_goodput_after']:.0f}/s",
                    p["max_shed_after"] <= 1.1 * p["expected_shed"]))
    return out


def markdown(res):
    lines = [BEGIN, f"## {TITLE}", "",
             f"One run of {DURATION} s per contender, {CONNECTIONS} connections, the contenders one after the other on the "
             f"same backend. Figures per phase: goodput (200s per second), p50/p99 of the admitted requests (arrival to "
             f"response, the waiting room included), refusals (503) per second; `steady` is the last {PHASE_S // 2} s of "
             f"the phase. `within 10%`: from the change until a second whose goodput is within 10% of the new C/S.", "",
             "![overload-adaptive](overload-adaptive.png)", ""]
    header = "| contender |"
    rule = "|---|"
    for at, capacity in PHASES:
        header += f" C={capacity}: goodput (steady) | p50 / p99 (steady) | 503/s |"
        rule += "---:|---:|---:|"
        if at:
            header += " within 10% |"
            rule += "---:|"
    lines += [header, rule]
    for r in res["contenders"]:
        row = f"| {r['name']} |"
        for p in r["phases"]:
            a, st = p["all"], p["steady"]
            row += (f" {a['goodput']:.0f} ({st['goodput']:.0f}) | {fmt_ms(a['p50'])} / {fmt_ms(a['p99'])} "
                    f"({fmt_ms(st['p50'])} / {fmt_ms(st['p99'])}) | {a['shed']:.0f} |")
            if "recovery_s" in p:
                row += f" {fmt_s(p['recovery_s'])} |"
        lines.append(row)
    lines.append("")
    lines += [f"- {r['name']}: {r['what']}" + (f"; {r['other']} other statuses or errors" if r["other"] else "")
              + (f"; {r['unsent']} arrivals found every connection busy" if r["unsent"] else "") for r in res["contenders"]]
    steady = [median_limit(res, "sluice-auto", (at + end) / 2, end)
              for (at, _), end in zip(PHASES, [p[0] for p in PHASES[1:]] + [DURATION])]
    lines.append("- sluice-auto's limit, median of the steady half of each phase: "
                 + ", ".join(f"{v:.0f} at C={c}" for v, (_, c) in zip(steady, PHASES) if v is not None))
    lines += ["", "Targets for `limit: auto` (DESIGN.md, Performance):", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {what} | {measured} | {'yes' if met else '**no**'} |" for what, measured, met in verdicts(res)]
    lines += ["", END, ""]
    return "\n".join(lines)


def splice(old_text, section):
    """RESULTS.md with this scenario's section replaced (or added at the end)."""
    if BEGIN in old_text and END in old_text:
        head, rest = old_text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        return head + section + ("\n" + tail if tail else "")
    return old_text.rstrip("\n") + "\n\n" + section


def kept_section(old_text):
    """The section of an earlier run, for a run that rewrites RESULTS.md without this scenario."""
    if BEGIN in old_text and END in old_text:
        return BEGIN + old_text.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def write_chart(res, path, workdir):
    """Goodput and p99 of the admitted per second for each contender, the capacity's goodput, and
    the limit over time of the sluice contenders."""
    names = [r["name"] for r in res["contenders"]]
    series = os.path.join(workdir, "overload-adaptive-series.dat")
    with open(series, "w") as f:
        for r in res["contenders"]:
            f.write(f"# {r['name']}\n")
            for t, ok, p99 in r["series"]:
                f.write(f"{t} {ok} {p99 if p99 is not None else '-'}\n")
            f.write("\n\n")
    ideal = os.path.join(workdir, "overload-adaptive-ideal.dat")
    with open(ideal, "w") as f:
        for k, (at, capacity) in enumerate(PHASES):
            end = PHASES[k + 1][0] if k + 1 < len(PHASES) else DURATION
            f.write(f"{at} {capacity * 1000 / S_MS}\n{end} {capacity * 1000 / S_MS}\n")
    limits = os.path.join(workdir, "overload-adaptive-limits.dat")
    limit_names = [r["name"] for r in res["contenders"] if r["limits"]]
    with open(limits, "w") as f:
        for r in res["contenders"]:
            if r["limits"]:
                f.write(f"# {r['name']}\n" + "".join(f"{t:.2f} {v}\n" for t, v in r["limits"]) + "\n\n")
    capacity = os.path.join(workdir, "overload-adaptive-capacity.dat")
    with open(capacity, "w") as f:
        for k, (at, c) in enumerate(PHASES):
            end = PHASES[k + 1][0] if k + 1 < len(PHASES) else DURATION
            f.write(f"{at} {c}\n{end} {c}\n")
    plots = ", ".join(f"'{series}' index {i} using 1:2 with linespoints title '{n}'" for i, n in enumerate(names))
    p99s = ", ".join(f"'{series}' index {i} using 1:3 with linespoints title '{n}'" for i, n in enumerate(names))
    lims = ", ".join(f"'{limits}' index {i} using 1:2 with steps title '{n}'" for i, n in enumerate(limit_names))
    script = [
        f"set terminal pngcairo size 1200,1100 font 'sans,10'\nset output '{path}'",
        "set datafile missing '-'\nset grid\nset key outside right\nset xrange [0:%d]" % DURATION,
        "set multiplot layout 3,1",
        f"set title 'goodput (200/s, per second); black: what the backend can serve (C/S)'\nset ylabel '200/s'\nset yrange [0:*]",
        f"plot '{ideal}' using 1:2 with lines lw 2 lc rgb 'black' title 'C/S', {plots}",
        f"set title 'p99 of the admitted requests, per second (log scale); target: under 3 S = {3 * S_MS} ms'\nset ylabel 'ms'\nset logscale y",
        f"plot {3 * S_MS} with lines lw 2 lc rgb 'black' title '3 S', {p99s}",
        "unset logscale y\nset title 'concurrency limit over time (sluice /limits); black: the capacity C'\nset ylabel 'limit'\nset xlabel 's'",
        f"plot '{capacity}' using 1:2 with lines lw 2 lc rgb 'black' title 'C', {lims}",
        "unset multiplot",
    ]
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)


def median_limit(res, name, t0, t1):
    values = [v for t, v in next(r for r in res["contenders"] if r["name"] == name)["limits"] if t0 <= t < t1]
    return statistics.median(values) if values else None
