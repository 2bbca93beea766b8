"""The demo config (etc/sluice.yaml) runs and produces output."""

import json

from conftest import REPO, read_lines, run_cli, wait_for, yq


def demo_config(tmp_path):
    """etc/sluice.yaml with the admin port made ephemeral."""
    text = (REPO / "etc" / "sluice.yaml").read_text()
    assert "  http_port: 2020\n" in text
    port_file = tmp_path / "sluice.port"
    return text.replace("  http_port: 2020\n",
                        f"  http_port: 0\n  http_port_file: {yq(port_file)}\n")


def test_demo_config_is_valid(sluice_bin, tmp_path):
    (tmp_path / "sluice.yaml").write_text(demo_config(tmp_path))
    r = run_cli("--dry-run", "-c", tmp_path / "sluice.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_demo_config_produces_output(sluice_factory, tmp_path):
    demo = tmp_path / "var" / "demo"
    demo.mkdir(parents=True)
    lines = [{"level": "info", "msg": "demo-info"},
             {"level": "debug", "msg": "demo-debug"},
             {"level": "error", "msg": "demo-error", "host": "keep-me"}]
    (demo / "app.log").write_text("".join(json.dumps(l) + "\n" for l in lines))

    # Relative paths in the demo resolve against the working directory.
    s = sluice_factory(raw_config=demo_config(tmp_path))
    s.start()
    out = tmp_path / "var" / "out"

    def file_records():
        recs = []
        for f in sorted(out.glob("*")):
            recs += [json.loads(l) for l in read_lines(f)]
        return recs

    def have_all():
        recs = file_records()
        msgs = {r.get("msg") for r in recs}
        dummy = [r for r in recs if r.get("msg") not in ("demo-info", "demo-error")]
        return {"demo-info", "demo-error"} <= msgs and len(dummy) >= 3 and recs
    recs = wait_for(have_all, 15, "tail and dummy records in ./var/out/")
    by_msg = {r.get("msg"): r for r in recs}
    assert "demo-debug" not in by_msg, "grep should drop level debug"
    assert all(r.get("level") != "debug" for r in recs)
    assert by_msg["demo-info"]["host"] == "demo-host"      # modify add
    assert by_msg["demo-error"]["host"] == "keep-me"       # add keeps an existing key
    assert all(r.get("env") == "demo" for r in recs)        # modify set
    assert any(f.name.startswith("demo.app") for f in out.glob("*")), \
        f"file names should follow the ${{tag}} template: {list(out.glob('*'))}"

    # stdout carries the same stream as JSON lines.
    wait_for(lambda: len(read_lines(s.stdout_path)) >= 3, 10, "lines on stdout")
    for line in read_lines(s.stdout_path)[:20]:
        assert isinstance(json.loads(line), dict)
    assert s.http("/health")[0] == 200
    assert s.stop() == 0
