"""Operations files (issue 7): alert rules pass promtool, the dashboard uses
only metric names sluice exports, the man page renders, make install puts
everything in place."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, wait_for

RULES = REPO / "etc/prometheus/sluice-rules.yml"
RULES_TEST = REPO / "etc/prometheus/sluice-rules.test.yml"
DASHBOARD = REPO / "etc/grafana/sluice-dashboard.json"

# PromQL words that are not metric names.
PROMQL = {"sum", "by", "rate", "histogram_quantile", "max", "min", "le", "name",
          "instance", "reason", "type", "without", "increase", "avg", "count"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
def test_promtool_check_and_test_rules():
    r = subprocess.run(["promtool", "check", "rules", str(RULES)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "9 rules found" in r.stdout
    r = subprocess.run(["promtool", "test", "rules", RULES_TEST.name],
                       capture_output=True, text=True, timeout=60,
                       cwd=RULES_TEST.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def dashboard_metric_names():
    d = json.loads(DASHBOARD.read_text())
    assert d["schemaVersion"] >= 30 and d["uid"] and d["title"]
    names = set()
    for p in d["panels"]:
        assert p["type"] in ("timeseries", "stat", "gauge", "row")
        assert {"x", "y", "w", "h"} <= set(p["gridPos"])
        for t in p.get("targets", []):
            expr = re.sub(r'\{[^}]*\}', '', t["expr"])        # label matchers
            expr = re.sub(r'\[[^\]]*\]', '', expr)             # ranges
            expr = re.sub(r'by \([^)]*\)', '', expr)
            for w in re.findall(r'[a-zA-Z_:][a-zA-Z0-9_:]*', expr):
                if w not in PROMQL:
                    names.add(w)
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            names.update(re.findall(r'label_values\((\w+)', v["definition"]))
    return names


def test_dashboard_uses_existing_metrics(sluice_factory):
    names = dashboard_metric_names()
    assert len(names) >= 12
    s = sluice_factory("""
pipeline:
  inputs:
    - name: dummy
      rate: 0
      samples: 5
  filters:
    - name: grep
      match: '*'
      exclude:
        - level ^never$
  outputs:
    - name: null
      match: '*'
""")
    s.start()
    wait_for(lambda: s.metric("sluice_output_records_total") == 5, 10, "delivered")
    exported = {re.sub(r'_(bucket|sum|count)$', '', n) if "_seconds_" in n else n
                for (n, _), _v in s.metrics().items()}
    missing = {n.removesuffix("_bucket") for n in names} - exported
    assert not missing, f"dashboard uses unknown metrics: {missing}"


def test_rules_use_existing_metrics(sluice_factory):
    text = RULES.read_text()
    used = set(re.findall(r'\b(sluice_[a-z_]+|process_[a-z_]+)\b', text))
    s = sluice_factory("""
pipeline:
  inputs:
    - name: dummy
      rate: 0
      samples: 1
  outputs:
    - name: null
      match: '*'
""")
    s.start()
    exported = {n for (n, _), _v in s.metrics().items()}
    missing = {u for u in used if u not in exported}
    assert not missing, missing


@pytest.mark.skipif(shutil.which("man") is None, reason="no man")
def test_man_page_renders():
    r = subprocess.run(["man", "-l", str(REPO / "docs/sluice.8")],
                       capture_output=True, text=True, timeout=30,
                       env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin",
                            "MAN_KEEP_FORMATTING": "0"})
    assert r.returncode == 0, r.stderr
    text = re.sub(r'.\x08', '', r.stdout).replace("\u2010", "-")  # overstrike
    for word in ("SYNOPSIS", "--pidfile", "/api/v1/tap", "SIGHUP"):
        assert word in text


def test_systemd_unit_hardening():
    unit = (REPO / "etc/systemd/sluice.service").read_text()
    for key in ("NoNewPrivileges=yes", "ProtectSystem=strict",
                "ReadWritePaths=/var/lib/sluice", "User=sluice", "Type=simple"):
        assert key in unit


def test_make_install_destdir(tmp_path):
    if not (REPO / "Makefile").exists():
        pytest.skip("not configured in tree")
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    files = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    for suffix in ("bin/sluice", "etc/sluice/sluice.yaml",
                   "lib/systemd/system/sluice.service", "share/man/man8/sluice.8",
                   "share/sluice/sluice-rules.yml"):
        assert any(f.endswith(suffix) for f in files), (suffix, sorted(files))
    unit = next(dest.rglob("sluice.service")).read_text()
    assert re.search(r'ExecStart=\S*/bin/sluice -c \S*/sluice/sluice.yaml', unit)
