"""Issue 3, Proof 4: storage.total_limit_size with each overflow policy.

The sink is down while numbered records (dummy "seq") arrive, then comes
back.  drop_oldest / drop_newest: the records missing at the sink are
exactly sluice_output_dropped_records_total{reason="overflow"}, with no
duplicates.  block: the input is paused (sluice_input_paused 1) while the
output is full and nothing is lost after the sink returns.
"""

import time

from conftest import TcpSink, wait_for

N = 50_000
LIMIT = 5 << 20


def sink_down():
    sink = TcpSink().start()
    sink.stop()
    return sink


def pipeline(port, n, limit, overflow, storage="filesystem"):
    return f"""
pipeline:
  inputs:
    - name: dummy
      tag: lim
      kind: app
      rate: 0
      samples: {n}
      seed: 3
      storage.type: {storage}
  outputs:
    - name: tcp
      alias: sink
      match: '*'
      port: {port}
      retry_base: 100ms
      retry_max: 500ms
      retry_limit: no_limits
      storage.total_limit_size: {limit}
      overflow: {overflow}
"""


def overflow_dropped(s):
    return s.metric("sluice_output_dropped_records_total", name="sink", reason="overflow")


def settle(s, what, timeout=20):
    """Waits until the input emitted everything and the queue is steady."""
    wait_for(lambda: s.metric("sluice_input_records_total") >= N, timeout,
             f"{N} records generated ({what})")
    last = [None]

    def steady():
        now = (s.metric("sluice_output_queue_bytes", name="sink"), overflow_dropped(s),
               s.metric("sluice_storage_chunks"))
        same, last[0] = now == last[0], now
        return same
    wait_for(steady, 10, "a steady queue", step=0.5)


def run_drop(sluice_factory, overflow, storage):
    sink = sink_down()
    s = sluice_factory(pipeline(sink.port, N, "5M", overflow, storage),
                       service={"chunk_size": "256K"})
    try:
        s.start()
        settle(s, overflow)
        queued = s.metric("sluice_output_queue_bytes", name="sink")
        dropped = overflow_dropped(s)
        assert queued <= LIMIT, f"{queued} bytes queued over the 5M limit"
        assert 0 < dropped < N, f"dropped {dropped} of {N}"
        sink.start()
        wait_for(lambda: sink.count() + overflow_dropped(s) >= N, 30,
                 f"sink count + dropped == {N} (sink {sink.count()}, dropped "
                 f"{overflow_dropped(s)})")
        wait_for(lambda: s.metric("sluice_output_queue_bytes", name="sink") == 0, 10,
                 "empty queue")
        time.sleep(0.5)                      # anything late would show up now
        dropped = overflow_dropped(s)
        assert s.metric("sluice_output_dropped_records_total", name="sink") == dropped
        assert s.stop() == 0
    finally:
        sink.stop()
    seqs = [r["seq"] for r in sink.records()]
    missing = set(range(N)) - set(seqs)
    print(f"{overflow} ({storage}): {len(seqs)} delivered, {len(missing)} missing, "
          f"{dropped:.0f} counted as dropped")
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} duplicates"
    assert len(missing) == dropped, f"{len(missing)} missing at the sink, {dropped} counted"
    return seqs, missing


def test_drop_oldest_counts_exactly_the_missing(sluice_factory):
    seqs, missing = run_drop(sluice_factory, "drop_oldest", "filesystem")
    assert N - 1 in seqs, "drop_oldest dropped the newest record"
    assert max(missing) < N - 1


def test_drop_newest_counts_exactly_the_missing(sluice_factory):
    seqs, missing = run_drop(sluice_factory, "drop_newest", "memory")
    assert 0 in seqs, "drop_newest dropped the oldest record"
    assert min(missing) > 0


def test_block_pauses_input_and_loses_nothing(sluice_factory):
    n = 20_000
    sink = sink_down()
    s = sluice_factory(pipeline(sink.port, n, "1M", "block"),
                       service={"chunk_size": "128K"})
    try:
        s.start()
        wait_for(lambda: s.metric("sluice_input_paused") == 1, 20, "input paused")
        got = s.metric("sluice_input_records_total")
        time.sleep(1.0)
        assert s.metric("sluice_input_paused") == 1
        assert s.metric("sluice_input_records_total") == got, "a blocked input went on"
        assert got < n
        # the limit holds, give or take the chunk that crossed it
        assert s.metric("sluice_output_queue_bytes", name="sink") <= (1 << 20) + (128 << 10) + 4096
        status, body = s.http("/health/ready")
        print(f"block: paused after {got:.0f} of {n} records; ready {status}")
        sink.start()
        wait_for(lambda: sink.count() >= n, 30, f"{n} records at the sink")
        wait_for(lambda: s.metric("sluice_input_paused") == 0, 10, "input resumed")
        assert s.metric("sluice_output_dropped_records_total") == 0
        assert s.stop() == 0
    finally:
        sink.stop()
    seqs = [r["seq"] for r in sink.records()]
    assert seqs == list(range(n)), f"{len(seqs)} delivered, {len(set(seqs))} distinct"
