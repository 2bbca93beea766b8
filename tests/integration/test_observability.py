"""Observability and operations (issue 7): real Prometheus, Pushgateway and
Alertmanager; internal_metrics, self_logs, log_to_metrics, textfile and
slack; admin auth, tap and reload; the latency histogram."""

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (metric_sum, parse_prometheus, read_ndjson, sluice_binary,
                      wait_for, wait_lines, yq)


def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get_json(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def req(url, method="GET", token=None, timeout=3):
    r = urllib.request.Request(url, method=method)
    if token:
        r.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Peer:
    """A peer process started by a test, stopped by PID at teardown."""

    def __init__(self, args, log):
        self.log = log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def peers():
    started = []
    yield started
    for p in started:
        p.stop()


def wait_ready(url, peer, timeout=30):
    def ok():
        assert peer.proc.poll() is None, open(peer.log).read()[-2000:]
        try:
            return req(url)[0] == 200
        except OSError:
            return False
    wait_for(ok, timeout, url)


DUMMY = '{"level":"info","service":"checkout","msg":"hello"}'


def test_prometheus_scrapes_counters(sluice_factory, tmp_path, peers):
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus not installed")
    n = 300
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: app.web
      dummy: '{DUMMY}'
      rate: 0
      samples: {n}
  filters:
    - name: log_to_metrics
      match: 'app.*'
      metric_name: app_events
      label_field: [service]
  outputs:
    - name: null
      match: '*'
""")
    s.start()
    wait_for(lambda: s.metric("sluice_output_records_total", plugin="null") == n,
             20, "all records delivered")
    scrape = s.metrics_text()
    if shutil.which("promtool"):
        chk = subprocess.run(["promtool", "check", "metrics"], input=scrape,
                             capture_output=True, text=True, timeout=30)
        assert chk.returncode == 0, chk.stderr
    port = freeport()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ['127.0.0.1:{s.port}']
""")
    prom = Peer(["prometheus", f"--config.file={cfg}",
                 f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                tmp_path / "prometheus.log")
    peers.append(prom)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/-/ready", prom)

    def query(q):
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
        res = get_json(url)["data"]["result"]
        return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1])
                for r in res}

    # at least two scrapes (the first comes ~5 s after start)
    wait_for(lambda: sum(query('count_over_time(up{job="sluice"}[5m])').values()) >= 2,
             30, "two scrapes", step=0.5)
    v = query('sluice_input_records_total{name="dummy.0"}')
    assert list(v.values()) == [n]
    v = query('sluice_output_records_total{plugin="null"}')
    assert list(v.values()) == [n]
    v = query('app_events_total')
    assert len(v) == 1 and list(v.values()) == [n]
    assert '"service": "checkout"' in list(v.keys())[0]


def test_admin_auth_token(sluice_factory):
    s = sluice_factory("""
pipeline:
  inputs:
    - name: dummy
      rate: 5
  outputs:
    - name: null
      match: '*'
""", service={"http_auth_token": "t0ken"})
    s.start()
    base = f"http://127.0.0.1:{s.port}"
    assert req(base + "/health/live")[0] == 200
    for path in ("/metrics", "/api/v1/metrics", "/health", "/health/ready",
                 "/api/v1/storage"):
        code, body = req(base + path)
        assert code == 401, path
        assert "error" in json.loads(body)
        assert req(base + path, token="wrong")[0] == 401
        assert req(base + path, token="t0ken")[0] in (200, 503), path
    assert req(base + "/api/v1/reload", method="POST")[0] == 401
    # the token never reaches the log
    assert "t0ken" not in s.log_text()


def test_tap_streams_and_cli(sluice_factory):
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: app.web
      dummy: '{DUMMY}'
      rate: 50
    - name: dummy
      tag: other
      rate: 50
  filters:
    - name: modify
      match: 'app.*'
      add:
        - stage filtered
  outputs:
    - name: null
      match: '*'
