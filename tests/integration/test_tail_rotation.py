"""Issue 4, tail: rotation (rename + create, copytruncate) under load, a
restart in the middle of a file, a file replaced under the same inode, and
10,000 files in one glob.  Every record is numbered; counts are checked
line by line (each number exactly once)."""

import json
import os
import shutil
import threading
import time

from conftest import (HttpSink, assert_exactly_once, numbered_line, read_lines,
                      read_ndjson, wait_for, wait_lines, write_numbered, yq)


def tail_conf(glob, out, extra="", parser="json"):
    return f"""
pipeline:
  inputs:
    - name: tail
      tag: app
      path:
        - {yq(glob)}
      read_from_head: on
      refresh_interval: 200ms
      rotate_wait: 2s
      parser: {parser}
{extra}  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
"""


class Writer(threading.Thread):
    """Appends numbered lines to <path> at about <rate> lines/s; the
    rotate(kind) call rotates the file the way logrotate does."""

    def __init__(self, path, rate=4000):
        super().__init__(daemon=True)
        self.path = path
        self.rate = rate
        self.n = 0
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.f = open(path, "a")

    def run(self):
        step = 0.01
        per = max(1, int(self.rate * step))
        while not self.halt.is_set():
            with self.lock:
                self.f.write("".join(numbered_line(i)
                                     for i in range(self.n, self.n + per)))
                self.f.flush()
                self.n += per
            time.sleep(step)

    def rename_create(self, dest):
        """logrotate's default: rename, create, then the writer reopens a
        little later (it writes to the renamed file meanwhile)."""
        os.rename(self.path, dest)
        open(self.path, "a").close()
        time.sleep(0.05)
        with self.lock:
            self.f.close()
            self.f = open(self.path, "a")

    def copytruncate(self, dest):
        """logrotate's copytruncate: copy, then truncate in place.  The
        writer keeps its O_APPEND descriptor.  Lines written between the
        copy and the truncation are lost by design (logrotate documents
        it), so the expected set is what is on disk afterwards."""
        shutil.copyfile(self.path, dest)
        os.truncate(self.path, 0)

    def stop(self):
        self.halt.set()
        self.join(5)
        self.f.close()


def disk_numbers(paths):
    ns = []
    for p in paths:
        for line in p.read_bytes().split(b"\n")[:-1]:
            ns.append(int(line.split(b'"n":')[1].split(b",")[0]))
    return ns


