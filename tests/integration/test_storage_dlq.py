"""Issue 3, Proof 6: the dead-letter queue and `sluice replay`.

The tcp output has no permanent rejections, so "a sink that rejects every
record" is a sink that is down with retry_limit 1: every record is given up
after two attempts and written to storage.path/dlq/<output>/YYYYMMDD.ndjson.
`sluice replay` then delivers them once the sink is up and removes the file.
A replay whose sink goes away in the middle keeps exactly the lines it did
not deliver.
"""

import datetime
import json
import re
import sys
from pathlib import Path

from conftest import TcpSink, run_cli, wait_for, yq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from storage_tools import StopAfterSink, chunk_files  # noqa: E402

N = 500


def config(tmp_path, port, name, chunk_size="2M", samples=N):
    text = f"""service:
  flush: 200ms
  grace: 1s
  log_level: info
  chunk_size: {chunk_size}
  storage.path: {yq(tmp_path / 'storage')}
  http_server: on
  http_listen: 127.0.0.1
  http_port: 0
  http_port_file: {yq(tmp_path / (name + '.port'))}
pipeline:
  inputs:
    - name: dummy
      tag: d
      kind: app
      rate: 0
      samples: {samples}
      seed: 5
      storage.type: filesystem
  outputs:
    - name: tcp
      alias: sink
      match: '*'
      port: {port}
      retry_base: 100ms
      retry_max: 200ms
      retry_limit: 1
"""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def replay(cfg, *files):
    return run_cli("replay", "--config", cfg, "--output", "sink", *files, timeout=60)


def test_dlq_then_replay(sluice_factory, tmp_path):
    sink = TcpSink().start()
    sink.stop()                                   # down: every flush fails
    s = sluice_factory("", raw_config=config(tmp_path, sink.port, "sluice").read_text())
    s.start()
    wait_for(lambda: s.metric("sluice_output_dlq_records_total", name="sink") >= N, 20,
             f"{N} records in the DLQ")
    dropped = {dict(ls)["reason"]: v for (n, ls), v in s.metrics().items()
               if n == "sluice_output_dropped_records_total"}
    assert s.metric("sluice_output_dlq_records_total", name="sink") == N
    assert s.stop() == 0
    print("dropped counters with the DLQ on:", dropped)

    storage = tmp_path / "storage"
    files = sorted((storage / "dlq" / "sink").glob("*.ndjson"))
    assert len(files) == 1, files
    today = datetime.datetime.now(datetime.timezone.utc)
    assert files[0].name in {(today - datetime.timedelta(days=d)).strftime("%Y%m%d.ndjson")
                             for d in (0, 1)}, files[0].name
    lines = [json.loads(l) for l in files[0].read_text().splitlines()]
    assert len(lines) == N
    for x in lines:
        assert set(x) == {"record", "tag", "ts", "output", "error", "attempts"}, x
        assert x["tag"] == "d" and x["output"] == "sink"
        assert "refused" in x["error"].lower(), x["error"]
        assert x["attempts"] == 2, x                      # first try + retry_limit 1
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", x["ts"]), x["ts"]
    assert sorted(x["record"]["seq"] for x in lines) == list(range(N))
    assert not chunk_files(storage), "chunks given up to the DLQ still on disk"

    # replay with the sink up: all delivered once, file removed
    sink.start()
    try:
        r = replay(tmp_path / "sluice.yaml")
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: sink.count() >= N, 10, f"{N} replayed records at the sink")
    finally:
        sink.stop()
    assert sorted(x["seq"] for x in sink.records()) == list(range(N))
    assert [x["record"] for x in sorted(lines, key=lambda x: x["record"]["seq"])] == \
        sorted(sink.records(), key=lambda x: x["seq"])
    assert not files[0].exists(), "delivered DLQ file not removed"


def dlq_line(tag, seq, pad):
    return json.dumps({"record": {"seq": seq, "pad": "x" * pad}, "tag": tag,
                       "ts": "2026-01-02T03:04:05.000000006Z", "output": "sink",
                       "error": "connect: Connection refused", "attempts": 2},
                      separators=(",", ":")) + "\n"


def test_replay_interrupted_keeps_exactly_the_undelivered(tmp_path):
    # Tag a (small) is one chunk, tag b another of ~24 MiB: more than the
    # loopback socket buffers hold, so b cannot be written entirely before
    # the sink resets the connection after the last line of a.
    n_a, n_b = 200, 24_000
    dlq = tmp_path / "partial.ndjson"
    with open(dlq, "w") as f:
        f.write("".join(dlq_line("a", i, 50) for i in range(n_a)))
        f.write("".join(dlq_line("b", i, 1000) for i in range(n_b)))
        f.write("this line is not a DLQ record\n")
    sink = StopAfterSink(n_a)
    try:
        cfg = config(tmp_path, sink.port, "replay", chunk_size="64M")
        r = replay(cfg, dlq)
        print("replay:", r.stderr.strip()[-400:])
        assert sink.gone.wait(5), "the sink never saw the records of tag a"
    finally:
        sink.stop()
    assert sorted(x["seq"] for x in sink.records()) == list(range(n_a))
    assert all("pad" in x and len(x["pad"]) == 50 for x in sink.records())
    left = dlq.read_text().splitlines()
    assert "this line is not a DLQ record" in left, "an unreadable line was dropped"
    kept = [json.loads(l) for l in left if l.startswith("{")]
    assert [x["tag"] for x in kept] == ["b"] * n_b, (
        f"{len(kept)} lines kept: {sum(x['tag'] == 'a' for x in kept)} of a, "
        f"{sum(x['tag'] == 'b' for x in kept)} of b")
    assert sorted(x["record"]["seq"] for x in kept) == list(range(n_b))
    assert all(x["output"] == "sink" and x["error"] and x["attempts"] >= 1 for x in kept)
    m = re.search(r"(\d+) records replayed, (\d+) delivered, (\d+) failed again", r.stderr)
    assert m and tuple(map(int, m.groups())) == (n_a + n_b, n_a, n_b), r.stderr
