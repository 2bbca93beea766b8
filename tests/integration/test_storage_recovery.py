"""Issue 3: recovery of chunk files.

- Proof 5, torn write: chunk files made by a sluice killed with -9 (sink
  down); one is cut in the middle of a frame, one gets a flipped byte.
  `sluice storage fsck` reports both, `fsck --repair` applies the recovery
  rules, and a restart delivers exactly the records of the intact frames,
  with matching sluice_storage_* counters.
- Per-output acknowledgement is durable: file + tcp outputs, kill -9, the
  restart sends to tcp only.
- SIGHUP reload that removes an output keeps its chunks on disk.
"""

import json
import re
import shutil
import sys
import time
from pathlib import Path

from conftest import TcpSink, read_lines, run_cli, wait_for, yq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from storage_tools import chunk_files, parse_chunk  # noqa: E402


def sink_down():
    sink = TcpSink().start()
    sink.stop()
    return sink


def dummy_input(n, tag="d", storage="filesystem"):
    return f"""
    - name: dummy
      alias: gen
      tag: {tag}
      kind: app
      rate: 0
      samples: {n}
      seed: 11
      storage.type: {storage}
"""


def tcp_output(port, match="d"):
    return f"""
    - name: tcp
      alias: t
      match: '{match}'
      port: {port}
      retry_base: 100ms
      retry_max: 500ms
      retry_limit: no_limits
"""


def file_output(path):
    return f"""
    - name: file
      alias: f
      match: '*'
      path: {yq(path)}
      tag_key: tag
"""


def pipeline(inputs, outputs):
    return "pipeline:\n  inputs:" + inputs + "  outputs:" + outputs


def inspect_rows(storage):
    r = run_cli("storage", "inspect", storage)
    assert r.returncode == 0, r.stdout + r.stderr
    return [l for l in r.stdout.splitlines() if ".chunk" in l]


def export_seqs(storage):
    r = run_cli("storage", "export", storage)
    assert r.returncode == 0, r.stderr
    return [json.loads(l)["record"]["seq"] for l in r.stdout.splitlines()]


def wait_all_on_disk(s, storage, n):
    wait_for(lambda: s.metric("sluice_input_records_total") >= n, 20, "dummy done")
    wait_for(lambda: len(export_seqs(storage)) >= n
             and s.metric("sluice_storage_chunks", type="filesystem") == len(chunk_files(storage)),
             10, f"{n} records in sealed chunk files")


# ---- Proof 5: torn write and flipped byte ---------------------------------

