"""--dry-run reports every error with file:line:col and exits 1."""

import os
import re

from conftest import REPO, run_cli

BROKEN = """\
service:
  flush: 1s
  chunk_size: 12XB
pipeline:
  inputs:
    - name: tail
      pathh:
        - /tmp/*.log
      tag: app-${SLUICE_TEST_SURELY_UNSET_VAR}
  outputs:
    - name: file
      match: '*'
      path: /tmp/out.log
    - name: stdout
      match: '*'
      format: yaml_lines
"""
# line numbers (1-based) of the keys above
LINE_CHUNK, LINE_PATHH, LINE_ENV, LINE_FORMAT = 3, 7, 9, 16


def errors_for(path, stderr):
    """[(line, col, rest)] for every `FILE:LINE:COL: ...` line naming path."""
    out = []
    names = {str(path), os.path.basename(path)}
    for l in stderr.splitlines():
        m = re.match(r"^(.*?):(\d+):(\d+): (.*)$", l)
        if m and (m.group(1) in names or m.group(1).endswith("/" + os.path.basename(path))):
            out.append((int(m.group(2)), int(m.group(3)), m.group(4)))
    return out


def run_dry(tmp_path, text, name="broken.yaml"):
    p = tmp_path / name
    p.write_text(text)
    env = dict(os.environ)
    env.pop("SLUICE_TEST_SURELY_UNSET_VAR", None)
    r = run_cli("--dry-run", "-c", p, env=env)
    return p, r


def test_dry_run_reports_all_errors(sluice_bin, tmp_path):
    p, r = run_dry(tmp_path, BROKEN)
    assert r.returncode == 1, (r.returncode, r.stderr)
    errs = errors_for(p, r.stderr)
    by_line = {}
    for line, col, rest in errs:
        assert col >= 1
        by_line.setdefault(line, []).append(rest)
    assert LINE_PATHH in by_line, r.stderr
    msg = " ".join(by_line[LINE_PATHH])
    assert "pathh" in msg and "did you mean" in msg and "path" in msg.replace("pathh", ""), msg
    assert LINE_CHUNK in by_line and "chunk_size" in " ".join(by_line[LINE_CHUNK]), r.stderr
    assert LINE_ENV in by_line, r.stderr
    assert "SLUICE_TEST_SURELY_UNSET_VAR" in " ".join(by_line[LINE_ENV]), r.stderr
    assert LINE_FORMAT in by_line and "format" in " ".join(by_line[LINE_FORMAT]), r.stderr
    # the unknown key's column is where the key starts (1-based)
    cols = [c for l, c, _ in errs if l == LINE_PATHH]
    assert 7 in cols, f"column of 'pathh' should be 7, got {cols}"


def test_dry_run_yaml_syntax_error(sluice_bin, tmp_path):
    text = "service:\n  flush: 1s\npipeline:\n  inputs:\n    - name: dummy\n      tag: [unclosed\n"
    p, r = run_dry(tmp_path, text, "syntax.yaml")
    assert r.returncode == 1, (r.returncode, r.stderr)
    errs = errors_for(p, r.stderr)
    assert errs, f"no file:line:col in:\n{r.stderr}"
    assert all(5 <= line <= 7 for line, _, _ in errs), errs


def test_dry_run_error_in_included_file(sluice_bin, tmp_path):
    (tmp_path / "conf.d").mkdir()
    inc = tmp_path / "conf.d" / "out.yaml"
    inc.write_text("pipeline:\n  outputs:\n    - name: stdout\n      match: '*'\n      retry_limt: 3\n")
    p, r = run_dry(tmp_path, "includes:\n  - conf.d/*.yaml\npipeline:\n  inputs:\n"
                   "    - name: dummy\n      tag: t\n", "main.yaml")
    assert r.returncode == 1, (r.returncode, r.stderr)
    errs = errors_for(inc, r.stderr)
    assert [e for e in errs if e[0] == 5 and "retry_limit" in e[2]], r.stderr


def test_dry_run_valid_files(sluice_bin, tmp_path):
    for f in ["etc/sluice.yaml", "etc/examples/tail-to-tcp.yaml",
              "etc/examples/stdin-oneshot.yaml"]:
        r = run_cli("--dry-run", "-c", REPO / f, cwd=REPO)
        assert r.returncode == 0, f"{f}: {r.stderr}"
