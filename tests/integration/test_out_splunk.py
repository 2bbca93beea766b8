"""The splunk output against tests/tools/hec_sink.py (protocols.md section 2).

tail -> splunk with records from a file; asserts on the exact bytes sent
(envelopes, auth and channel headers, gzip), on HEC codes (invalid token
kept and retried, server busy retried, invalid event dead-lettered while the
others are delivered), on indexer acknowledgement (a batch is delivered
only once /ack confirms, late confirmation, timeout resends) and on TLS.
"""

import gzip
import json
import subprocess
import sys

import pytest

from conftest import REPO, tail_ts_input, wait_for, write_ndjson, yq

sys.path.insert(0, str(REPO / "tests" / "tools"))
from hec_sink import HecSink  # noqa: E402

TOKEN = "12345678-1234-1234-1234-1234567890AB"
CHANNEL = "0d5a8f4e-1c9b-4b2e-9f31-6b7a2e4c9d10"
T0 = 1795236000123456789


def write_records(path, n):
    write_ndjson(path, ({"ts": T0 + i * 1000000, "n": i,
                         "msg": f"line \"{i}\"\nsecond", "env": "prod",
                         "dc": ["eu1", "eu2"], "code": 200 + i}
                        for i in range(n)))


def pipeline(tmp_path, port, extra="", n=3, token=TOKEN):
    log = tmp_path / "in.log"
    write_records(log, n)
    return tail_ts_input(log) + f"""  outputs:
    - name: splunk
      match: '*'
      port: {port}
      token: {token}
      channel: {CHANNEL}
      retry_base: 200ms
      retry_max: 1s
{extra}
"""


def dlq_lines(tmp_path):
    return [json.loads(l) for p in (tmp_path / "sluice-storage" / "dlq").rglob("*.ndjson")
            for l in p.read_text().splitlines()]


def test_event_envelopes_exact_bytes_and_headers(sluice_factory, tmp_path):
    sink = HecSink(tokens={TOKEN}).start()
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port, """      event_host: web01
      event_source: ${tag}
      event_sourcetype: app:json
      event_index: main
      fields: [env, dc, code, missing]""")).start()
        sink.wait_events(3)
        req = sink.data_requests()[0]
        assert req.path == "/services/collector/event"
        assert req.headers["authorization"] == f"Splunk {TOKEN}"
        assert req.headers["x-splunk-request-channel"] == CHANNEL
        assert req.headers["content-type"] == "application/json"
        first = req.body.split(b"\n")[0]
        assert first == (b'{"time":1795236000.123,"host":"web01","source":"app.web",'
                         b'"sourcetype":"app:json","index":"main","event":'
                         b'{"n":0,"msg":"line \\"0\\"\\nsecond","env":"prod",'
                         b'"dc":["eu1","eu2"],"code":200},'
                         b'"fields":{"env":"prod","dc":["eu1","eu2"],"code":"200"}}')
        assert not req.body.endswith(b"\n") and req.body.count(b"\n") == 2
        assert [e["time"] for e in sink.events] == [1795236000.123, 1795236000.124,
                                                     1795236000.125]
        assert TOKEN not in s.log_text()
    finally:
        sink.stop()


def test_event_key_gzip_and_raw_mode(sluice_factory, tmp_path):
    sink = HecSink(tokens={TOKEN}).start()
    try:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        sluice_factory(pipeline(tmp_path / "a", sink.port, """      event_key: $msg
      compress: gzip"""), name="a").start()
        sink.wait_events(3)
        req = sink.data_requests()[0]
        assert req.headers["content-encoding"] == "gzip"
        assert gzip.decompress(req.raw) == req.body
        assert [e["event"] for e in sink.events] == [f"line \"{i}\"\nsecond" for i in range(3)]
        sluice_factory(pipeline(tmp_path / "b", sink.port, """      endpoint: raw
      event_key: $env
      event_sourcetype: plain text"""), name="b").start()
        sink.wait(lambda s: len(s.raw_lines) >= 3, what="raw lines")
        raw = [r for r in sink.data_requests() if "raw" in r.path][0]
        assert raw.query == {"channel": CHANNEL, "sourcetype": "plain text"}
        assert raw.body == b"prod\nprod\nprod\n"
    finally:
        sink.stop()


def test_invalid_token_is_kept_and_retried(sluice_factory, tmp_path):
    sink = HecSink(tokens={TOKEN}).start()
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port, token="wrong-token")).start()
        sink.wait(lambda s: len(s.data_requests()) >= 2, what="two attempts")
        assert sink.data_requests()[0].status == 403
        assert sink.data_requests()[0].response == {"text": "Invalid token", "code": 4}
        s.wait_log("check the configuration")
        assert sink.events == []
        assert s.metric("sluice_output_dropped_records_total") == 0
        assert "wrong-token" not in s.log_text()
    finally:
        sink.stop()


