"""Issue 8 filters through the real binary: record_transformer, nest and
parser outputs against NDJSON fixtures, throttle within 2 % of its rate,
redact over a corpus of secrets, the audit chain (verify, tamper, restart),
normalize routing by kind, lookup reloads, and the bot-fleet example."""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import (REPO, read_lines, read_ndjson, run_cli, wait_for,
                      wait_lines, yq)

DATA = REPO / "tests" / "data" / "filters"


def stdin_run(sluice_factory, tmp_path, pipeline, data, name="sluice", env=None):
    """Runs a one-shot pipeline fed from stdin until it exits."""
    s = sluice_factory(pipeline, admin=False, name=name)
    src = tmp_path / f"{name}.stdin"
    src.write_bytes(data)
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        with open(src, "rb") as f:
            s.start(stdin=f, wait=False)
            rc = s.wait_exit(30)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert rc == 0, s.log_tail()
    return s


# ---- record_transformer, nest, parser: exact output bytes -------------------

def test_transform_nest_parser_fixtures(sluice_factory, tmp_path):
    inputs = ""
    outputs = ""
    for tag, fixture in (("rt.web", "transform_in"), ("nest.x", "nest_in"),
                         ("trip.x", "nest_in"), ("parse.x", "parse_in")):
        inputs += f"""
    - name: tail
      tag: {tag}
      path: [{yq(DATA / (fixture + '.ndjson'))}]
      read_from_head: on
      parser: json"""
        outputs += f"""
    - name: file
      match: {tag}
      path: {yq(tmp_path / (tag + '.out'))}"""
    pipeline = f"""
parsers:
  - name: kv
    format: regex
    regex: '^(?<user>\\w+) did (?<what>\\w+)$'
pipeline:
  inputs:{inputs}
  filters:
    - name: record_transformer
      match: rt.*
      rename_keys: [msg message]
      remove_keys: [secret]
      remove_key_regex: ['^tmp_']
      record: |
        service ${{tag[1]}}
        who $user['name']
        first_role $user['roles'][0]
        summary "id=$id msg=$message"
        copy_n $n
        env ${{env:SL_IT_ENV}}
    - name: nest
      match: nest.*
      wildcard: ['k_*']
      nest_under: k
      remove_prefix: k_
    - name: nest
      match: trip.*
      wildcard: ['k_*']
      nest_under: k
      remove_prefix: k_
    - name: nest
      match: trip.*
      operation: lift
      nested_under: k
      add_prefix: k_
    - name: parser
      match: parse.*
      key_name: log
      parser: [json, kv]
      reserve_data: on
    - name: parser
      match: parse.*
      key_name: kv
      parser: logfmt
      reserve_data: on
  outputs:{outputs}
"""
    s = sluice_factory(pipeline)
    old = os.environ.get("SL_IT_ENV")
    os.environ["SL_IT_ENV"] = "fixture-env"
    try:
        s.start()
    finally:
        if old is None:
            del os.environ["SL_IT_ENV"]
        else:
            os.environ["SL_IT_ENV"] = old
    cases = (("rt.web", "transform_expected"), ("nest.x", "nest_expected"),
             ("trip.x", "nest_in"), ("parse.x", "parse_expected"))
    for tag, expected in cases:
        want = (DATA / (expected + ".ndjson")).read_bytes().splitlines()
        got = wait_lines(tmp_path / (tag + ".out"), len(want))
        assert got == want, f"{tag}: {got}"
    fail = "sluice_filter_parser_failures_total"
    assert s.metric(fail, name="parser.0", reason="no_match") == 1
    assert s.metric(fail, name="parser.0", reason="no_key") == 2
    assert s.metric(fail, name="parser.1", reason="no_key") == 4


# ---- throttle: within 2 % of the rate over 30 s, per key ---------------------

