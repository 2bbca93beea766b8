"""The es output against tests/tools/es_bulk_sink.py (protocols.md section 1).

Each test runs tail -> es with records from a file and asserts on the exact
bytes received, on what was retried and on what was counted as dropped.
"""

import base64
import json
import subprocess
import sys
import time

import pytest

from conftest import REPO, wait_for, yq

sys.path.insert(0, str(REPO / "tests" / "tools"))
from es_bulk_sink import EsBulkSink  # noqa: E402


@pytest.fixture
def sink():
    s = EsBulkSink().start()
    yield s
    s.stop()


def write_records(path, n, start=0):
    with open(path, "w") as f:
        for i in range(start, start + n):
            f.write(json.dumps({"n": i, "msg": f"record \"{i}\"\nline2",
                                "svc": "api"}, separators=(",", ":")) + "\n")


def pipeline(tmp_path, port, extra="", n=3, retry_base="200ms"):
    log = tmp_path / "in.log"
    write_records(log, n)
    return f"""
pipeline:
  inputs:
    - name: tail
      tag: app.web
      path: {yq(log)}
      read_from_head: on
      parser: json
  outputs:
    - name: es
      match: '*'
      port: {port}
      retry_base: {retry_base}
      retry_max: 1s
{extra}
"""


def ndjson(req):
    lines = req.body.split(b"\n")
    assert lines[-1] == b"", "body must end with a newline"
    return [json.loads(l) for l in lines[:-1]]


def test_exact_bytes_headers_and_basic_auth(sluice_factory, tmp_path):
    sink = EsBulkSink(auth={"basic": ("elastic", "changeme")}).start()
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port, """      http_user: elastic
      http_passwd: changeme
      index: logs-${tag}-$svc-%Y.%m.%d
      include_tag_key: on
      time_precision: us""")).start()
        docs = sink.wait_docs(3)
        req = sink.bulk_requests()[0]
        assert req.method == "POST" and req.path == "/_bulk"
        assert req.headers["content-type"] == "application/x-ndjson"
        assert req.headers["authorization"] == "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="
        lines = ndjson(req)
        assert len(lines) == 6
        day = time.strftime("%Y.%m.%d", time.gmtime())
        for k in range(3):
            assert lines[2 * k] == {"index": {"_index": f"logs-app.web-api-{day}"}}
            src = lines[2 * k + 1]
            assert list(src)[:2] == ["@timestamp", "tag"]
            assert src["tag"] == "app.web" and src["n"] == k
            assert src["msg"] == f"record \"{k}\"\nline2"
            ts = src["@timestamp"]
            assert len(ts) == len("2026-11-21T06:51:00.123456Z") and ts.endswith("Z")
        # splicing, not re-encoding: the record bytes follow the added keys
        raw = req.body.split(b"\n")[1]
        assert raw.endswith(b',"n":0,"msg":"record \\"0\\"\\nline2","svc":"api"}')
        assert [d["n"] for d in docs] == [0, 1, 2]
        assert "changeme" not in s.log_text()
    finally:
        sink.stop()


def test_wrong_credentials_are_kept_and_retried(sluice_factory, tmp_path):
    sink = EsBulkSink(auth={"apikey": "c2VjcmV0"}).start()
    try:
        s = sluice_factory(pipeline(tmp_path, sink.port, "      api_key: wrong")).start()
        wait_for(lambda: len(sink.bulk_requests()) >= 2, 10, "two attempts")
        assert sink.bulk_requests()[0].headers["authorization"] == "ApiKey wrong"
        assert sink.docs == []
        s.wait_log("HTTP 401")
        assert s.metric("sluice_output_dropped_records_total") == 0
    finally:
        sink.stop()


