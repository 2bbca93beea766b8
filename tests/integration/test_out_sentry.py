"""The sentry output against tests/tools/sentry_sink.py (protocols.md section 3).

tail -> sentry with records from a file; asserts on the exact envelope
sent (header line, item header with the exact length, auth header), the
event fields, frames parsed from a Python trace, the level filter (skipped
records counted, never sent), deterministic event ids across a retry, 429
with X-Sentry-Rate-Limits (records wait, no hot loop) and TLS.
"""

import json
import sys

from conftest import REPO, tail_ts_input, wait_for, write_ndjson, yq

sys.path.insert(0, str(REPO / "tests" / "tools"))
from sentry_sink import SentrySink  # noqa: E402
from test_out_splunk import certs, mkcerts  # noqa: E402,F401

KEY = "d41d8cd98f00b204e9800998ecf8427e"
T0 = 1795236000500000000
PY_TRACE = ('Traceback (most recent call last):\n'
            '  File "/app/main.py", line 88, in main\n'
            '    run()\n'
            '  File "/app/worker.py", line 12, in run\n'
            '    raise ValueError("bad input")\n'
            'ValueError: bad input')
RECORDS = [
    {"ts": T0, "level": "info", "message": "starting"},
    {"ts": T0 + 1, "level": "error", "message": PY_TRACE, "logger": "app.worker",
     "host": "web01", "svc": "api", "user": 7},
    {"ts": T0 + 2, "level": "warning", "message": "slow"},
    {"ts": T0 + 3, "level": 2, "message": "disk failure", "svc": "db"},
]


def pipeline(tmp_path, dsn, extra="", recs=RECORDS):
    log = tmp_path / "in.log"
    write_ndjson(log, recs)
    return tail_ts_input(log) + f"""  outputs:
    - name: sentry
      match: '*'
      dsn: {dsn}
      environment: production
      release: app@1.2.0
      tag_keys: [svc]
      retry_base: 200ms
      retry_max: 1s
{extra}
"""


def test_envelope_bytes_event_fields_and_level_filter(sluice_factory, tmp_path):
    sink = SentrySink(keys={KEY}, project="42", prefix="/sentry").start()
    try:
        s = sluice_factory(pipeline(tmp_path, sink.dsn())).start()
        evs = sink.wait_events(2)
        wait_for(lambda: s.metric("sluice_sentry_skipped_records_total") == 2, 10,
                 "two skipped")
        assert len(sink.requests) == 2
        # The HTTP engine sends a flush's requests concurrently: find the
        # error event's request instead of assuming it came first.
        req = next(r for r in sink.requests if b'"level":"error"' in r.body)
        assert req.path == "/sentry/api/42/envelope/"
        assert req.headers["content-type"] == "application/x-sentry-envelope"
        assert req.headers["x-sentry-auth"].startswith(
            f"Sentry sentry_version=7, sentry_key={KEY}, sentry_client=sluice/")
        head_line, item_line, rest = req.body.split(b"\n", 2)
        head = json.loads(head_line)
        item = json.loads(item_line)
        assert item == {"type": "event", "length": len(rest) - 1}
        assert rest.endswith(b"\n")
        ev = json.loads(rest[:-1])
        assert head["event_id"] == ev["event_id"] and len(ev["event_id"]) == 32
        assert head["dsn"] == sink.dsn()
        assert ev["level"] == "error" and ev["logger"] == "app.worker"
        assert ev["server_name"] == "web01"
        assert ev["environment"] == "production" and ev["release"] == "app@1.2.0"
        assert ev["timestamp"] == 1795236000.500000
        assert ev["tags"] == {"svc": "api"}
        assert ev["extra"] == {"svc": "api", "user": 7}
        assert ev["message"]["formatted"] == PY_TRACE
        exc = ev["exception"]["values"]
        assert len(exc) == 1 and exc[0]["type"] == "ValueError"
        assert exc[0]["value"] == "bad input"
        assert exc[0]["stacktrace"]["frames"] == [
            {"function": "main", "filename": "/app/main.py", "lineno": 88},
            {"function": "run", "filename": "/app/worker.py", "lineno": 12}]
        fatal = next(e for e in evs if e["level"] == "fatal")
        assert "exception" not in fatal
        assert fatal["tags"] == {"svc": "db"}
        assert s.metric("sluice_output_dropped_records_total") == 0
    finally:
        sink.stop()


def test_rate_limits_hold_records_and_event_ids_stay(sluice_factory, tmp_path):
    sink = SentrySink(keys={KEY}).start()
    sink.plan(http=429, rate_limits="2:error;default:project:quota")
    try:
        s = sluice_factory(pipeline(tmp_path, sink.dsn(), recs=RECORDS[1:2])).start()
        ev = sink.wait_events(1, timeout=20)[0]
        reqs = sink.requests
        assert [r.status for r in reqs] == [429, 200]
        # the retry waited for the limit, no hot loop in between
        assert s.metric("sluice_sentry_rate_limited_records_total") >= 1
        first = json.loads(reqs[0].body.split(b"\n")[0])
        assert first["event_id"] == ev["event_id"]
        assert s.metric("sluice_output_dropped_records_total") == 0
    finally:
        sink.stop()


def test_rate_limit_window_blocks_sending(sluice_factory, tmp_path):
    import time
    sink = SentrySink(keys={KEY}).start()
    sink.plan(http=429, retry_after="3")
    try:
        t0 = time.monotonic()
        s = sluice_factory(pipeline(tmp_path, sink.dsn(), recs=RECORDS[1:2])).start()
        sink.wait_events(1, timeout=20)
        assert time.monotonic() - t0 >= 2.5
        assert len(sink.requests) == 2
    finally:
        sink.stop()


def test_wrong_key_is_kept_and_tls(sluice_factory, tmp_path, certs):
    sink = SentrySink(keys={KEY}, certfile=str(certs / "server.pem"),
                      keyfile=str(certs / "server.key")).start()
    try:
        (tmp_path / "bad").mkdir()
        (tmp_path / "ok").mkdir()
        bad = sluice_factory(pipeline(tmp_path / "bad", sink.dsn("0" * 32, "https"),
                                      f"      tls.ca_file: {yq(certs / 'ca.pem')}",
                                      recs=RECORDS[1:2]), name="bad").start()
        bad.wait_log("HTTP 401")
        assert bad.metric("sluice_output_dropped_records_total") == 0
        sluice_factory(pipeline(tmp_path / "ok", sink.dsn(scheme="https"),
                                f"      tls.ca_file: {yq(certs / 'ca.pem')}",
                                recs=RECORDS[1:2]), name="ok").start()
        sink.wait_events(1)
        assert KEY not in bad.log_text()
        (tmp_path / "ca").mkdir()
        wrong = sluice_factory(pipeline(tmp_path / "ca", sink.dsn(scheme="https"),
                                        f"      tls.ca_file: {yq(certs / 'other.pem')}",
                                        recs=RECORDS[1:2]), name="ca").start()
        wrong.wait_log("SSL certificate problem: unable to get local issuer")
        assert len(sink.events) == 1
    finally:
        sink.stop()
