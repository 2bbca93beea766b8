"""/metrics passes promtool and its counters match what was delivered."""

import json
import re
import shutil
import subprocess

from conftest import count_lines, metric_sum, wait_for, wait_lines, yq

N = 1000
REQUIRED = ["sluice_input_records_total", "sluice_input_bytes_total",
            "sluice_filter_dropped_records_total", "sluice_output_records_total",
            "sluice_output_bytes_total", "sluice_output_errors_total",
            "sluice_output_retries_total", "sluice_output_retries_failed_total",
            "sluice_output_dropped_records_total", "sluice_uptime_seconds",
            "sluice_build_info"]


def test_metrics_promtool_and_counters(sluice_factory, tmp_path):
    src = tmp_path / "app.log"
    out = tmp_path / "out.ndjson"
    with open(src, "w") as f:
        for i in range(N):
            level = "debug" if i % 10 == 0 else "info"
            f.write(json.dumps({"n": i, "level": level, "msg": "m" * 100}) + "\n")
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: tail
      tag: app
      path:
        - {yq(src)}
      read_from_head: on
      parser: json
  filters:
    - name: grep
      match: '*'
      exclude:
        - level ^debug$
  outputs:
    - name: file
      alias: archive
      match: '*'
      path: {yq(out)}
""")
    s.start()
    delivered = N - N // 10   # every tenth record is debug
    wait_lines(out, delivered, timeout=20)
    wait_for(lambda: s.metric("sluice_output_records_total", name="archive") >= delivered,
             10, "output counter to catch up")
    m = s.metrics()
    assert metric_sum(m, "sluice_input_records_total", name="tail.0", plugin="tail") == N
    # bytes of the records read, with or without their line terminators
    assert metric_sum(m, "sluice_input_bytes_total", name="tail.0") in (
        src.stat().st_size, src.stat().st_size - N)
    assert metric_sum(m, "sluice_filter_dropped_records_total", plugin="grep") == N // 10
    assert metric_sum(m, "sluice_output_records_total", name="archive",
                      plugin="file") == count_lines(out) == delivered
    assert metric_sum(m, "sluice_output_errors_total", name="archive") == 0
    assert metric_sum(m, "sluice_uptime_seconds") > 0

    text = s.metrics_text()
    names = set(re.findall(r"^([a-z_]+)", text, re.M))
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f"missing metrics: {missing}"
    assert 'plugin="file"' in text and 'name="archive"' in text

    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed (apt-get install prometheus)"
    r = subprocess.run([promtool, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and not r.stderr.strip(), \
        f"promtool rc={r.returncode}:\n{r.stderr}{r.stdout}"

    status, body = s.http("/api/v1/metrics")
    assert status == 200
    assert isinstance(json.loads(body), (dict, list))
    assert "archive" in body

    for path in ("/health", "/health/live", "/health/ready"):
        status, body = s.http(path)
        assert status == 200, (path, body)
        doc = json.loads(body)
        assert doc["status"]
        if path == "/health":
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", doc["timestamp"])
            assert doc["uptime_seconds"] >= 0
    assert s.stop() == 0