def test_rename_create_under_load(sluice_factory, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    log = d / "app.log"
    out = tmp_path / "out.ndjson"
    w = Writer(log)
    s = sluice_factory(tail_conf(log, out))   # the exact path: old files are
    s.start()                                # read through rotate_wait only
    w.start()
    for k in range(1, 9):
        time.sleep(0.4)
        w.rename_create(d / f"app.log.{k}")
    time.sleep(0.3)
    w.stop()
    total = w.n
    wait_lines(out, total, timeout=60)
    time.sleep(0.5)
    rotations = s.metric("sluice_tail_rotations_total")
    assert s.stop() == 0
    recs = read_ndjson(out)
    print(f"rename+create: {total} lines, 8 rotations seen {rotations}, "
          f"{len(recs)} records")
    assert_exactly_once(recs, range(total))
    assert rotations == 8


def test_copytruncate_under_load(sluice_factory, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    log = d / "app.log"
    out = tmp_path / "out.ndjson"
    w = Writer(log)
    # The glob also matches the copies: the copy of a truncated file is
    # resumed at the offset the original had reached.
    s = sluice_factory(tail_conf(d / "app.log*", out))
    s.start()
    w.start()
    for k in range(1, 7):
        time.sleep(0.5)
        w.copytruncate(d / f"app.log.{k}")
    time.sleep(0.3)
    w.stop()
    on_disk = disk_numbers(sorted(d.iterdir()))
    # copytruncate itself may lose the lines written between copy and
    # truncate; whatever is on disk must arrive exactly once.
    expected = set(on_disk)
    wait_for(lambda: len(read_lines(out)) >= len(expected), 60,
             f"{len(expected)} records")
    time.sleep(0.5)
    truncations = s.metric("sluice_tail_truncations_total")
    assert s.stop() == 0
    recs = read_ndjson(out)
    print(f"copytruncate: writer {w.n} lines, {len(expected)} on disk, "
          f"{len(recs)} records, {truncations} truncations seen")
    # Lines written between a copy and its truncation are on disk nowhere
    # afterwards, but tail may have read them in that window: such lines
    # may arrive (once); every line on disk must arrive exactly once.
    in_window = {r["n"] for r in recs} - expected
    assert all(0 <= n < w.n for n in in_window), sorted(in_window)[:10]
    assert_exactly_once(recs, expected | in_window)
    assert truncations >= 6


def test_copy_shorter_than_the_offset_read(sluice_factory, tmp_path):
    """copytruncate whose copy missed the last lines (written after the
    copy, before the truncation) that tail had already read from the
    original: the copy holds nothing new and is not read again."""
    d = tmp_path / "in"
    d.mkdir()
    log = d / "app.log"
    out = tmp_path / "out.ndjson"
    write_numbered(log, 0, 1000, mode="w")
    s = sluice_factory(tail_conf(d / "app.log*", out))
    s.start()
    wait_lines(out, 1000, timeout=20)
    lines = log.read_bytes().splitlines(keepends=True)
    (d / "app.log.1").write_bytes(b"".join(lines[:900]))   # the short copy
    time.sleep(0.6)                   # found, and parked as app.log's twin
    os.truncate(log, 0)
    write_numbered(log, 1000, 1100)
    wait_lines(out, 1100, timeout=20)
    time.sleep(2.5)                   # past rotate_wait (2 s)
    assert s.stop() == 0
    assert_exactly_once(read_ndjson(out), range(1100))
    assert "already read" in s.log_text()


def test_restart_resumes_exactly(sluice_factory, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    log = d / "app.log"
    out = tmp_path / "out.ndjson"
    write_numbered(log, 0, 20000, mode="w")
    s = sluice_factory(tail_conf(log, out))
    s.start()
    wait_lines(out, 20000, timeout=30)
    assert s.stop() == 0                       # graceful: db written at stop
    db = s.dir / "sluice-storage" / "tail-tail.0.db"
    assert db.exists(), list((s.dir / "sluice-storage").iterdir())
    # Written while stopped, one line cut in the middle, finished later.
    write_numbered(log, 20000, 25000)
    with open(log, "a") as f:
        f.write(numbered_line(25000)[:30])
    s.start()
    wait_lines(out, 25000, timeout=30)
    with open(log, "a") as f:
        f.write(numbered_line(25000)[30:])
    write_numbered(log, 25001, 26000)
    wait_lines(out, 26000, timeout=30)
    assert s.stop() == 0
    assert_exactly_once(read_ndjson(out), range(26000))


def test_restart_after_kill_resumes(sluice_factory, tmp_path):
    """Memory storage, kill -9: offsets only cover delivered records, so
    nothing is lost; duplicates are limited to what was in flight."""
    d = tmp_path / "in"
    d.mkdir()
    log = d / "app.log"
    out = tmp_path / "out.ndjson"
    write_numbered(log, 0, 30000, mode="w")
    s = sluice_factory(tail_conf(log, out))
    s.start()
    wait_lines(out, 30000, timeout=30)
    time.sleep(0.6)                            # delivered; db synced
    s.kill()
    write_numbered(log, 30000, 31000)
    s.start()
    wait_for(lambda: len(read_lines(out)) >= 31000, 30, "31000 records")
    time.sleep(0.5)
    assert s.stop() == 0
    ns = [r["n"] for r in read_ndjson(out)]
    assert set(ns) == set(range(31000))
    dups = len(ns) - len(set(ns))
    print(f"kill -9 after delivery: {dups} duplicates")
    assert dups < 1000, f"{dups} duplicates: whole file re-read?"


def test_graceful_stop_saves_what_the_drain_delivered(sluice_factory, tmp_path):
    """Memory storage, SIGTERM while a batch is in flight: the drain
    delivers it and the offsets saved at exit include it, so the next
    start reads nothing twice."""
    log = tmp_path / "app.log"
    write_numbered(log, 0, 300, mode="w")
    sink = HttpSink(delay=2.0)
    try:
        pipeline = f"""
pipeline:
  inputs:
    - name: tail
      tag: app
      path: [{yq(log)}]
      read_from_head: on
      parser: json
  outputs:
    - name: http
      match: '*'
      port: {sink.port}
"""
        s = sluice_factory(pipeline, service={"grace": "10s"})
        s.start()
        time.sleep(0.7)             # sealed by the idle flush, held by the sink
        assert sink.requests == [], "the sink answered before the stop"
        assert s.stop() == 0        # the drain waits for the held request
        assert len(sink.ok()) == 1
        write_numbered(log, 300, 400)
        sink.delay = 0
        s.start()
        wait_for(lambda: sum(len(r["body"].splitlines()) for r in sink.ok()) >= 400,
                 20, "400 records at the sink")
        time.sleep(0.5)
        assert s.stop() == 0
        ns = [json.loads(l)["n"] for r in sink.ok() for l in r["body"].splitlines()]
        assert sorted(ns) == list(range(400)), \
            f"{len(ns) - len(set(ns))} duplicates after a graceful stop"
    finally:
        sink.close()


def test_same_inode_new_content_read_from_zero(sluice_factory, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    log = d / "app.log"
    out = tmp_path / "out.ndjson"
    write_numbered(log, 0, 500, mode="w")
    ino = log.stat().st_ino
    s = sluice_factory(tail_conf(log, out))
    s.start()
    wait_lines(out, 500, timeout=20)
    assert s.stop() == 0
    # Replaced while stopped, in place (same inode), by longer content:
    # the saved offset is below its size, only the fingerprint tells.
    with open(log, "r+") as f:
        f.truncate(0)
        f.write("".join(numbered_line(i, pad=70) for i in range(1000, 2000)))
    assert log.stat().st_ino == ino
    s.start()
    wait_lines(out, 1500, timeout=20)
    # And live: rewritten in place while followed.
    with open(log, "r+") as f:
        f.truncate(0)
        f.write("".join(numbered_line(i, pad=80) for i in range(5000, 6000)))
    wait_lines(out, 2500, timeout=20)
    time.sleep(0.5)
    assert s.stop() == 0
    expected = list(range(500)) + list(range(1000, 2000)) + list(range(5000, 6000))
    assert_exactly_once(read_ndjson(out), expected)


def test_10000_files_in_a_glob(sluice_factory, tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    nfiles = 10_000
    for i in range(nfiles):
        (d / f"f{i:05d}.log").write_text(numbered_line(i, pad=10))
    out = tmp_path / "out.ndjson"
    t0 = time.monotonic()
    s = sluice_factory(tail_conf(d / "*.log", out))
    s.start()
    wait_lines(out, nfiles, timeout=60)
    took = time.monotonic() - t0
    # Appends to a few of them while they are all followed.
    for i in range(0, nfiles, 1000):
        with open(d / f"f{i:05d}.log", "a") as f:
            f.write(numbered_line(nfiles + i, pad=10))
    wait_lines(out, nfiles + 10, timeout=30)
    opened = s.metric("sluice_tail_files_opened_total")
    fallback = s.metric("sluice_tail_inotify_fallback_total") or 0
    assert s.stop() == 0
    print(f"10000 files: first lines in {took:.1f}s, opened {opened}, "
          f"inotify fallback {fallback}")
    assert took < 30
    assert_exactly_once(read_ndjson(out),
                        list(range(nfiles)) + list(range(nfiles, 2 * nfiles, 1000)))


def test_10000_files_polling_when_out_of_watches(sluice_factory, tmp_path):
    """inotify off (as when inotify_add_watch fails with ENOSPC): every file
    is polled and appends still arrive."""
    d = tmp_path / "many"
    d.mkdir()
    nfiles = 2000
    for i in range(nfiles):
        (d / f"f{i:05d}.log").write_text(numbered_line(i, pad=10))
    out = tmp_path / "out.ndjson"
    s = sluice_factory(tail_conf(d / "*.log", out, extra="      inotify: off\n"))
    s.start()
    wait_lines(out, nfiles, timeout=60)
    with open(d / "f00007.log", "a") as f:
        f.write(numbered_line(nfiles, pad=10))
    wait_lines(out, nfiles + 1, timeout=10)
    assert s.stop() == 0
    assert_exactly_once(read_ndjson(out), range(nfiles + 1))