""")
    s.start()
    url = f"http://127.0.0.1:{s.port}/api/v1/tap?match=app.*&limit=5"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"] == "application/x-ndjson"
        lines = r.read().decode().splitlines()
    assert len(lines) == 5
    for line in lines:
        ev = json.loads(line)
        assert ev["tag"] == "app.web"
        assert ev["record"]["service"] == "checkout"
        assert ev["record"]["stage"] == "filtered"   # after the filters
    out = subprocess.run([str(sluice_binary()), "tap", "--url",
                          f"http://127.0.0.1:{s.port}", "--match", "other",
                          "--limit", "3"], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, out.stderr
    got = [json.loads(l) for l in out.stdout.splitlines()]
    assert len(got) == 3 and all(g["tag"] == "other" for g in got)
    assert s.metric("sluice_admin_tap_records_total") >= 8
    # a client that goes away does not disturb the pipeline
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"GET /api/v1/tap HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.recv(100)
    sock.close()
    time.sleep(0.5)
    assert s.http("/health/live")[0] == 200


def test_tap_slots_of_departed_clients_are_freed(sluice_factory):
    """16 clients tap a tag that never comes, then hang up: their slots
    are freed without a record to write, and 16 new clients get in."""
    s = sluice_factory("""
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 20
  outputs:
    - name: null
      match: '*'
""")
    s.start()

    def open_tap():
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sock.sendall(b"GET /api/v1/tap?match=never.* HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock, sock.recv(200).split(b"\r\n", 1)[0]

    first = [open_tap() for _ in range(16)]
    assert all(status == b"HTTP/1.1 200 OK" for _, status in first)
    extra, status = open_tap()
    assert status.startswith(b"HTTP/1.1 503"), status
    extra.close()
    for sock, _ in first:
        sock.close()

    def sixteen_fit():
        socks = []
        try:
            for _ in range(16):
                sock, st = open_tap()
                socks.append(sock)
                if st != b"HTTP/1.1 200 OK":
                    return False
            return True
        finally:
            for sock in socks:
                sock.close()
    wait_for(sixteen_fit, 10, "16 tap slots free again", step=1.0)
    assert s.http("/health/live")[0] == 200


def test_reload_endpoint(sluice_factory):
    pipeline = """
pipeline:
  inputs:
    - name: dummy
      rate: 5
  outputs:
    - name: null
      match: '*'
"""
    s = sluice_factory(pipeline)
    s.start()
    base = f"http://127.0.0.1:{s.port}"
    code, body = req(base + "/api/v1/reload", method="POST")
    assert code == 200 and json.loads(body) == {"status": "reloaded"}
    assert req(base + "/api/v1/reload")[0] == 405
    s.config_path.write_text(s.render(pipeline.replace("rate: 5", "rate: 5\n      bogus_key: 1")))
    code, body = req(base + "/api/v1/reload", method="POST")
    assert code == 400, body
    doc = json.loads(body)
    assert doc["status"] == "error"
    assert any("bogus_key" in e for e in doc["errors"])
    assert s.http("/health/live")[0] == 200


def test_internal_metrics_self_logs_textfile(sluice_factory, tmp_path):
    mfile = tmp_path / "metrics.ndjson"
    lfile = tmp_path / "self.ndjson"
    rec_prom = tmp_path / "records.prom"
    own_prom = tmp_path / "daemon.prom"
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 0
      samples: 40
    - name: internal_metrics
      tag: imetrics
      scrape_interval: 300ms
    - name: self_logs
      tag: selflog
      level: info
  outputs:
    - name: file
      match: imetrics
      path: {yq(mfile)}
    - name: prometheus_textfile
      match: imetrics
      metrics_source: records
      path: {yq(rec_prom)}
    - name: prometheus_textfile
      match: nothing
      path: {yq(own_prom)}
      interval: 300ms
    - name: file
      match: selflog
      path: {yq(lfile)}
    - name: null
      match: app
""")
    s.start()

    def dummy_count():
        if not mfile.exists():
            return None
        vals = [r["value"] for r in read_ndjson(mfile)
                if r.get("metric") == "sluice_input_records_total"
                and r.get("name") == "dummy.0"]
        return vals and vals[-1] == 40
    wait_for(dummy_count, 15, "internal_metrics record with the dummy count")
    recs = read_ndjson(mfile)
    hist = [r for r in recs if r.get("metric_type") == "histogram"]
    assert hist and "+Inf" in hist[0]["buckets"] and "sum" in hist[0]
    assert all("metric" in r and "metric_type" in r for r in recs)
    # textfiles: valid exposition, atomically replaced
    wait_for(lambda: rec_prom.exists() and own_prom.exists(), 10, "prom files")
    wait_for(lambda: 'sluice_input_records_total{name="dummy.0",plugin="dummy"} 40'
             in rec_prom.read_text(), 10, "records textfile")
    for f in (rec_prom, own_prom):
        if shutil.which("promtool"):
            chk = subprocess.run(["promtool", "check", "metrics"],
                                 input=f.read_text(), capture_output=True,
                                 text=True, timeout=30)
            assert chk.returncode == 0, (f, chk.stderr)
    assert not [p for p in tmp_path.iterdir() if ".prom.tmp" in p.name]
    # self_logs: the daemon's own lines become records (reload logs some)
    s.reload()
    wait_for(lambda: lfile.exists() and any(
        "reloaded" in r.get("message", "") for r in read_ndjson(lfile)),
        15, "reload log line as a record")
    r = read_ndjson(lfile)[0]
    assert set(r) == {"level", "component", "message"}


