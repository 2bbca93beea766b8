"""service.idle_flush: an open chunk is sealed as soon as its input has
drained what there was to read and its outputs are waiting, instead of at
the next flush tick; batches still grow while an output is busy."""

import json
import time
import urllib.request

import pytest

from conftest import HttpSink, read_ndjson, wait_for, yq


def http_to_file(tmp_path, storage="memory"):
    return f"""
pipeline:
  inputs:
    - name: http
      port: 0
      port_file: {yq(tmp_path / "in.port")}
      storage.type: {storage}
  outputs:
    - name: file
      match: '*'
      path: {yq(tmp_path / "out.ndjson")}
"""


def post(tmp_path, records):
    port = int(wait_for(lambda: (tmp_path / "in.port").exists()
                        and (tmp_path / "in.port").read_text().strip(), 10, "http port"))
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/app.idle", data=body,
                                 headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status in (200, 201, 204)
    return time.monotonic()


def out_records(tmp_path):
    path = tmp_path / "out.ndjson"
    return read_ndjson(path) if path.exists() else []


@pytest.mark.parametrize("storage", ["memory", "filesystem"])
def test_idle_input_is_delivered_long_before_the_flush_tick(sluice_factory, tmp_path,
                                                            storage):
    s = sluice_factory(http_to_file(tmp_path, storage), service={"flush": "60s"}).start()
    t0 = post(tmp_path, [{"n": 1, "msg": "hello"}])
    got = wait_for(lambda: out_records(tmp_path), 5, "record in the file output")
    assert time.monotonic() - t0 < 5
    assert got == [{"n": 1, "msg": "hello"}]
    # A second burst after the first was delivered is sealed on its own.
    post(tmp_path, [{"n": i} for i in range(2, 12)])
    wait_for(lambda: len(out_records(tmp_path)) == 11, 5, "second burst")
    wait_for(lambda: s.metric("sluice_output_records_total") == 11, 5, "output count")
    assert s.metric("sluice_input_chunks_sealed_total", reason="idle") == 2
    assert s.metric("sluice_input_chunks_sealed_total", reason="flush") == 0
    assert s.metric("sluice_input_chunks_sealed_total", reason="full") == 0


@pytest.mark.parametrize("storage,service,held,earliest", [
    # off: only the flush tick (3 s) seals
    ("memory", {"flush": "3s", "idle_flush": "off"}, 1.0, 0.0),
    # a chunk younger than idle_flush_min_age waits for it
    ("memory", {"flush": "60s", "idle_flush_min_age": "1500ms"}, 0.6, 1.4),
    # file-backed chunks have their own, longer minimum age
    ("filesystem", {"flush": "60s", "storage.idle_flush_min_age": "1500ms"},
     0.6, 1.4),
], ids=["off", "min_age", "storage_min_age"])
def test_record_is_held_until(sluice_factory, tmp_path, storage, service, held,
                              earliest):
    s = sluice_factory(http_to_file(tmp_path, storage), service=service).start()
    t0 = post(tmp_path, [{"n": 1}])
    time.sleep(held)
    assert out_records(tmp_path) == [], f"sealed within {held} s"
    wait_for(lambda: out_records(tmp_path), 6, "the record, later")
    assert earliest <= time.monotonic() - t0 < 6.5
    why = "flush" if service.get("idle_flush") == "off" else "idle"
    assert s.metric("sluice_input_chunks_sealed_total", reason=why) == 1


def test_batches_grow_while_the_output_is_busy(sluice_factory, tmp_path):
    """20 POSTs of 50 records, 40 ms apart, while the output's one worker
    is held 400 ms per request: the first chunk leaves once it is
    idle_flush_min_age old, the rest gathers behind the busy output instead
    of becoming a request per POST."""
    sink = HttpSink(delay=0.4)
    try:
        pipeline = f"""
pipeline:
  inputs:
    - name: http
      port: 0
      port_file: {yq(tmp_path / "in.port")}
  outputs:
    - name: http
      match: '*'
      port: {sink.port}
      format: json_lines
"""
        s = sluice_factory(pipeline, service={"flush": "60s"}).start()
        for k in range(20):
            post(tmp_path, [{"k": k, "i": i} for i in range(50)])
            time.sleep(0.04)
        def records():
            return [json.loads(l) for r in sink.ok() for l in r["body"].splitlines() if l]
        wait_for(lambda: len(records()) >= 1000, 20, "1000 records at the sink")
        recs = records()
        assert sorted((r["k"], r["i"]) for r in recs) == \
            [(k, i) for k in range(20) for i in range(50)]
        sizes = [len(r["body"].splitlines()) for r in sink.ok()]
        assert 2 <= len(sizes) <= 6, f"request sizes {sizes}: batching lost"
        # An http input and an http output: the output's automatic name
        # says its kind instead of clashing with the input's http.0.
        wait_for(lambda: s.metric("sluice_output_records_total", name="http.out.0") == 1000,
                 5, "the output's count (after the sink's answer)")
        assert s.metric("sluice_input_records_total", name="http.0") == 1000
    finally:
        sink.close()