def test_throttle_rate_30s(sluice_factory, tmp_path):
    rate = 40  # per second and service; in_dummy makes ~330/s per service
    # in_dummy emits in bursts on its timer: a bucket of one token would
    # lose the tokens that accrue between two bursts, so allow a second's.
    burst = rate
    out = tmp_path / "throttle.out"
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: dummy
      kind: app
      rate: 2000
      seed: 8
  filters:
    - name: throttle
      match: '*'
      key: service
      rate: {rate}
      window: 1s
      burst: {burst}
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
      time_key: t
      time_format: epoch_ns
""")
    s.start()
    wait_for(lambda: out.exists() and out.stat().st_size > 0, 10, "first records")
    first = read_ndjson(out)[0]["t"]
    # Wait until 30 s of records were written (the file tells the time).
    wait_for(lambda: read_ndjson(out)[-1]["t"] - first >= 30e9, 45,
             "30 s of throttled records")
    dropped = s.metric("sluice_throttle_dropped_total", key="checkout")
    s.stop()
    per = {}
    for rec in read_ndjson(out):
        per.setdefault(rec["service"], []).append(rec["t"])
    assert len(per) == 6, per.keys()
    for service, times in per.items():
        span = (max(times) - min(times)) / 1e9
        allowed = rate * span  # after the initial burst of a full bucket
        got = len(times) - burst
        assert span > 25, (service, span)
        assert abs(got - allowed) <= 0.02 * allowed, (service, got, allowed)
    assert dropped > 0


# ---- redact: no secret survives ---------------------------------------------

def test_redact_corpus(sluice_factory, tmp_path):
    out = tmp_path / "redacted.out"
    corpus = (DATA / "redact_corpus.ndjson").read_bytes()
    stdin_run(sluice_factory, tmp_path, f"""
pipeline:
  inputs:
    - name: stdin
      tag: app
      parser: json
  filters:
    - name: redact
      match: '*'
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
""", corpus)
    lines = read_lines(out)
    assert len(lines) == corpus.count(b"\n") >= 100
    text = b"\n".join(lines).decode()
    secrets = [json.loads(l) for l in (DATA / "redact_secrets.txt").read_text().splitlines()]
    assert len(secrets) >= 100
    for secret in secrets:
        assert secret not in text, f"secret survived: {secret!r}"
        # Nor its JSON-escaped form (private keys hold newlines).
        assert json.dumps(secret)[1:-1] not in text, secret
    # Every line still parses and keeps its non-secret fields.
    recs = [json.loads(l) for l in lines]
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    assert recs[0]["login"]["user"] == "u0"
    assert recs[0]["login"]["password"] == "*" * 12


# ---- audit chain ------------------------------------------------------------

AUDIT = """
pipeline:
  inputs:
    - name: stdin
      tag: app
      parser: json
  filters:
    - name: normalize
      match: '*'
    - name: audit_chain
      match: '*'
      tag_pattern: 'audit.*'
      key_file: {key}
      state_file: {state}
  outputs:
    - name: file
      match: 'audit.*'
      path: {out}
