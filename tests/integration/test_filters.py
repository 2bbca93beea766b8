"""grep and modify change what reaches the file; untouched records keep their bytes."""

import json
import re

from conftest import read_lines, read_ndjson, wait_for, wait_lines, yq

# Unusual but valid: spaces around tokens, tabs, escapes, \/ and \u escapes.
ODD = ('{ "id" : "odd",  "s":"tab\\tquote\\" slash\\/ e\\u00e9 nl\\n",\t'
       '"arr":[1, 2 ,3.50] , "nested": {"a" :null, "b":true} }')

INPUT = [
    {"id": "a", "service": "checkout", "level": "info", "msg": "paid", "secret": "x"},
    {"id": "b", "service": "checkout", "level": "debug", "msg": "dbg"},
    {"id": "c", "service": "billing", "level": "info", "msg": "other"},
    {"id": "d", "service": "checkout", "level": "error", "msg": "boom", "host": "h0"},
    {"id": "e", "service": "checkout-v2", "level": "warn", "msg": "near miss"},
]


def compact_outside_strings(line):
    """True when the JSON text has no whitespace outside string literals."""
    stripped = re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', line)
    return not re.search(rb"\s", stripped)


def pipeline(tmp_path):
    inputs = ""
    for tag in ("raw", "grep", "mod"):
        inputs += f"""
    - name: tail
      tag: {tag}
      path:
        - {yq(tmp_path / 'in' / (tag + '.log'))}
      read_from_head: on
      parser: json"""
    outputs = ""
    for tag in ("raw", "grep", "mod"):
        outputs += f"""
    - name: file
      alias: out_{tag}
      match: {tag}
      path: {yq(tmp_path / (tag + '.out'))}"""
    return f"""
pipeline:
  inputs:{inputs}
  filters:
    - name: grep
      match: grep
      regex:
        - service ^checkout$
      exclude:
        - level ^debug$
    - name: modify
      match: mod
      set:
        - env prod
      add:
        - host web-1
      remove:
        - secret
      rename:
        - msg message
      copy:
        - level severity
  outputs:{outputs}
"""


def expected_modify(rec):
    r = dict(rec)
    r["env"] = "prod"
    r.setdefault("host", "web-1")
    r.pop("secret", None)
    if "msg" in r:
        r["message"] = r.pop("msg")
    if "level" in r:
        r["severity"] = r["level"]
    return r


def test_grep_modify_and_byte_identity(sluice_factory, tmp_path):
    (tmp_path / "in").mkdir()
    body = "".join(json.dumps(r) + "\n" for r in INPUT) + ODD + "\n"
    for tag in ("raw", "grep", "mod"):
        (tmp_path / "in" / f"{tag}.log").write_text(body)
    s = sluice_factory(pipeline(tmp_path))
    s.start()

    raw = wait_lines(tmp_path / "raw.out", 6, timeout=15)
    mod = wait_lines(tmp_path / "mod.out", 6, timeout=15)
    wait_for(lambda: len(read_lines(tmp_path / "grep.out")) >= 2, 15, "grep output")
    # once every input was read and flushed, the grep output is complete
    wait_for(lambda: s.metric("sluice_input_records_total", plugin="tail") >= 18, 10,
             "18 input records")
    wait_for(lambda: s.metric("sluice_output_records_total", plugin="file") >= 6 + 6 + 2,
             10, "all outputs flushed")

    # raw: untouched, byte-identical (including the odd line)
    assert raw == body.encode().split(b"\n")[:-1]

    # grep: service ^checkout$ AND NOT level ^debug$
    got = read_ndjson(tmp_path / "grep.out")
    assert [r["id"] for r in got] == ["a", "d"]
    assert got == [INPUT[0], INPUT[3]]
    assert s.metric("sluice_filter_dropped_records_total", plugin="grep") == 4

    # modify: exact field changes, and every touched record re-serialised compactly
    got = read_ndjson(tmp_path / "mod.out")
    want = [expected_modify(r) for r in INPUT] + [expected_modify(json.loads(ODD))]
    assert got == want
    for line in mod:
        assert compact_outside_strings(line), line
    odd_out = json.loads(mod[5])
    assert odd_out["s"] == json.loads(ODD)["s"]
    assert s.stop() == 0


def test_pretty_printed_object_is_compacted_at_ingest(sluice_factory, tmp_path):
    """A record whose bytes hold raw newlines between tokens (a pretty-printed
    object, here the dummy input's fixed record) leaves as one compact line."""
    out = tmp_path / "out.ndjson"
    pretty = {"id": 1, "nested": {"list": [1, 2, {"k": "v w"}], "t": True},
              "msg": "multi\nline"}
    block = "\n".join("        " + l for l in json.dumps(pretty, indent=2).splitlines())
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      tag: pretty
      rate: 20
      samples: 3
      dummy: |
{block}
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
""")
    s.start()
    lines = wait_lines(out, 3, timeout=10)
    for line in lines:
        assert json.loads(line) == pretty
        assert compact_outside_strings(line), line
    assert s.stop() == 0
    assert len(read_lines(out)) == 3