def test_server_busy_is_retried(sluice_factory, tmp_path):
    sink = HecSink(tokens={TOKEN}).start()
    sink.plan(code=9)
    sink.plan(code=8)
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port)).start()
        sink.wait_events(3)
        st = [r.status for r in sink.data_requests()]
        assert st[:3] == [503, 500, 200]
        assert [e["event"]["n"] for e in sink.events] == [0, 1, 2]
        assert s.metric("sluice_output_dropped_records_total") == 0
    finally:
        sink.stop()


def test_invalid_event_number_rejects_one_and_resends_the_rest(sluice_factory, tmp_path):
    sink = HecSink(tokens={TOKEN}).start()
    sink.plan(code=6, invalid=1)
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port)).start()
        wait_for(lambda: s.metric("sluice_output_dlq_records_total") == 1, 15, "dlq")
        sink.wait_events(2)
        # event 0 was accepted by the failed request, 2 by the second one
        assert [e["event"]["n"] for e in sink.events] == [0, 2]
        second = sink.data_requests()[1]
        assert second.body.count(b"\n") == 0 and b'"n":2' in second.body
        dlq = dlq_lines(tmp_path)
        assert [d["record"]["n"] for d in dlq] == [1]
        assert "Invalid data format" in dlq[0]["error"]
        assert s.metric("sluice_splunk_rejected_records_total") == 1
    finally:
        sink.stop()


def test_ack_confirms_late_then_delivers(sluice_factory, tmp_path):
    sink = HecSink(tokens={TOKEN}, ack=True, ack_after=3).start()
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port, """      ack: on
      ack_interval: 100ms
      ack_timeout: 20s""")).start()
        sink.wait(lambda s: len(s.ack_polls) >= 4, what="four polls")
        assert sink.ack_polls[:4] == [[0], [0], [0], [0]]
        ack = [r for r in sink.requests if r.path.endswith("/ack")][0]
        assert ack.query == {"channel": CHANNEL}
        assert ack.headers["authorization"] == f"Splunk {TOKEN}"
        assert ack.body == b'{"acks":[0]}'
        wait_for(lambda: s.metric("sluice_splunk_acked_records_total") == 3, 10, "acked")
        assert len(sink.data_requests()) == 1
        assert s.metric("sluice_output_dropped_records_total") == 0
    finally:
        sink.stop()


def test_ack_timeout_resends(sluice_factory, tmp_path):
    sink = HecSink(tokens={TOKEN}, ack=True, ack_after=1000).start()
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port, """      ack: on
      ack_interval: 100ms
      ack_timeout: 500ms""")).start()
        sink.wait(lambda s: len(s.data_requests()) >= 2, what="a resend")
        assert sink.data_requests()[1].body == sink.data_requests()[0].body
        s.wait_log("not acknowledged")
        assert s.metric("sluice_splunk_ack_timeouts_total") >= 3
        # the second request got the next ackId of the channel
        assert sink.data_requests()[1].response["ackId"] == 1
    finally:
        sink.stop()


def mkcerts(d):
    d.mkdir(exist_ok=True)
    def run(*a):
        subprocess.run(a, cwd=d, check=True, capture_output=True)
    for ca in ("ca", "other"):
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            f"{ca}.key", "-out", f"{ca}.pem", "-days", "1", "-subj", f"/CN={ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                  "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "1",
        "-extfile", "server.ext")
    return d


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return mkcerts(tmp_path_factory.mktemp("certs"))


def test_tls_with_test_ca_and_wrong_ca(sluice_factory, tmp_path, certs):
    sink = HecSink(tokens={TOKEN}, certfile=str(certs / "server.pem"),
                   keyfile=str(certs / "server.key")).start()
    try:
        (tmp_path / "ok").mkdir()
        (tmp_path / "bad").mkdir()
        sluice_factory(pipeline(tmp_path / "ok", sink.port, f"""      tls: on
      tls.ca_file: {yq(certs / 'ca.pem')}"""), name="ok").start()
        sink.wait_events(3)
        s = sluice_factory(pipeline(tmp_path / "bad", sink.port, f"""      tls: on
      tls.ca_file: {yq(certs / 'other.pem')}"""), name="bad").start()
        s.wait_log("SSL certificate problem: unable to get local issuer", timeout=15)
        assert len(sink.events) == 3
    finally:
        sink.stop()