def test_torn_frame_and_flipped_byte(sluice_factory, tmp_path):
    n = 3000
    sink = sink_down()
    cfg = pipeline(dummy_input(n), tcp_output(sink.port))
    s = sluice_factory(cfg, service={"chunk_size": "32K"})
    storage = s.dir / "sluice-storage"
    s.start()
    wait_all_on_disk(s, storage, n)
    s.kill()

    files = chunk_files(storage)
    parsed = {f: parse_chunk(f) for f in files}
    assert len(files) >= 4 and all(len(p[2]) >= 4 for p in list(parsed.values())[:4])
    torn, flipped = files[1], files[2]
    seqs = {f: [fr.record()["seq"] for fr in parsed[f][2]] for f in files}
    assert sorted(sum(seqs.values(), [])) == list(range(n))

    # cut <torn> in the middle of frame k: frames[:k] survive
    frames = parsed[torn][2]
    k = len(frames) // 2
    cut = frames[k].offset + 16 + frames[k].length // 2
    with open(torn, "r+b") as f:
        f.truncate(cut)
    # flip a byte in the body of frame j of <flipped>: frames[:j] survive
    frames_b = parsed[flipped][2]
    j = len(frames_b) // 2
    data = bytearray(flipped.read_bytes())
    data[frames_b[j].offset + 16 + frames_b[j].length // 2] ^= 0x20
    flipped.write_bytes(bytes(data))
    damaged_b = bytes(data)
    expected = (sum((seqs[f] for f in files if f not in (torn, flipped)), [])
                + seqs[torn][:k] + seqs[flipped][:j])

    # fsck without --repair: reports both, exits non-zero, changes nothing
    copy = tmp_path / "fsck-copy"
    shutil.copytree(storage, copy)
    r = run_cli("storage", "fsck", copy)
    out = r.stdout + r.stderr
    print("fsck:", out)
    assert r.returncode != 0, out
    assert torn.name in out and flipped.name in out, out
    assert re.search(rf"\b{len(expected)} records\b.*\b1 torn frames?\b.*\b1 corrupt chunks?\b",
                     out), out
    assert (copy / "chunks" / torn.parent.name / torn.name).stat().st_size == cut
    assert not (copy / "corrupt").exists() or not any((copy / "corrupt").iterdir())

    # fsck --repair: torn tail cut, flipped file copied aside and cut
    r = run_cli("storage", "fsck", copy, "--repair")
    print("fsck --repair:", r.stdout + r.stderr)
    live_a = copy / "chunks" / torn.parent.name / torn.name
    live_b = copy / "chunks" / flipped.parent.name / flipped.name
    assert live_a.stat().st_size == frames[k].offset, "torn tail not cut at the last whole frame"
    assert live_b.stat().st_size == frames_b[j].offset, "file not cut before the bad frame"
    aside = [p for p in (copy / "corrupt").rglob("*") if p.is_file()]
    assert any(p.read_bytes() == damaged_b for p in aside), f"no copy of the damaged file in {aside}"
    r = run_cli("storage", "fsck", copy)
    assert r.returncode == 0, "fsck after --repair: " + r.stdout + r.stderr
    assert sorted(export_seqs(copy)) == sorted(expected)

    # restart on the damaged (unrepaired) storage with the sink up
    sink.start()
    try:
        s2 = sluice_factory(pipeline(dummy_input(1, tag="other", storage="memory"),
                                     tcp_output(sink.port)),
                            service={"chunk_size": "32K"})
        s2.start()
        wait_for(lambda: sink.count() >= len(expected), 30,
                 f"{len(expected)} records at the sink (have {sink.count()})")
        wait_for(lambda: not chunk_files(storage), 10, "chunk files deleted")
        assert s2.metric("sluice_storage_recovered_records_total") == len(expected)
        assert s2.metric("sluice_storage_truncated_frames_total") == 1
        assert s2.metric("sluice_storage_corrupt_chunks_total") == 1
        time.sleep(0.3)
        assert s2.stop() == 0
    finally:
        sink.stop()
    got = [r["seq"] for r in sink.records()]
    assert sorted(got) == sorted(expected), (
        f"{len(got)} delivered, expected {len(expected)}; missing "
        f"{sorted(set(expected) - set(got))[:10]}, extra {sorted(set(got) - set(expected))[:10]}")
    aside = [p for p in (storage / "corrupt").rglob("*") if p.is_file()]
    assert any(p.read_bytes() == damaged_b for p in aside), "damaged chunk not kept in corrupt/"


# ---- per-output acknowledgement survives kill -9 -----------------------------

def test_kill9_resends_only_to_unacknowledged_output(sluice_factory, tmp_path):
    n = 2000
    out = tmp_path / "file-out.ndjson"
    sink = sink_down()
    s = sluice_factory(pipeline(dummy_input(n), tcp_output(sink.port) + file_output(out)),
                       service={"chunk_size": "32K"})
    storage = s.dir / "sluice-storage"
    s.start()
    wait_for(lambda: len(read_lines(out)) >= n, 20, f"{n} lines in the file output")
    wait_for(lambda: (rows := inspect_rows(storage))
             and all("f" in r.split("acked by:")[1].replace(",", " ").split() for r in rows),
             10, "every chunk acknowledged by the file output")
    s.kill()

    sink.start()
    try:
        s2 = sluice_factory(pipeline(dummy_input(1, tag="other", storage="memory"),
                                     tcp_output(sink.port) + file_output(out)))
        s2.start()
        wait_for(lambda: sink.count() >= n, 30, f"{n} records at the tcp sink")
        wait_for(lambda: not chunk_files(storage), 10, "chunk files deleted")
        time.sleep(0.5)
        assert s2.stop() == 0
    finally:
        sink.stop()
    tcp_seqs = [r["seq"] for r in sink.records()]
    assert sorted(tcp_seqs) == list(range(n)), f"tcp: {len(tcp_seqs)} records"
    file_d = [r["seq"] for r in map(json.loads, read_lines(out)) if r["tag"] == "d"]
    assert sorted(file_d) == list(range(n)), (
        f"file output: {len(file_d)} records of tag d, {len(set(file_d))} distinct "
        "(a restart re-sent chunks it had acknowledged)")


# ---- SIGHUP reload removing an output keeps its chunks ----------------------

def test_reload_removing_output_keeps_its_chunks(sluice_factory, tmp_path):
    n = 2000
    out = tmp_path / "file-out.ndjson"
    sink = sink_down()
    s = sluice_factory(pipeline(dummy_input(n), tcp_output(sink.port) + file_output(out)),
                       service={"chunk_size": "32K", "grace": "1s"})
    storage = s.dir / "sluice-storage"
    s.start()
    wait_for(lambda: len(read_lines(out)) >= n, 20, f"{n} lines in the file output")
    before = len(chunk_files(storage))
    assert before > 0
    mark = len(s.log_text())
    s.reload(pipeline=pipeline(dummy_input(1, tag="other", storage="memory"),
                               file_output(out)))
    s.wait_log("configuration reloaded", timeout=10, start=mark)
    s.wait_log("previous pipeline drained", timeout=10, start=mark)
    time.sleep(0.5)                  # the new pipeline takes over the old chunks
    kept = export_seqs(storage)
    assert sorted(kept) == list(range(n)), (
        f"after the reload {len(kept)} of {n} records of the removed output "
        f"are on disk; log:\n{s.log_tail(8)}")
    line = s.wait_log("kept", timeout=5, start=mark)
    print("reload log:", line)
    assert s.stop() == 0
    assert sorted(export_seqs(storage)) == list(range(n))

    sink.start()
    try:
        s2 = sluice_factory(pipeline(dummy_input(1, tag="other", storage="memory"),
                                     tcp_output(sink.port) + file_output(out)))
        s2.start()
        wait_for(lambda: sink.count() >= n, 30, f"{n} records at the tcp sink")
        wait_for(lambda: not chunk_files(storage), 10, "chunk files deleted")
        time.sleep(0.3)
        assert s2.stop() == 0
    finally:
        sink.stop()
    assert sorted(r["seq"] for r in sink.records()) == list(range(n))
    file_d = [r["seq"] for r in map(json.loads, read_lines(out)) if r["tag"] == "d"]
    assert sorted(file_d) == list(range(n)), f"file output: {len(file_d)} records of tag d"
