"""stdin one-shot: `sluice -c cfg < file` delivers every line and exits 0."""

from conftest import (Sluice, assert_exactly_once, read_lines, read_ndjson,
                      write_numbered, yq)


def test_stdin_oneshot(sluice_bin, tmp_path):
    src = tmp_path / "in.ndjson"
    out = tmp_path / "out.ndjson"
    write_numbered(src, 0, 20000, mode="w")
    s = Sluice(tmp_path, f"""
pipeline:
  inputs:
    - name: stdin
      tag: oneshot
      parser: json
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
""", admin=False)
    with open(src, "rb") as f:
        s.start(stdin=f, wait=False)
        rc = s.wait_exit(30)
    assert rc == 0, s.log_tail()
    assert read_lines(out) == src.read_bytes().split(b"\n")[:-1]
    assert_exactly_once(read_ndjson(out), range(20000))


def test_stdin_invalid_json_kept_as_log(sluice_bin, tmp_path):
    out = tmp_path / "out.ndjson"
    s = Sluice(tmp_path, f"""
pipeline:
  inputs:
    - name: stdin
      tag: oneshot
      parser: json
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
""", admin=False)
    src = tmp_path / "in.txt"
    src.write_text('{"ok":1}\nnot json at all\n{"ok":2}\n')
    with open(src, "rb") as f:
        s.start(stdin=f, wait=False)
        assert s.wait_exit(30) == 0, s.log_tail()
    assert read_ndjson(out) == [{"ok": 1}, {"log": "not json at all"}, {"ok": 2}]
