"""Shared fixtures and helpers for the sluice integration tests.

Every test runs the real binary (SLUICE_BIN, or src/sluice in the repo) in
its own tmp_path, with the admin server on an ephemeral port that the daemon
writes to service.http_port_file.  Every wait has a deadline; the only sleeps
are short poll steps.  Processes are stopped by PID only.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POLL = 0.05


def sluice_binary():
    """Path of the sluice binary under test."""
    return Path(os.environ.get("SLUICE_BIN") or REPO / "src" / "sluice")


@pytest.fixture(scope="session")
def sluice_bin():
    path = sluice_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"sluice binary not found at {path} (build it or set SLUICE_BIN)")
    return path


def wait_for(pred, timeout, what="condition", step=POLL):
    """Poll pred() until it returns a truthy value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def run_cli(*args, stdin=None, timeout=20, cwd=None, env=None):
    """Run the binary to completion; returns CompletedProcess (text mode)."""
    return subprocess.run([str(sluice_binary()), *map(str, args)], stdin=stdin
                          if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


# ---- files -----------------------------------------------------------------

def read_lines(path):
    """Complete lines of a file (bytes, without the newline); [] if absent."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    return lines[:-1]  # the last element is '' or an incomplete line


def count_lines(path):
    try:
        return Path(path).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_lines(path, n, timeout=30):
    """Wait until the file holds at least n complete lines; returns the lines."""
    wait_for(lambda: count_lines(path) >= n, timeout, f"{n} lines in {path} "
             f"(have {count_lines(path)})")
    return read_lines(path)


def read_ndjson(path):
    return [json.loads(line) for line in read_lines(path)]


def numbered_line(i, pad=60):
    """One NDJSON source line with a sequence number n=i."""
    return json.dumps({"n": i, "level": "info", "service": "test",
                       "msg": f"record {i} " + "x" * pad},
                      separators=(",", ":")) + "\n"


def write_ndjson(path, records):
    """Writes <records> (dicts) to <path> as compact NDJSON."""
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def tail_ts_input(log, tag="app.web"):
    """The parsers and inputs of a pipeline reading <log> from its head,
    JSON with the event time in "ts"; append an `  outputs:` section."""
    return f"""
parsers:
  - name: j
    format: json
    time_key: ts
pipeline:
  inputs:
    - name: tail
      tag: {tag}
      path: {yq(log)}
      read_from_head: on
      parser: j
"""


def write_numbered(path, start, stop, mode="a"):
    with open(path, mode) as f:
        f.write("".join(numbered_line(i) for i in range(start, stop)))


def assert_exactly_once(records, expected):
    """Every n in expected appears exactly once and nothing else appears."""
    ns = [r["n"] for r in records]
    seen = {}
    for n in ns:
        seen[n] = seen.get(n, 0) + 1
    missing = sorted(set(expected) - set(seen))
    dups = sorted(n for n, c in seen.items() if c > 1)
    extra = sorted(set(seen) - set(expected))
    assert not missing, f"{len(missing)} records missing, first: {missing[:10]}"
    assert not dups, f"{len(dups)} records duplicated, first: {dups[:10]}"
    assert not extra, f"unexpected records: {extra[:10]}"


def yq(value):
    """Quote a string as a YAML single-quoted scalar."""
    return "'" + str(value).replace("'", "''") + "'"


# ---- Prometheus text -------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """Prometheus text -> {(name, frozenset(labels.items())): float}."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line.strip())
        if not m:
            raise AssertionError(f"unparsable metrics line: {line!r}")
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric_sum(metrics, metric_name, /, **labels):
    """Sum of every sample of metric_name whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items()
               if n == metric_name and want <= set(ls))


# ---- the daemon ------------------------------------------------------------

class Sluice:
    """One sluice process with its config, log and admin port in a tmp dir.

    pipeline: YAML text of the `pipeline:` section (and any other top-level
    sections), written after a generated `service:` section.  service: extra
    service keys (dict of key -> YAML scalar text).
    """

    def __init__(self, tmp_path, pipeline, service=None, name="sluice",
                 admin=True, raw_config=None, cwd=None):
        self.dir = Path(tmp_path)
        self.name = name
        self.admin = admin
        self.config_path = self.dir / f"{name}.yaml"
        self.log_path = self.dir / f"{name}.stderr"
        self.stdout_path = self.dir / f"{name}.stdout"
        self.port_file = self.dir / f"{name}.port"
        self.cwd = cwd or self.dir
        self.proc = None
        self.port = None
        self.service = {"flush": "200ms", "grace": "5s", "log_level": "info",
                        "storage.path": yq(self.dir / f"{name}-storage")}
        if admin:
            self.service.update({"http_server": "on", "http_listen": "127.0.0.1",
                                 "http_port": "0", "http_port_file": yq(self.port_file)})
        self.service.update(service or {})
        self.config_path.write_text(raw_config if raw_config is not None
                                    else self.render(pipeline))

    def render(self, pipeline):
        lines = ["service:"] + [f"  {k}: {v}" for k, v in self.service.items()]
        return "\n".join(lines) + "\n" + pipeline.strip("\n") + "\n"

    # -- lifecycle --
    def start(self, stdin=None, wait=True):
        self.port_file.unlink(missing_ok=True)
        with open(self.log_path, "ab") as err, open(self.stdout_path, "ab") as out:
            self.proc = subprocess.Popen(
                [str(sluice_binary()), "-c", str(self.config_path)],
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=out, stderr=err, cwd=str(self.cwd))
        if wait and self.admin:
            self.wait_live()
        return self

    def wait_live(self, timeout=10):
        def port():
            self.check_running()
            try:
                text = self.port_file.read_text().strip()
            except FileNotFoundError:
                return None
            return int(text) if text.isdigit() and int(text) > 0 else None
        self.port = wait_for(port, timeout, f"{self.port_file} (log: {self.log_tail()})")
        wait_for(lambda: self.check_running() or self.http("/health/live")[0] == 200,
                 timeout, "/health/live == 200")

    def check_running(self):
        rc = self.proc.poll()
        if rc is not None:
            raise AssertionError(f"sluice exited with {rc}; log:\n{self.log_tail()}")
        return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sluice still running after {timeout}s")

    def stop(self, timeout=15):
        """SIGTERM, wait up to timeout, then SIGKILL (by PID). Returns rc."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"sluice ignored SIGTERM for {timeout}s")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def reload(self, config_text=None, pipeline=None):
        """Replace the config file and send SIGHUP."""
        if pipeline is not None:
            config_text = self.render(pipeline)
        if config_text is not None:
            tmp = self.config_path.with_suffix(".new")
            tmp.write_text(config_text)
            os.replace(tmp, self.config_path)
        self.proc.send_signal(signal.SIGHUP)

    # -- admin API --
    def http(self, path, timeout=3):
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
            return 0, str(e)

    def metrics_text(self):
        status, body = self.http("/metrics")
        assert status == 200, f"/metrics -> {status}: {body[:200]}"
        return body

    def metrics(self):
        return parse_prometheus(self.metrics_text())

    def metric(self, metric_name, /, **labels):
        return metric_sum(self.metrics(), metric_name, **labels)

    # -- own log --
    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_records(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_log(self, needle, timeout=10, start=0):
        """Wait for a log line (after byte offset start) containing needle."""
        def found():
            text = self.log_text()[start:]
            return next((l for l in text.splitlines() if needle in l), None)
        return wait_for(found, timeout, f"log line containing {needle!r}")


@pytest.fixture
def sluice_factory(tmp_path, sluice_bin):
    """Create Sluice instances; every one still running is stopped at teardown."""
    made = []

    def make(pipeline="", **kw):
        s = Sluice(tmp_path, pipeline, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        if s.running():
            try:
                s.stop()
            except AssertionError:
                s.kill()


# ---- TCP sink --------------------------------------------------------------

class HttpSink:
    """HTTP receiver on 127.0.0.1 that records every POST/PUT and answers
    from a script of statuses (then 200), after holding each request for
    `delay` seconds."""

    def __init__(self, delay=0.0):
        self.requests = []
        self.script = []
        self.delay = delay
        self.lock = threading.Lock()
        sink = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if sink.delay:
                    time.sleep(sink.delay)
                with sink.lock:
                    status = sink.script.pop(0) if sink.script else 200
                    sink.requests.append({"method": self.command, "path": self.path,
                                          "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ok(self):
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TcpSink:
    """Threaded TCP server on 127.0.0.1 that collects newline-framed lines.

    stop() closes the listener and every connection; start() listens again
    on the same port (SO_REUSEADDR), so an output sees an outage.
    """

    def __init__(self):
        self.port = 0
        self.lines = []
        self.lock = threading.Lock()
        self.listener = None
        self.conns = []
        self.threads = []
        self.connections = 0

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                s.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL)
        s.listen(16)
        self.port = s.getsockname()[1]
        self.listener = s
        t = threading.Thread(target=self._accept, args=(s,), daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
                self.connections += 1
            t = threading.Thread(target=self._read, args=(c,), daemon=True)
            t.start()

    def _read(self, c):
        buf = b""
        while True:
            try:
                data = c.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            *complete, buf = buf.split(b"\n")
            if complete:
                with self.lock:
                    self.lines.extend(complete)
        try:
            c.close()
        except OSError:
            pass

    def stop(self):
        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)
        self.threads = []

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def count(self):
        with self.lock:
            return len(self.lines)

    def records(self):
        return [json.loads(l) for l in self.snapshot()]


@pytest.fixture
def tcp_sink():
    sink = TcpSink().start()
    yield sink
    sink.stop()