"""


def audit_records(start, n):
    lines = []
    for i in range(start, start + n):
        lines.append(json.dumps({"actor": f"user{i % 3}", "action": "read",
                                 "resource": f"/doc/{i}", "result": "allowed",
                                 "n": i, "note": "caf\u00e9 \"q\""}))
        lines.append(json.dumps({"msg": "not audit", "n": i}))
    return ("\n".join(lines) + "\n").encode()


def verify(key, *files, extra=()):
    return run_cli("audit", "verify", "--key-file", key, *extra, *files)


def test_audit_chain_verify_tamper_restart(sluice_factory, tmp_path):
    key = tmp_path / "audit.key"
    key.write_text("k" * 32 + "\n")
    key.chmod(0o600)
    state = tmp_path / "chain.state"
    out = tmp_path / "audit.ndjson"
    pipeline = AUDIT.format(key=yq(key), state=yq(state), out=yq(out))
    stdin_run(sluice_factory, tmp_path, pipeline, audit_records(1, 10), name="a1")
    r = verify(key, out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "10 records verified (seq 1..10)" in r.stdout
    # A restart continues the chain in the same file.
    stdin_run(sluice_factory, tmp_path, pipeline, audit_records(11, 5), name="a2")
    lines = read_lines(out)
    assert [json.loads(l)["audit"]["seq"] for l in lines] == list(range(1, 16))
    r = verify(key, out)
    assert r.returncode == 0 and "seq 1..15" in r.stdout, r.stdout + r.stderr
    # The key never shows in the daemon's log.
    assert "k" * 32 not in (tmp_path / "a1.stderr").read_text()

    def tampered(name, edit):
        path = tmp_path / name
        ls = list(lines)
        edit(ls)
        path.write_bytes(b"\n".join(ls) + b"\n")
        return verify(key, path)

    def delete(ls):
        del ls[4]  # seq 5

    def alter(ls):
        ls[6] = ls[6].replace(b"/doc/7", b"/doc/8")

    def swap(ls):
        ls[2], ls[3] = ls[3], ls[2]

    r = tampered("deleted.ndjson", delete)
    assert r.returncode == 1 and r.stdout.startswith("GAP at seq 5:"), r.stdout
    r = tampered("altered.ndjson", alter)
    assert r.returncode == 1 and r.stdout.startswith("ALTERED at seq 7:"), r.stdout
    r = tampered("swapped.ndjson", swap)
    assert r.returncode == 1 and r.stdout.startswith("REORDER at seq 3:"), r.stdout
    # A wrong key fails at the first record; usage errors exit 2.
    other = tmp_path / "other.key"
    other.write_text("x" * 32)
    r = verify(other, out)
    assert r.returncode == 1 and r.stdout.startswith("ALTERED at seq 1:")
    assert run_cli("audit", "verify", out).returncode == 2
    # A file starting mid-chain needs --partial.
    mid = tmp_path / "mid.ndjson"
    mid.write_bytes(b"\n".join(lines[5:]) + b"\n")
    assert verify(key, mid).returncode == 1
    r = verify(key, mid, extra=("--partial",))
    assert r.returncode == 0, r.stdout


# ---- normalize: routing by kind ---------------------------------------------

def test_normalize_routes_by_kind(sluice_factory, tmp_path):
    recs = [
        {"event_type": "audit", "actor": "bob", "action": "login", "result": "ok"},
        {"event_type": "anomaly", "metric": "latency", "value": 9.5,
         "expected": 1.2, "score": 0.97, "severity": "critical", "bot": "b7"},
        {"level": "error", "error": {"type": "ValueError", "message": "bad",
                                     "stack": "at f()"}, "service": "pay"},
        {"level": "info", "msg": "plain", "service": "pay"},
    ]
    data = ("\n".join(json.dumps(r) for r in recs * 3) + "\n").encode()
    outs = {k: tmp_path / f"{k}.out" for k in ("audit", "anomaly", "error", "all")}
    stdin_run(sluice_factory, tmp_path, f"""
pipeline:
  inputs:
    - name: stdin
      tag: app.fleet
      parser: json
  filters:
    - name: normalize
      match: '*'
      ecs: on
  outputs:
    - name: file
      match: 'audit.*'
      path: {yq(outs['audit'])}
      tag_key: tag
    - name: file
      match: 'anomaly.*'
      path: {yq(outs['anomaly'])}
      tag_key: tag
    - name: file
      match: 'error.*'
      path: {yq(outs['error'])}
      tag_key: tag
    - name: file
      match: '*'
      path: {yq(outs['all'])}
      tag_key: tag
