"""Readiness turns 503 while a tcp output's peer is down, 200 when it is back,
and every record is delivered after recovery."""

import json

from conftest import wait_for, write_numbered, yq


def test_ready_follows_tcp_peer(sluice_factory, tmp_path, tcp_sink):
    src = tmp_path / "app.log"
    write_numbered(src, 0, 500, mode="w")
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: tail
      tag: app
      path:
        - {yq(src)}
      read_from_head: on
      parser: json
  outputs:
    - name: tcp
      alias: collector
      match: '*'
      host: 127.0.0.1
      port: {tcp_sink.port}
      format: json_lines
      retry_limit: no_limits
      retry_base: 100ms
      retry_max: 500ms
""", service={"health.max_failed_flushes": "2"})
    s.start()

    def received():
        return {json.loads(l)["n"] for l in tcp_sink.snapshot()}
    wait_for(lambda: received() >= set(range(500)), 15, "first 500 records at the sink")
    assert s.http("/health/ready")[0] == 200

    # outage: records keep arriving while the peer is down
    tcp_sink.stop()
    total = 500

    def append_and_check():
        nonlocal total
        write_numbered(src, total, total + 50)
        total += 50
        return s.http("/health/ready")[0] == 503
    wait_for(append_and_check, 20, "/health/ready == 503", step=0.2)
    status, body = s.http("/health/ready")
    assert status == 503
    doc = json.loads(body)
    assert doc.get("reasons"), body
    assert "collector" in body, body
    assert s.metric("sluice_output_retries_total", name="collector") > 0
    assert s.metric("sluice_output_errors_total", name="collector") > 0
    write_numbered(src, total, total + 100)
    total += 100

    # recovery: same port, ready again, nothing lost
    tcp_sink.start()
    wait_for(lambda: s.http("/health/ready")[0] == 200, 20, "/health/ready == 200 again")
    wait_for(lambda: received() >= set(range(total)), 20,
             f"all {total} records at the sink")
    got = received()
    assert got == set(range(total))
    assert s.metric("sluice_output_dropped_records_total", name="collector") == 0
    assert s.stop() == 0
