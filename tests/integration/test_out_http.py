"""The generic http output: body formats, auth, retries (protocols.md 0)."""

import json

import pytest

from conftest import HttpSink, wait_for, yq


@pytest.fixture
def sink():
    s = HttpSink()
    yield s
    s.close()


RECORDS = [{"level": "error", "message": f"disk \"{i}\" full\nnow", "n": i} for i in range(3)]


def pipeline(tmp_path, port, extra):
    log = tmp_path / "in.log"
    log.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in RECORDS))
    return f"""
pipeline:
  inputs:
    - name: tail
      tag: app.hook
      path: {yq(log)}
      read_from_head: on
      parser: json
  outputs:
    - name: http
      match: '*'
      port: {port}
      uri: /ingest?x=1
      retry_base: 200ms
{extra}
"""


def compact(r):
    return json.dumps(r, separators=(",", ":")).encode()


def test_json_lines_with_bearer(sluice_factory, tmp_path, sink):
    s = sluice_factory(pipeline(tmp_path, sink.port, """      format: json_lines
      bearer_token: s3cret-token
      header: 'X-Team: ops'""")).start()
    wait_for(lambda: sink.ok(), 10, "a request")
    r = sink.ok()[0]
    assert r["method"] == "POST" and r["path"] == "/ingest?x=1"
    assert r["headers"]["authorization"] == "Bearer s3cret-token"
    assert r["headers"]["x-team"] == "ops"
    assert r["headers"]["content-type"] == "application/x-ndjson"
    assert r["body"] == b"".join(compact(x) + b"\n" for x in RECORDS)
    assert "s3cret-token" not in s.log_text()


def test_json_array_put(sluice_factory, tmp_path, sink):
    sluice_factory(pipeline(tmp_path, sink.port, """      format: json_array
      method: PUT""")).start()
    wait_for(lambda: sink.ok(), 10, "a request")
    r = sink.ok()[0]
    assert r["method"] == "PUT"
    assert r["headers"]["content-type"] == "application/json"
    assert r["body"] == b"[" + b",".join(compact(x) for x in RECORDS) + b"]"


def test_json_one_record_per_request(sluice_factory, tmp_path, sink):
    sluice_factory(pipeline(tmp_path, sink.port, "      format: json")).start()
    wait_for(lambda: len(sink.ok()) == 3, 10, "three requests")
    assert sorted(r["body"] for r in sink.ok()) == sorted(compact(x) for x in RECORDS)


def test_template_escapes_values(sluice_factory, tmp_path, sink):
    sluice_factory(pipeline(tmp_path, sink.port, """      format: template
      template: '{"text": "${level}: ${message} [${tag}] #$n"}'""")).start()
    wait_for(lambda: len(sink.ok()) == 3, 10, "three requests")
    got = sorted(json.loads(r["body"])["text"] for r in sink.ok())
    assert got == [f"error: disk \"{i}\" full\nnow [app.hook] #{i}" for i in range(3)]


def test_5xx_retried_then_delivered_and_basic_auth(sluice_factory, tmp_path, sink):
    sink.script = [503, 500]
    sluice_factory(pipeline(tmp_path, sink.port, """      http_user: bot
      http_passwd: pw""")).start()
    wait_for(lambda: sink.ok(), 15, "delivery after retries")
    assert [r["status"] for r in sink.requests] == [503, 500, 200]
    assert all(r["body"] == sink.requests[0]["body"] for r in sink.requests)
    assert sink.ok()[0]["headers"]["authorization"] == "Basic Ym90OnB3"


def test_400_dropped(sluice_factory, tmp_path, sink):
    sink.script = [400]
    s = sluice_factory(pipeline(tmp_path, sink.port, "      dlq: off")).start()
    wait_for(lambda: s.metric("sluice_output_dropped_records_total",
                              reason="permanent_error") == 3, 10, "drops")
    assert len(sink.requests) == 1


def test_dry_run_hides_secrets(tmp_path, sluice_bin):
    import subprocess
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""service:
  storage.path: {yq(tmp_path / 'st')}
{pipeline(tmp_path, 1, '''      bearer_token: topsecret
      http_user: u
      http_passwd: pw-hidden''')}""")
    out = subprocess.run([str(sluice_bin), "-c", str(cfg), "--dry-run"],
                         capture_output=True, text=True, timeout=20)
    assert "topsecret" not in out.stdout + out.stderr
    assert "pw-hidden" not in out.stdout + out.stderr