""", data)
    audit = read_ndjson(outs["audit"])
    anomaly = read_ndjson(outs["anomaly"])
    error = read_ndjson(outs["error"])
    assert len(audit) == len(anomaly) == len(error) == 3
    assert len(read_ndjson(outs["all"])) == 12
    assert audit[0]["tag"] == "audit.app.fleet"
    assert audit[0]["user"]["name"] == "bob"
    assert audit[0]["event"] == {"kind": "event", "action": "login",
                                 "outcome": "success", "type": "audit"}
    assert anomaly[0]["event"]["kind"] == "alert"
    assert anomaly[0]["event"]["risk_score"] == 0.97
    assert anomaly[0]["anomaly"]["metric"] == "latency"
    assert error[0]["error"]["stack_trace"] == "at f()"
    assert error[0]["service"]["name"] == "pay"
    assert all("@timestamp" in r for r in audit + anomaly + error)


# ---- lookup: enrichment and reload ------------------------------------------

def test_lookup_reload(sluice_factory, tmp_path):
    table = tmp_path / "teams.csv"
    table.write_bytes((DATA / "teams.csv").read_bytes())
    src = tmp_path / "in.log"
    src.write_text("")
    out = tmp_path / "out.ndjson"
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: tail
      tag: app
      path: [{yq(src)}]
      read_from_head: on
      parser: json
  filters:
    - name: lookup
      match: '*'
      file: {yq(table)}
      key: service
      target: owner
      reload_interval: 100ms
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
""")
    s.start()
    with open(src, "a") as f:
        f.write('{"service":"checkout","n":1}\n{"service":"nope","n":2}\n')
    got = [json.loads(l) for l in wait_lines(out, 2)]
    assert got[0]["owner"] == {"team": "payments", "owner": "ana"}
    assert "owner" not in got[1]
    table.write_text("service,team,owner\ncheckout,payments-v2,cy\nnope,ops,di\n")
    with open(src, "a") as f:
        f.write('{"service":"checkout","n":3}\n{"service":"nope","n":4}\n')
    got = [json.loads(l) for l in wait_lines(out, 4)]
    assert got[2]["owner"] == {"team": "payments-v2", "owner": "cy"}
    assert got[3]["owner"] == {"team": "ops", "owner": "di"}
    s.wait_log("reloaded", timeout=10)
    assert s.metric("sluice_lookup_records_total", result="miss") == 1


# ---- the bot-fleet example --------------------------------------------------

EXAMPLE = REPO / "etc" / "examples" / "bot-fleet.yaml"


def test_bot_fleet_example_checks(tmp_path):
    """The example passes --dry-run; until the splunk, influxdb and sentry
    outputs exist, a copy with them swapped for file outputs does."""
    text = EXAMPLE.read_text()
    r = run_cli("--list-plugins")
    have = set(re.findall(r"^output\s+(\S+)", r.stdout, re.M))
    missing = [n for n in ("splunk", "influxdb", "sentry") if n not in have
               or "Placeholder" in run_cli("--describe", n).stdout]
    env = dict(os.environ, FLEET_LOG_DIR=str(tmp_path / "logs"),
               ES_URL="http://127.0.0.1:9200", SPLUNK_URL="http://127.0.0.1:8088",
               SPLUNK_HEC_TOKEN="test-token", INFLUX_URL="http://127.0.0.1:8086",
               INFLUX_TOKEN="t", SENTRY_DSN="http://key@127.0.0.1:9000/1",
               SLUICE_STATE=str(tmp_path / "state"),
               AUDIT_KEY_FILE=str(tmp_path / "audit.key"),
               OWNERS_CSV=str(DATA / "teams.csv"))
    (tmp_path / "audit.key").write_text("a" * 32)
    cfg = tmp_path / "bot-fleet.yaml"
    if missing:
        # TODO(#8): once the splunk, influxdb and sentry outputs land, drop
        # this swap and run the example against the test receivers and a
        # real influxd, checking the records that land in each.
        out_block = re.compile(r"^    - name: (splunk|influxdb|sentry)\n((?:      .*\n|\s*#.*\n)*)",
                               re.M)

        def swap(m):
            match = re.search(r"^      match: .*$", m.group(2), re.M)
            return (f"    - name: file\n{match.group(0)}\n"
                    f"      path: {yq(tmp_path / (m.group(1) + '.out'))}\n")
        text = out_block.sub(swap, text)
    cfg.write_text(text)
    r = run_cli("--dry-run", "-c", cfg, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
