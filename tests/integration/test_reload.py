"""SIGHUP reloads a valid config and refuses an invalid one."""

import threading
import time

from conftest import read_ndjson, wait_for, write_numbered, yq


def pipeline(src, out, extra=""):
    return f"""
pipeline:
  inputs:
    - name: tail
      tag: app
      path:
        - {yq(src)}
      read_from_head: on
      parser: json
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
{extra}"""


def ns(path):
    return {r["n"] for r in read_ndjson(path)}


def test_sighup_valid_then_invalid(sluice_factory, tmp_path):
    src = tmp_path / "app.log"
    out1, out2 = tmp_path / "out1.ndjson", tmp_path / "out2.ndjson"
    write_numbered(src, 0, 100, mode="w")
    s = sluice_factory(pipeline(src, out1))
    s.start()
    wait_for(lambda: ns(out1) >= set(range(100)), 15, "batch 1 in out1")

    # valid new file: new records go to the new output path
    mark = len(s.log_text())
    s.reload(pipeline=pipeline(src, out2))
    s.wait_log("reloaded", timeout=10, start=mark)
    assert s.running()
    write_numbered(src, 100, 200)
    wait_for(lambda: ns(out2) >= set(range(100, 200)), 15, "batch 2 in out2")
    assert not ns(out1) & set(range(100, 200)), "old output still receives records"
    wait_for(lambda: s.http("/health/ready")[0] == 200, 10, "ready after reload")

    # invalid new file: refused, logged, the running pipeline keeps delivering
    mark = len(s.log_text())
    s.reload(pipeline=pipeline(src, tmp_path / "out3.ndjson",
                               extra="    - name: no_such_output\n      match: '*'\n"))
    line = s.wait_log("reload refused", timeout=10, start=mark)
    assert s.running()
    assert "no_such_output" in s.log_text()[mark:], s.log_text()[mark:]
    write_numbered(src, 200, 300)
    wait_for(lambda: ns(out2) >= set(range(100, 300)), 15, "batch 3 in out2 (old pipeline)")
    assert not (tmp_path / "out3.ndjson").exists()
    assert s.stop() == 0
    assert line.lstrip().startswith("{"), f"log lines are JSON: {line}"
    recs = s.log_records()
    assert recs, s.log_tail()
    for rec in recs:
        assert {"timestamp", "level", "component", "message"} <= set(rec), rec
    assert any("reloaded" in r["message"] for r in recs)
    refused = [r for r in recs if "reload refused" in r["message"]]
    assert refused and refused[0]["level"] in ("error", "warn", "warning"), refused


def test_reload_under_load_loses_nothing(sluice_factory, tmp_path):
    """Lines are appended while the pipeline is reloaded twice: every line
    arrives; duplicates are bounded by what was in flight at each reload
    (the new tail reads from the offsets the old one had saved; with the
    idle flush little is in flight: 0 in every run so far)."""
    src = tmp_path / "app.log"
    out = tmp_path / "out.ndjson"
    src.write_text("")
    s = sluice_factory(pipeline(src, out))
    s.start()
    total, stop = 6000, threading.Event()

    def writer():
        for k in range(0, total, 100):
            write_numbered(src, k, k + 100)
            time.sleep(0.05)
        stop.set()
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    for _ in range(2):
        time.sleep(1.0)
        mark = len(s.log_text())
        s.reload(pipeline=pipeline(src, out))
        s.wait_log("reloaded", timeout=10, start=mark)
    t.join(30)
    assert stop.is_set()
    wait_for(lambda: ns(out) >= set(range(total)), 30, "every line after two reloads")
    assert s.stop() == 0
    got = [r["n"] for r in read_ndjson(out)]
    dups = len(got) - len(set(got))
    print(f"\nreload under load: {total} lines, 2 reloads, {dups} duplicates")
    assert set(got) == set(range(total))
    assert dups <= 400, f"{dups} duplicates for 2 reloads"