def test_api_key_gzip_create_and_generated_ids(sluice_factory, tmp_path):
    sink = EsBulkSink(auth={"apikey": base64.b64encode(b"id:key").decode()}).start()
    try:
        sluice_factory(pipeline(tmp_path, sink.port, """      api_key: 'id:key'
      compress: gzip
      data_stream: on
      generate_id: on
      index: logs-app-default
      pipeline: 'geo ip'
      time_key: ts""")).start()
        sink.wait_docs(3)
        req = sink.bulk_requests()[0]
        assert req.headers["content-encoding"] == "gzip"
        assert req.raw[:2] == b"\x1f\x8b"
        assert req.path == "/_bulk?pipeline=geo%20ip"
        lines = ndjson(req)
        ids = [l["create"]["_id"] for l in lines[0::2]]
        assert all(len(i) == 20 for i in ids) and len(set(ids)) == 3
        assert all(set(l["create"]) == {"_index", "_id"} for l in lines[0::2])
        assert "ts" in lines[1] and "@timestamp" not in lines[1]
    finally:
        sink.stop()


def test_mixed_items_only_failed_resent(sluice_factory, tmp_path, sink):
    sink.plan(items=[201, 429, 400, 409, 503])
    s = sluice_factory(pipeline(tmp_path, sink.port, "", n=5)).start()
    wait_for(lambda: len(sink.bulk_requests()) >= 2, 10, "the retry")
    wait_for(lambda: len(sink.docs) >= 3, 10, "delivery")
    reqs = sink.bulk_requests()
    assert [s["n"] for s in reqs[0].sources()] == [0, 1, 2, 3, 4]
    # 429 and 503 items are re-sent alone; the 400 and the 409 (op_type
    # index, no fixed id) are rejected for good
    assert [s["n"] for s in reqs[1].sources()] == [1, 4]
    assert sorted(d["n"] for d in sink.docs) == [0, 1, 4]
    time.sleep(0.5)
    assert len(sink.bulk_requests()) == 2
    wait_for(lambda: s.metric("sluice_output_dlq_records_total") == 2, 5,
             "dead-lettered count")
    dlq = "".join(p.read_text() for p in (tmp_path / "sluice-storage" / "dlq").rglob("*.ndjson"))
    assert dlq.count("\n") == 2 and "document_parsing_exception" in dlq
    m = s.metrics()
    def items(status):
        return sum(v for (n, ls), v in m.items() if n == "sluice_es_items_total"
                   and ("status", status) in ls)
    assert items("created") == 3
    assert items("retry") == 2
    assert items("rejected") == 2


def test_conflict_on_create_with_id_counts_as_delivered(sluice_factory, tmp_path, sink):
    sink.plan(items=[409, 201, 409])
    s = sluice_factory(pipeline(tmp_path, sink.port, """      op_type: create
      id_key: $n""")).start()
    wait_for(lambda: s.metric("sluice_es_items_total", status="conflict") == 2, 10, "conflicts")
    lines = ndjson(sink.bulk_requests()[0])
    assert [l["create"]["_id"] for l in lines[0::2]] == ["0", "1", "2"]
    time.sleep(0.5)
    assert len(sink.bulk_requests()) == 1
    assert s.metric("sluice_output_dropped_records_total") == 0


def test_whole_429_honours_retry_after(sluice_factory, tmp_path, sink):
    sink.plan(http=429, retry_after="2")
    sluice_factory(pipeline(tmp_path, sink.port, "", retry_base="100ms")).start()
    wait_for(lambda: len(sink.docs) == 3, 15, "delivery")
    reqs = sink.bulk_requests()
    assert reqs[0].status == 429 and reqs[1].status == 200


def test_retry_after_timing(sluice_factory, tmp_path, sink):
    times = []
    orig = sink.bulk

    def timed(req, idx):
        times.append(time.monotonic())
        return orig(req, idx)
    sink.bulk = timed
    sink.plan(http=429, retry_after="2")
    sluice_factory(pipeline(tmp_path, sink.port, "", retry_base="100ms")).start()
    wait_for(lambda: len(sink.docs) == 3, 15, "delivery")
    assert times[1] - times[0] >= 1.9, "Retry-After: 2 was not honoured"