def test_internal_metrics_to_influxdb(sluice_factory, tmp_path, peers):
    if shutil.which("influxd") is None or not shutil.which("influx"):
        pytest.skip("influxdb not installed")
    port, rpc = freeport(), freeport()
    d = tmp_path / "influx"
    d.mkdir()
    conf = d / "influxdb.conf"
    conf.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[monitor]
  store-enabled = false
""")
    db = Peer(["influxd", "-config", str(conf)], tmp_path / "influxd.log")
    peers.append(db)
    base = f"http://127.0.0.1:{port}"
    def ping():
        assert db.proc.poll() is None, open(db.log).read()[-2000:]
        try:
            return req(base + "/ping")[0] == 204
        except OSError:
            return False
    wait_for(ping, 30, "influxd ping")
    urllib.request.urlopen(urllib.request.Request(
        base + "/query", data=b"q=CREATE DATABASE sluice", method="POST"), timeout=5)
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 0
      samples: 25
    - name: internal_metrics
      tag: imetrics
      scrape_interval: 300ms
  outputs:
    - name: influxdb
      match: imetrics
      port: {port}
      database: sluice
      measurement: ${{metric}}
      tag_keys: [name, plugin]
    - name: null
      match: app
""")
    s.start()

    def value():
        q = urllib.parse.urlencode({"db": "sluice", "q":
             "SELECT last(value) FROM sluice_input_records_total WHERE \"name\"='dummy.0'"})
        doc = get_json(base + "/query?" + q)
        series = doc["results"][0].get("series")
        return series and series[0]["values"][0][1] == 25
    wait_for(value, 20, "internal metrics in influxdb", step=0.3)


def test_pushgateway_receives(sluice_factory, tmp_path, peers):
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.skip("prometheus-pushgateway not installed")
    port = freeport()
    pgw = Peer([binary, f"--web.listen-address=127.0.0.1:{port}",
                f"--persistence.file={tmp_path / 'pgw.data'}", "--log.level=warn"],
               tmp_path / "pgw.log")
    peers.append(pgw)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/-/ready", pgw)
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 0
      samples: 17
    - name: internal_metrics
      tag: imetrics
      scrape_interval: 300ms
  outputs:
    - name: pushgateway
      match: nothing
      port: {port}
      job: sluice
      instance: node/1
      interval: 300ms
    - name: pushgateway
      match: imetrics
      port: {port}
      job: sluice-records
      instance: n2
      method: POST
      metrics_source: records
    - name: null
      match: app
""")
    s.start()

    def pushed(job, instance):
        text = urllib.request.urlopen(base + "/metrics", timeout=3).read().decode()
        for (name, lbls), value in parse_prometheus(text).items():
            labels = dict(lbls)
            if (name == "sluice_input_records_total" and labels.get("job") == job
                    and labels.get("instance") == instance
                    and labels.get("name") == "dummy.0"):
                return value
        return None
    wait_for(lambda: pushed("sluice", "node/1") == 17, 20, "daemon push")
    wait_for(lambda: pushed("sluice-records", "n2") == 17, 20, "records push")
    groups = get_json(base + "/api/v1/metrics")["data"]
    assert any(g["labels"].get("instance") == "node/1" for g in groups)
    assert s.metric("sluice_output_errors_total", plugin="pushgateway") == 0


def test_alertmanager_receives(sluice_factory, tmp_path, peers):
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager not installed")
    port = freeport()
    cfg = tmp_path / "am.yml"
    cfg.write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    am = Peer([binary, f"--config.file={cfg}", f"--storage.path={tmp_path / 'am'}",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
               "--log.level=warn"], tmp_path / "am.log")
    peers.append(am)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/-/ready", am)
    body = '{"service":"checkout","message":"payment failed","code":503}'
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: alerts
      dummy: '{body}'
      samples: 1
  outputs:
    - name: alertmanager
      match: alerts
      port: {port}
      alertname: CheckoutErrors
      labels:
        severity: critical
      label_key: [service]
      annotation_key: [code]
      summary: "${{service}}: ${{message}}"
      generator_url: http://sluice.example/
""")
    s.start()

    def alerts():
        return [a for a in get_json(base + "/api/v2/alerts")
                if a["labels"].get("alertname") == "CheckoutErrors"]
    got = wait_for(alerts, 20, "alert in alertmanager")
    a = got[0]
    assert a["labels"] == {"alertname": "CheckoutErrors", "severity": "critical",
                           "service": "checkout"}
    assert a["annotations"] == {"summary": "checkout: payment failed", "code": "503"}
    assert a["generatorURL"] == "http://sluice.example/"
    assert a["status"]["state"] == "active"


