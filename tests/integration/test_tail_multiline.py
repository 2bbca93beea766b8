"""Issue 4, tail: multiline (Java and Python traces interleaved with normal
lines, a rule-based parser from multiline_parsers), path_key / offset_key,
and long lines (split, truncate, skip).  Records are compared one by one."""

import time

from conftest import read_ndjson, wait_for, wait_lines, yq


def java_trace(k):
    return [f"Exception in thread \"worker-{k}\" java.lang.IllegalStateException: boom {k}",
            f"\tat com.acme.Job.run(Job.java:{k})",
            "\tat java.base/java.lang.Thread.run(Thread.java:833)",
            f"Caused by: java.io.IOException: disk {k}",
            "\tat com.acme.Disk.read(Disk.java:7)",
            "\t... 1 more"]


def python_trace(k):
    return ["Traceback (most recent call last):",
            f"  File \"/app/job.py\", line {k}, in <module>",
            "    main()",
            f"KeyError: 'k{k}'"]


def build(kind, n):
    """Lines of the file and the records expected from them, in order."""
    lines, recs = [], []
    for k in range(n):
        normal = f"2024-05-01T10:00:{k % 60:02d} INFO {kind} normal line {k}"
        lines.append(normal)
        recs.append(normal)
        if k % 3 == 0:
            t = java_trace(k) if kind == "java" else python_trace(k)
            lines += t
            recs.append("\n".join(t))
    return lines, recs


def test_java_and_python_traces_interleaved(sluice_factory, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    out = tmp_path / "out.ndjson"
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: tail
      tag: java
      path: [{yq(d / 'java.log')}]
      read_from_head: on
      refresh_interval: 200ms
      multiline.parser: java
      path_key: file
    - name: tail
      tag: py
      path: [{yq(d / 'py.log')}]
      read_from_head: on
      refresh_interval: 200ms
      multiline.parser: python
      path_key: file
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
      format: json_lines
""")
    jl, jr = build("java", 300)
    pl, pr = build("python", 300)
    # Half before the start, half in bursts cut anywhere (even mid-line).
    (d / "java.log").write_text("\n".join(jl[:400]) + "\n")
    (d / "py.log").write_text("\n".join(pl[:300]) + "\n")
    s.start()
    for name, lines in (("java.log", jl[400:]), ("py.log", pl[300:])):
        text = "\n".join(lines) + "\n"
        with open(d / name, "a") as f:
            for i in range(0, len(text), 997):
                f.write(text[i:i + 997])
                f.flush()
    # The last records wait for flush_timeout (2 s for the built-ins).
    wait_lines(out, len(jr) + len(pr), timeout=30)
    time.sleep(0.3)
    joined = s.metric("sluice_tail_multiline_records_total")
    assert s.stop() == 0
    got = read_ndjson(out)
    by_file = {"java.log": [], "py.log": []}
    for r in got:
        by_file[r["file"].rsplit("/", 1)[1]].append(r["log"])
    assert by_file["java.log"] == jr, _first_diff(by_file["java.log"], jr)
    assert by_file["py.log"] == pr, _first_diff(by_file["py.log"], pr)
    assert joined == 200, joined


def _first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"record {i}: {x!r} != {y!r}"
    return f"lengths {len(a)} != {len(b)}"


def test_rules_parser_with_path_and_offset(sluice_factory, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    log = d / "svc.log"
    out = tmp_path / "out.ndjson"
    s = sluice_factory(f"""
multiline_parsers:
  - name: dated
    flush_timeout: 300ms
    rules:
      - state: start_state
        regex: '/^\\d{{4}}-\\d\\d-\\d\\d /'
        next_state: cont
      - state: cont
        regex: '^\\s+'
        next_state: cont
pipeline:
  inputs:
    - name: tail
      tag: svc
      path: [{yq(log)}]
      read_from_head: on
      multiline.parser: dated
      path_key: file
      offset_key: offset
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
      format: json_lines
""")
    chunks, expect, off = [], [], 0
    for k in range(50):
        rec = [f"2024-05-01 event {k}"] + [f"    detail {k}.{j}" for j in range(k % 4)]
        text = "\n".join(rec) + "\n"
        expect.append(("\n".join(rec), off))
        chunks.append(text)
        off += len(text.encode())
    log.write_text("".join(chunks))
    s.start()
    wait_lines(out, 50, timeout=20)
    assert s.stop() == 0
    got = read_ndjson(out)
    assert [(r["log"], r["offset"]) for r in got] == expect
    assert all(r["file"] == str(log) for r in got)
    assert list(got[0].keys())[:2] == ["file", "offset"]


def test_config_error_points_at_the_rule(sluice_factory, tmp_path):
    s = sluice_factory(f"""
multiline_parsers:
  - name: bad
    rules:
      - state: start_state
        regex: '(unclosed'
        next_state: cont
pipeline:
  inputs:
    - name: tail
      path: [{yq(tmp_path / '*.log')}]
      multiline.parser: bad
  outputs:
    - name: null
      match: '*'
""")
    s.start(wait=False)
    assert s.wait_exit(10) != 0
    log = s.log_text()
    assert "invalid regex" in log and "sluice.yaml:" in log, log[-2000:]


def long_line_conf(src, out, extra):
    return f"""
pipeline:
  inputs:
    - name: tail
      tag: long
      path: [{yq(src)}]
      read_from_head: on
      max_line_size: 1K
      buffer_max_size: 4K
      buffer_chunk_size: 4K
{extra}  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
      format: json_lines
"""


def run_long(sluice_factory, tmp_path, extra, n_expected):
    src = tmp_path / "long.log"
    out = tmp_path / "out.ndjson"
    big = "".join(chr(ord("a") + i % 26) for i in range(3000))
    src.write_text("before\n" + big + "\n" + "after\n")
    s = sluice_factory(long_line_conf(src, out, extra))
    s.start()
    wait_lines(out, n_expected, timeout=20)
    time.sleep(0.3)
    long_lines = s.metric("sluice_input_long_lines_total")
    dropped = s.metric("sluice_input_dropped_records_total", reason="long_line") or 0
    assert s.stop() == 0
    return read_ndjson(out), big, long_lines, dropped


def test_long_line_split(sluice_factory, tmp_path):
    got, big, n, dropped = run_long(sluice_factory, tmp_path, "", 5)
    assert [r["log"] for r in got] == ["before", big[:1024], big[1024:2048],
                                       big[2048:], "after"]
    assert [r.get("truncated") for r in got] == [None, True, True, True, None]
    assert (n, dropped) == (1, 0)


def test_long_line_truncate(sluice_factory, tmp_path):
    got, big, n, dropped = run_long(sluice_factory, tmp_path,
                                    "      long_line_mode: truncate\n", 3)
    assert [r["log"] for r in got] == ["before", big[:1024], "after"]
    assert got[1]["truncated"] is True
    assert (n, dropped) == (1, 0)


def test_long_line_skip(sluice_factory, tmp_path):
    got, big, n, dropped = run_long(sluice_factory, tmp_path,
                                    "      skip_long_lines: on\n", 2)
    assert [r["log"] for r in got] == ["before", "after"]
    assert (n, dropped) == (1, 1)
