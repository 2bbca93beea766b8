"""Command-line interface: --version, --list-plugins, --describe."""

import re

from conftest import run_cli

PLUGINS = ["dummy", "stdin", "tail", "json", "regex", "logfmt", "grep", "modify",
           "stdout", "file", "tcp", "null"]


def test_version(sluice_bin):
    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    assert re.match(r"^sluice \d+\.\d+\.\d+", r.stdout), r.stdout


def test_list_plugins(sluice_bin):
    r = run_cli("--list-plugins")
    assert r.returncode == 0, r.stderr
    words = set(re.findall(r"[A-Za-z0-9_]+", r.stdout))
    missing = [p for p in PLUGINS if p not in words]
    assert not missing, f"--list-plugins lacks {missing}:\n{r.stdout}"


def test_describe_tail(sluice_bin):
    r = run_cli("--describe", "tail")
    assert r.returncode == 0, r.stderr
    for opt in ["path", "exclude_path", "read_from_head", "refresh_interval",
                "poll_interval", "buffer_chunk_size", "buffer_max_size"]:
        assert re.search(rf"\b{opt}\b", r.stdout), f"{opt} missing:\n{r.stdout}"
    text = r.stdout.lower()
    for typ in ["list", "bool", "time", "size"]:
        assert typ in text, f"type {typ} not shown:\n{r.stdout}"
    # defaults are shown (read_from_head defaults to off/false)
    line = next(l for l in r.stdout.splitlines() if "read_from_head" in l)
    assert re.search(r"\b(off|false)\b", line.lower()) or "default" in text, line


def test_describe_markdown(sluice_bin):
    r = run_cli("--describe", "file", "--markdown")
    assert r.returncode == 0, r.stderr
    assert "path" in r.stdout and "#" in r.stdout


def test_describe_unknown_plugin(sluice_bin):
    r = run_cli("--describe", "no_such_plugin")
    assert r.returncode != 0
    assert r.stderr.strip()
