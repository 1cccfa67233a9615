"""The command line: `sluice -t -c FILE` reports every error of a file in one run as
`FILE:LINE:COL: message` and exits 1 (0 for a good file); `sluice -c BAD` refuses to start;
`sluice --version`."""
import re
import subprocess

from harness import SLUICE_BIN, free_port

BAD = (
    "upstreams:\n"                                                           # 1
    "  app: {address: 127.0.0.1:8000, connect_timeout: 5 seconds}\n"        # 2: bad duration
    "routes:\n"                                                              # 3
    "  - name: api\n"                                                        # 4
    "    upstream: nowhere\n"                                                # 5: unknown upstream
    "    tiemout: 5s\n"                                                      # 6: unknown key
    "  - name: other\n"                                                      # 7
    "    upstream: app\n"                                                    # 8
    "    timeout: 10 parsecs\n"                                              # 9: bad duration
)


def check(path):
    return subprocess.run([SLUICE_BIN, "-t", "-c", str(path)], capture_output=True, text=True, timeout=10)


def error_lines(out, path):
    """Lines that start like a positioned message about `path` (FILE:LINE:COL: or FILE:LINE:)."""
    prefix = re.compile(rf"^{re.escape(str(path))}:\d+:")
    return [line for line in (out.stderr + out.stdout).splitlines() if prefix.match(line)]


def test_check_reports_every_error_with_its_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    out = check(bad)
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    errors = error_lines(out, bad)
    positions = {}
    for line in errors:
        m = re.match(rf"^{re.escape(str(bad))}:(\d+):(\d+): (.+)$", line)
        assert m, f"not FILE:LINE:COL: message: {line!r}"
        positions.setdefault(int(m.group(1)), []).append((int(m.group(2)), m.group(3)))
    assert set(positions) >= {2, 5, 6, 9}, out.stderr

    col_of_value = BAD.splitlines()[1].index("5 seconds") + 1
    assert any(col == col_of_value and "connect_timeout" in msg for col, msg in positions[2]), positions[2]
    assert any(col == 15 and "nowhere" in msg and "upstream" in msg for col, msg in positions[5]), positions[5]
    assert any(col == 5 and "tiemout" in msg for col, msg in positions[6]), positions[6]
    assert any(col == 14 and "timeout" in msg for col, msg in positions[9]), positions[9]


def test_check_accepts_a_good_file(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        f"listen: 127.0.0.1:{free_port()}\n"
        "upstreams: {app: {address: 127.0.0.1:8000, connect_timeout: 250ms, read_timeout: 2m}}\n"
        "client: {header_timeout: 5s, max_body: 512KiB}\n"
        "routes:\n"
        "  - name: a\n"
        "    match: {path_prefix: /a, methods: [get, POST]}\n"
        "    upstream: app\n"
        "    timeout: 1h\n"
        "  - {name: b, upstream: app}\n"
    )
    out = check(good)
    assert out.returncode == 0, out.stderr
    assert not error_lines(out, good)


def test_check_resolves_upstream_names(tmp_path):
    # an upstream name that does not resolve would stop sluice at start: -t says so, with its
    # position; a Redis name is looked up at each connect, so it only gets a warning
    policy = tmp_path / "dns.yaml"
    policy.write_text(
        "upstreams:\n"
        "  app: {address: \"no-such-host.invalid:8000\"}\n"
        "  local: {address: \"localhost:8001\"}\n"
        "redis: {address: \"redis-nowhere.invalid:6379\"}\n"
        "routes: [{name: a, upstream: app}, {name: b, upstream: local}]\n"
    )
    out = check(policy)
    assert out.returncode == 1, (out.stdout, out.stderr)
    lines = error_lines(out, policy)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f'{policy}:2:18: upstream "app": cannot resolve "no-such-host.invalid": '), lines
    assert lines[1].startswith(f'{policy}:4:18: warning: redis: cannot resolve "redis-nowhere.invalid": '), lines
    assert f"sluice: {policy}: 1 error" in out.stderr

    policy.write_text(
        "upstreams: {local: {address: \"localhost:8001\"}}\n"
        "redis: {address: \"redis-nowhere.invalid:6379\"}\n"
        "routes: [{name: b, upstream: local}]\n"
    )
    out = check(policy)
    assert out.returncode == 0, out.stderr
    assert "warning: redis" in out.stderr


def test_check_refuses_what_cannot_work(tmp_path):
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        "listen: 127.0.0.1:8080\n"                                       # 1
        "admin: 127.0.0.1:8080\n"                                        # 2: the listener's address
        "upstreams:\n"                                                   # 3
        "  app: {address: 127.0.0.1:8000}\n"                             # 4
        "  connect_timeout: 1s\n"                                        # 5: mis-indented
        "routes:\n"                                                      # 6
        "  - name: a\n"                                                  # 7
        "    match: {path_prefix: /a/../b, host: api.example.com:80}\n"  # 8: never matches
        "    upstream: app\n"                                            # 9
        "    tiemout: 5s\n"                                              # 10: misspelt
    )
    out = check(policy)
    assert out.returncode == 1
    text = "\n".join(error_lines(out, policy))
    assert f"{policy}:2:8: admin: " in text, text
    assert f'{policy}:5:20: upstreams.connect_timeout: expected a mapping (an upstream), got a scalar; is "connect_timeout" meant to be indented under an upstream?' in text, text
    assert f"{policy}:8:26: match.path_prefix: " in text, text
    assert f"{policy}:8:41: match.host: holds a port" in text, text
    assert f'{policy}:10:5: unknown key "tiemout" in route (did you mean "timeout"?)' in text, text


def test_running_with_a_bad_file_refuses_to_start(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    try:
        out = subprocess.run([SLUICE_BIN, "-c", str(bad)], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("sluice started (or hung) with an invalid config")
    assert out.returncode != 0
    assert f"{bad}:5:15:" in out.stderr, out.stderr


def test_version():
    out = subprocess.run([SLUICE_BIN, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert re.match(r"^sluice \d+\.\d+\.\d+", out.stdout), out.stdout
