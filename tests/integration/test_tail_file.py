"""tail -> file: every line of a 100,000-line file exactly once, plus bursts."""

import os

from conftest import (assert_exactly_once, numbered_line, read_lines,
                      read_ndjson, wait_lines, write_numbered, yq)

N = 100_000


def tail_to_file(src_glob, out, read_from_head="on"):
    return f"""
pipeline:
  inputs:
    - name: tail
      tag: app.log
      path:
        - {yq(src_glob)}
      read_from_head: {read_from_head}
      refresh_interval: 1s
      parser: json
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
"""


def test_tail_100k_exactly_once_then_bursts(sluice_factory, tmp_path):
    src = tmp_path / "in" / "app.log"
    src.parent.mkdir()
    write_numbered(src, 0, N, mode="w")
    out = tmp_path / "out.ndjson"
    s = sluice_factory(tail_to_file(tmp_path / "in" / "*.log", out))
    s.start()

    wait_lines(out, N, timeout=60)
    lines = read_lines(out)
    src_lines = src.read_bytes().split(b"\n")[:-1]
    assert len(lines) == N
    # no filter touched them: the output line is the source line, byte for byte
    assert set(lines) == set(src_lines)
    assert_exactly_once(read_ndjson(out), range(N))
    assert out.stat().st_mode & 0o777 == 0o640, oct(out.stat().st_mode)

    # Appends in bursts while running, some split in the middle of a line.
    total = N
    fd = os.open(src, os.O_WRONLY | os.O_APPEND)
    try:
        for burst in range(8):
            chunk = "".join(numbered_line(i) for i in range(total, total + 2500)).encode()
            if burst % 2:
                cut = len(chunk) // 2 + 7           # mid-line
                os.write(fd, chunk[:cut])
                os.fsync(fd)
                os.write(fd, chunk[cut:])
            else:
                os.write(fd, chunk)
            total += 2500
            if burst == 3:   # let half the bursts be read before the rest land
                wait_lines(out, total, timeout=30)
    finally:
        os.close(fd)
    wait_lines(out, total, timeout=60)
    assert_exactly_once(read_ndjson(out), range(total))
    assert s.stop() == 0
    assert_exactly_once(read_ndjson(out), range(total))


def test_tail_picks_up_new_file(sluice_factory, tmp_path):
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    write_numbered(src_dir / "a.log", 0, 100, mode="w")
    out = tmp_path / "out.ndjson"
    s = sluice_factory(tail_to_file(src_dir / "*.log", out))
    s.start()
    wait_lines(out, 100, timeout=20)
    write_numbered(src_dir / "b.log", 100, 200, mode="w")    # matched by the glob later
    wait_lines(out, 200, timeout=20)
    assert s.stop() == 0
    assert_exactly_once(read_ndjson(out), range(200))