def test_413_splits_in_halves(sluice_factory, tmp_path, sink):
    sink.plan(http=413)
    sink.plan(http=413)
    sluice_factory(pipeline(tmp_path, sink.port, "", n=4)).start()
    wait_for(lambda: len(sink.docs) == 4, 15, "delivery")
    sizes = [len(r.sources()) if r.status != 413 else None for r in sink.bulk_requests()]
    reqs = sink.bulk_requests()
    assert reqs[0].status == 413 and reqs[0].body.count(b"\n") == 8
    assert reqs[1].status == 413 and reqs[1].body.count(b"\n") == 4
    assert sorted(d["n"] for d in sink.docs) == [0, 1, 2, 3], sizes


def test_single_record_413_is_dropped(sluice_factory, tmp_path, sink):
    sink.max_body = 10
    s = sluice_factory(pipeline(tmp_path, sink.port, "      dlq: off", n=2)).start()
    wait_for(lambda: s.metric("sluice_output_dropped_records_total",
                              reason="permanent_error") == 2, 15, "drops")
    assert len(sink.bulk_requests()) == 3  # 2 records, then 1 + 1


def test_400_whole_request_dropped(sluice_factory, tmp_path, sink):
    sink.plan(http=400)
    s = sluice_factory(pipeline(tmp_path, sink.port, "      dlq: off")).start()
    wait_for(lambda: s.metric("sluice_output_dropped_records_total",
                              reason="permanent_error") == 3, 10, "drops")
    s.wait_log("HTTP 400")
    assert sink.docs == []


def test_5xx_then_delivered_and_batch_size_split(sluice_factory, tmp_path, sink):
    sink.plan(http=503)
    sluice_factory(pipeline(tmp_path, sink.port, "      batch_size: 1K", n=40)).start()
    wait_for(lambda: len(sink.docs) == 40, 15, "delivery")
    reqs = [r for r in sink.bulk_requests() if r.status == 200]
    assert len(reqs) > 1
    assert all(len(r.body) <= 1024 for r in reqs)
    assert sorted(d["n"] for d in sink.docs) == list(range(40))


def test_opensearch_flavor_and_type_name(sluice_factory, tmp_path):
    sink = EsBulkSink(flavor="opensearch", version=7).start()
    try:
        sluice_factory(pipeline(tmp_path, sink.port, "      suppress_type_name: off")).start()
        sink.wait_docs(3)
        lines = ndjson(sink.bulk_requests()[0])
        assert lines[0] == {"index": {"_index": "sluice", "_type": "_doc"}}
    finally:
        sink.stop()


# ---- TLS ----

def mkcerts(d):
    d.mkdir()
    def run(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    for ca in ("ca", "other"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
            "-out", f"{ca}.pem", "-days", "1", "-subj", f"/CN={ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                           "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext")
    return d


@pytest.fixture
def tls_sink(tmp_path):
    import ssl
    certs = mkcerts(tmp_path / "certs")
    s = EsBulkSink().start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    s.server.socket = ctx.wrap_socket(s.server.socket, server_side=True)
    yield s, certs
    s.stop()


def test_tls_with_test_ca(sluice_factory, tmp_path, tls_sink):
    sink, certs = tls_sink
    sluice_factory(pipeline(tmp_path, sink.port, f"""      tls: on
      tls.ca_file: {yq(certs / 'ca.pem')}""")).start()
    sink.wait_docs(3)


def test_tls_wrong_ca_is_a_clear_error_and_retried(sluice_factory, tmp_path, tls_sink):
    sink, certs = tls_sink
    s = sluice_factory(pipeline(tmp_path, sink.port, f"""      tls: on
      tls.vhost: localhost
      tls.ca_file: {yq(certs / 'other.pem')}""")).start()
    line = s.wait_log("retry", timeout=10)
    assert "certificate" in line.lower() or "SSL" in line, line
    assert sink.docs == []
    assert s.metric("sluice_output_dropped_records_total") == 0