class _Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        with srv.lock:
            srv.calls += 1
            call = srv.calls
        if srv.delay:
            time.sleep(srv.delay)
        if call <= srv.fail_first:
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with srv.lock:
            srv.bodies.append((self.path, time.time(), body))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def sink(delay=0, fail_first=0):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    srv.lock = threading.Lock()
    srv.calls, srv.bodies = 0, []
    srv.delay, srv.fail_first = delay, fail_first
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_slack_webhook_retry_after(sluice_factory):
    srv = sink(fail_first=1)
    try:
        port = srv.server_address[1]
        s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: ops
      dummy: '{{"message":"disk <full> & slow"}}'
      samples: 1
  outputs:
    - name: slack
      match: ops
      webhook: http://127.0.0.1:{port}/services/T000/B000/SECRETXYZ
      text: "*alert* ${{message}}"
      retry_base: 100ms
""")
        t0 = time.time()
        s.start()
        wait_for(lambda: srv.bodies, 20, "slack message")
        path, when, body = srv.bodies[0]
        assert path == "/services/T000/B000/SECRETXYZ"
        assert json.loads(body) == {"text": "*alert* disk &lt;full&gt; &amp; slow"}
        assert srv.calls == 2 and when - t0 >= 1.0   # honoured Retry-After: 1
        assert "SECRETXYZ" not in s.log_text()
    finally:
        srv.shutdown()


def _latency(sluice_factory, tmp_path, delay, name):
    srv = sink(delay=delay)
    try:
        s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 20
      samples: 30
  outputs:
    - name: http
      match: app
      port: {srv.server_address[1]}
      uri: /in
      retry_base: 100ms
""", name=name)
        s.start()
        wait_for(lambda: s.metric("sluice_output_records_total", plugin="http") == 30,
                 30, "delivered")
        m = s.metrics()
        buckets = {}
        for (n, lbls), v in m.items():
            labels = dict(lbls)
            if n == "sluice_output_latency_seconds_bucket" and labels.get("plugin") == "http":
                buckets[labels["le"]] = buckets.get(labels["le"], 0) + v
        req_b = {}
        for (n, lbls), v in m.items():
            labels = dict(lbls)
            if n == "sluice_output_request_duration_seconds_bucket" and labels.get("plugin") == "http":
                req_b[labels["le"]] = req_b.get(labels["le"], 0) + v
        s.stop()
        return buckets, req_b
    finally:
        srv.shutdown()


def p50_bucket(buckets):
    total = buckets["+Inf"]
    les = sorted((float(k), v) for k, v in buckets.items() if k != "+Inf")
    return next(le for le, v in les if v >= total / 2)


def test_latency_histogram_moves_with_slow_output(sluice_factory, tmp_path):
    fast, fast_req = _latency(sluice_factory, tmp_path, 0, "fast")
    slow, slow_req = _latency(sluice_factory, tmp_path, 0.2, "slow")
    assert fast["+Inf"] == 30 and slow["+Inf"] == 30
    # every slow request takes >= 200 ms: nothing in the buckets below it
    assert slow["0.1"] == 0 and slow_req["0.1"] == 0
    assert p50_bucket(slow) >= 0.25 > p50_bucket(fast) or \
        p50_bucket(slow) > p50_bucket(fast)
    assert p50_bucket(slow_req) >= 0.25 and p50_bucket(fast_req) <= 0.1
