"""The influxdb output against a real influxd 1.6.7 (test-peers.md section 1).

Each test starts its own influxd (config in tmp_path, bounded wait on
/ping), runs tail -> influxdb and reads the points back with the /query API
(epoch=ns), comparing field by field: strings with quotes, commas, spaces,
backslashes and newlines, booleans, integers, floats, tags and nanosecond
times.  Also: auth-enabled mode (basic and query credentials, wrong
password kept and retried), a missing database (clear error, nothing lost
once it exists), and a partial write that rejects only the bad point.
"""

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import tail_ts_input, wait_for, write_ndjson, yq
from test_out_splunk import certs, mkcerts  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("influxd") is None,
                                reason="influxd (Debian influxdb) not installed")

T0 = 1795236000123456789  # ns


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Influxd:
    def __init__(self, tmp_path, auth=False, tls=None):
        self.dir = tmp_path / "influx"
        self.dir.mkdir()
        self.port = free_port()
        self.auth = auth
        self.cred = None
        conf = self.dir / "influxdb.conf"
        conf.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.dir}/meta"
[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if auth else "false"}
  https-enabled = {"true" if tls else "false"}
  https-certificate = "{tls / 'server.pem' if tls else ''}"
  https-private-key = "{tls / 'server.key' if tls else ''}"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
[continuous_queries]
  enabled = false
""")
        self.log = open(self.dir / "influxd.log", "wb")
        self.ctx = None
        if tls:
            import ssl
            self.ctx = ssl.create_default_context(cafile=str(tls / "ca.pem"))
        self.scheme = "https" if tls else "http"
        self.proc = subprocess.Popen(["influxd", "run", "-config", str(conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT)

        def ping():
            if self.proc.poll() is not None:
                raise AssertionError("influxd exited: " +
                                     (self.dir / "influxd.log").read_text())
            try:
                with urllib.request.urlopen(f"{self.base}/ping", timeout=1,
                                            context=self.ctx) as r:
                    return r.status == 204
            except OSError:
                return False
        wait_for(ping, 15, "influxd /ping")
        if auth:
            self.query("CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES",
                       post=True)
            self.cred = ("admin", "s3cret")

    @property
    def base(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def query(self, q, db=None, post=False):
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        auth = ""
        if self.cred:
            auth = "?" + urllib.parse.urlencode({"u": self.cred[0], "p": self.cred[1]})
        data = urllib.parse.urlencode(params).encode()
        if post:
            req = urllib.request.Request(f"{self.base}/query{auth}", data=data)
        else:
            req = urllib.request.Request(f"{self.base}/query?{data.decode()}"
                                         + auth.replace("?", "&"))
        with urllib.request.urlopen(req, timeout=5, context=self.ctx) as r:
            return json.loads(r.read())

    def points(self, q, db="logs"):
        res = self.query(q, db)["results"][0]
        out = []
        for series in res.get("series", []):
            for row in series["values"]:
                out.append(dict(zip(series["columns"], row)))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def influxd(tmp_path):
    s = Influxd(tmp_path)
    yield s
    s.stop()


RECORDS = [
    {"ts": T0, "host": "web 01", "level": "error",
     "msg": 'disk "sda" 95%, full\nsecond line', "path": "C:\\logs\\",
     "count": 3, "ratio": 0.25, "ok": True, "bad": False,
     "req": {"method": "GET", "ms": 12}, "list": [1, "a"], "none": None,
     "eq=key, x": "v=1"},
    {"ts": T0 + 1, "host": "web,02", "level": "info", "msg": "plain",
     "count": -7, "ratio": 1e3, "ok": False},
]


def pipeline(tmp_path, port, extra="", recs=RECORDS):
    log = tmp_path / "in.log"
    write_ndjson(log, recs)
    return tail_ts_input(log) + f"""  outputs:
    - name: influxdb
      match: '*'
      port: {port}
      database: logs
      measurement: events
      tag_keys: [host, level]
      retry_base: 200ms
      retry_max: 1s
{extra}
"""


def test_fields_tags_types_and_ns_times_read_back(sluice_factory, tmp_path, influxd):
    influxd.query("CREATE DATABASE logs", post=True)
    sluice_factory(pipeline(tmp_path, influxd.port)).start()
    pts = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(
        influxd.points("SELECT * FROM events")), 15, "two points")
    a, b = pts
    assert a["time"] == T0 and b["time"] == T0 + 1
    assert a["host"] == "web 01" and a["level"] == "error"
    assert b["host"] == "web,02" and b["level"] == "info"
    assert a["msg"] == 'disk "sda" 95%, full\nsecond line'
    assert a["path"] == "C:\\logs\\"
    assert a["count"] == 3 and b["count"] == -7
    assert a["ratio"] == 0.25 and b["ratio"] == 1000.0
    assert a["ok"] is True and a["bad"] is False and b["ok"] is False
    assert a["req.method"] == "GET" and a["req.ms"] == 12
    assert a["list"] == '[1,"a"]'
    assert a["eq=key, x"] == "v=1"
    assert "none" not in a or a["none"] is None
    # stored types: integers as integer, ratio as float, ok as boolean
    keys = influxd.points("SHOW FIELD KEYS FROM events")
    types = {k["fieldKey"]: k["fieldType"] for k in keys}
    assert types["count"] == "integer" and types["req.ms"] == "integer"
    assert types["ratio"] == "float" and types["ok"] == "boolean"
    assert types["msg"] == "string"


def test_auth_basic_query_and_wrong_password(sluice_factory, tmp_path):
    ix = Influxd(tmp_path, auth=True)
    try:
        ix.query("CREATE DATABASE logs", post=True)
        s = sluice_factory(pipeline(tmp_path, ix.port, """      user: admin
      password: wrong""", recs=RECORDS[1:]), name="bad").start()
        s.wait_log("401", timeout=10)
        assert ix.points("SELECT * FROM events") == []
        assert "wrong" not in s.log_text()
        s.stop()
        for method in ("basic", "query"):
            rec = dict(RECORDS[1], ts=T0 + (10 if method == "basic" else 20),
                       level=method)
            (tmp_path / method).mkdir()
            s = sluice_factory(pipeline(tmp_path / method, ix.port,
                                        f"""      user: admin
      password: s3cret
      auth_method: {method}""", recs=[rec]), name=method).start()
            wait_for(lambda: ix.points(
                f"SELECT * FROM events WHERE level = '{method}'"), 15,
                f"{method} point")
            assert "s3cret" not in s.log_text()
            s.stop()
    finally:
        ix.stop()


def test_missing_database_is_a_clear_error_and_nothing_is_lost(
        sluice_factory, tmp_path, influxd):
    s = sluice_factory(pipeline(tmp_path, influxd.port)).start()
    line = s.wait_log("database not found", timeout=10)
    assert "does not exist" in line
    time.sleep(0.5)
    assert s.metric("sluice_output_dropped_records_total") == 0
    influxd.query("CREATE DATABASE logs", post=True)
    wait_for(lambda: len(influxd.points("SELECT * FROM events")) == 2, 20,
             "points after CREATE DATABASE")


def dlq_text(tmp_path):
    return "".join(p.read_text() for p in
                   (tmp_path / "sluice-storage" / "dlq").rglob("*.ndjson"))


def test_partial_write_rejects_only_the_conflicting_point(
        sluice_factory, tmp_path, influxd):
    influxd.query("CREATE DATABASE logs", post=True)
    # v is already an integer: the string point of the batch conflicts
    req = urllib.request.Request(f"{influxd.base}/write?db=logs",
                                 data=f"events,host=h v=0i {T0 - 1}".encode())
    urllib.request.urlopen(req, timeout=5).close()
    recs = [{"ts": T0 + i, "host": "h", "v": 1} for i in range(3)]
    recs[1]["v"] = "text"
    s = sluice_factory(pipeline(tmp_path, influxd.port, recs=recs)).start()
    wait_for(lambda: s.metric("sluice_output_dlq_records_total") == 1, 15,
             "one dead-lettered point")
    pts = influxd.points("SELECT * FROM events")
    assert [p["time"] for p in pts] == [T0 - 1, T0, T0 + 2]
    dlq = dlq_text(tmp_path)
    assert dlq.count("\n") == 1 and "partial write: field type conflict" in dlq
    assert json.loads(dlq)["record"] == {"host": "h", "v": "text"}
    assert s.metric("sluice_influxdb_rejected_points_total") == 1


def test_conflict_inside_one_batch_is_isolated_by_halves(
        sluice_factory, tmp_path, influxd):
    influxd.query("CREATE DATABASE logs", post=True)
    recs = [{"ts": T0 + i, "host": "h", "v": 1} for i in range(4)]
    recs[2]["v"] = "text"
    s = sluice_factory(pipeline(tmp_path, influxd.port, recs=recs)).start()
    wait_for(lambda: s.metric("sluice_output_dlq_records_total") == 1, 15,
             "one dead-lettered point")
    pts = influxd.points("SELECT * FROM events")
    assert [p["time"] for p in pts] == [T0, T0 + 1, T0 + 3]
    assert json.loads(dlq_text(tmp_path))["record"]["v"] == "text"


def test_tls_with_test_ca_and_wrong_ca(sluice_factory, tmp_path, certs):
    ix = Influxd(tmp_path, tls=certs)
    try:
        ix.query("CREATE DATABASE logs", post=True)
        (tmp_path / "ok").mkdir()
        (tmp_path / "bad").mkdir()
        bad = sluice_factory(pipeline(tmp_path / "bad", ix.port, f"""      tls: on
      tls.ca_file: {yq(certs / 'other.pem')}"""), name="bad").start()
        bad.wait_log("SSL certificate problem: unable to get local issuer", timeout=15)
        assert ix.points("SELECT * FROM events") == []
        bad.stop()
        sluice_factory(pipeline(tmp_path / "ok", ix.port, f"""      tls: on
      tls.ca_file: {yq(certs / 'ca.pem')}"""), name="ok").start()
        wait_for(lambda: len(ix.points("SELECT * FROM events")) == 2, 15, "points over TLS")
    finally:
        ix.stop()
