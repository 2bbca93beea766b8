"""The syslog input with real senders: logger (util-linux) over UDP and TCP,
RFC 3164 and RFC 5424, octet-counted and LF-framed; rsyslog forwarding a
file over TCP with omfwd; TLS through openssl s_client with a test CA;
Unix stream and datagram sockets; malformed frames that must neither crash
the daemon nor desynchronise the next good message.  Records are written
by the file output and compared field by field."""

import json
import socket
import subprocess
import time

import pytest

from conftest import read_ndjson, wait_for, wait_lines, yq
from syslog_peers import Rsyslog, have, make_certs, octet, tcp_send

HOST_NAMES = {socket.gethostname(), socket.gethostname().split(".")[0],
              socket.getfqdn()}


def pipeline(out, **opts):
    body = "\n".join(f"      {k}: {v}" for k, v in opts.items())
    return f"""
pipeline:
  inputs:
    - name: syslog
      tag: sys
{body}
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
      time_key: time
      time_format: epoch_ns
"""


def start(sluice_factory, tmp_path, **opts):
    """Start sluice with a syslog input; returns (sluice, port, out path)."""
    out = tmp_path / "out.ndjson"
    port_file = tmp_path / "syslog.port"
    if not opts.get("mode", "udp").startswith("unix"):
        opts.setdefault("port", 0)
        opts.setdefault("port_file", yq(port_file))
    s = sluice_factory(pipeline(out, **opts)).start()
    port = None
    if "port_file" in opts:
        port = wait_for(lambda: port_file.exists() and
                        port_file.read_text().strip().isdigit() and
                        int(port_file.read_text()), 10, "syslog port file")
    return s, port, out


def logger(*args):
    r = subprocess.run(["logger", *map(str, args)], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr


def by_msg(records):
    return {r.get("message"): r for r in records}


def test_logger_udp_3164_and_5424(sluice_factory, tmp_path):
    s, port, out = start(sluice_factory, tmp_path, mode="udp")
    logger("-n", "127.0.0.1", "-P", port, "-d", "--rfc3164", "-t",
           "shipper3164", "--id=8", "-p", "daemon.info", "--", "udp 3164")
    logger("-n", "127.0.0.1", "-P", port, "-d", "--rfc5424", "-t", "shipper",
           "--id=7", "--msgid", "EVT3", "-p", "user.err", "--", "udp 5424")
    recs = by_msg(read_ndjson_wait(out, 2))
    r = recs["udp 3164"]
    assert r["pri"] == 30
    assert r["facility"] == "daemon"
    assert r["severity"] == "info"
    assert r["hostname"] in HOST_NAMES
    assert r["appname"] == "shipper3164"
    assert r["procid"] == "8"
    assert "msgid" not in r and "sd" not in r
    assert abs(r["time"] / 1e9 - time.time()) < 120
    r = recs["udp 5424"]
    assert r["pri"] == 11
    assert r["facility"] == "user"
    assert r["severity"] == "err"
    assert r["hostname"] in HOST_NAMES
    assert r["appname"] == "shipper"
    assert r["procid"] == "7"
    assert r["msgid"] == "EVT3"
    assert r["sd"]["timeQuality"]["tzKnown"] == "1"
    assert abs(r["time"] / 1e9 - time.time()) < 60
    assert s.metric("sluice_input_records_total", plugin="syslog") == 2
    assert s.metric("sluice_input_parse_failures_total", plugin="syslog") == 0


def read_ndjson_wait(out, n, timeout=15):
    wait_lines(out, n, timeout)
    return read_ndjson(out)


def test_logger_tcp_octet_and_lf(sluice_factory, tmp_path):
    s, port, out = start(sluice_factory, tmp_path, mode="tcp")
    logger("-n", "127.0.0.1", "-P", port, "-T", "--rfc5424", "--octet-count",
           "-t", "shipper", "--id=4242", "--msgid", "EVT1", "--sd-id",
           "meta@32473", "--sd-param", 'seq="1"', "--sd-param",
           r'req="a\"b\]c\\d"', "-p", "local0.warning", "--",
           "tcp 5424 octet-counted")
    logger("-n", "127.0.0.1", "-P", port, "-T", "--rfc5424", "-t", "shipper",
           "--msgid", "EVT2", "--", "tcp 5424 LF-framed")
    logger("-n", "127.0.0.1", "-P", port, "-T", "--rfc3164", "-t", "old",
           "-p", "auth.crit", "--", "tcp 3164")
    recs = by_msg(read_ndjson_wait(out, 3))
    r = recs["tcp 5424 octet-counted"]
    assert (r["pri"], r["facility"], r["severity"]) == (132, "local0",
                                                         "warning")
    assert r["appname"] == "shipper"
    assert r["procid"] == "4242"
    assert r["msgid"] == "EVT1"
    assert r["sd"]["meta@32473"] == {"seq": "1", "req": 'a"b]c\\d'}
    r = recs["tcp 5424 LF-framed"]
    assert (r["pri"], r["msgid"], r["appname"]) == (13, "EVT2", "shipper")
    assert "procid" not in r
    r = recs["tcp 3164"]
    assert (r["pri"], r["facility"], r["severity"]) == (34, "auth", "crit")
    assert r["appname"] == "old"
    assert r["hostname"] in HOST_NAMES


@pytest.mark.skipif(not have("rsyslogd"), reason="rsyslog not installed")
def test_rsyslog_omfwd_forwards_a_file(sluice_factory, tmp_path):
    s, port, out = start(sluice_factory, tmp_path, mode="tcp")
    src = tmp_path / "app.log"
    n = 300
    src.write_text("".join(f"line {i} of the forwarded file\n"
                           for i in range(n)))
    rs = Rsyslog(tmp_path, f"""
module(load="imfile")
input(type="imfile" File="{src}" Tag="fwdapp" Facility="local3"
      Severity="notice" ruleset="fwd")
ruleset(name="fwd") {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}}
""")
    rs.start()
    try:
        recs = read_ndjson_wait(out, n, timeout=30)
    finally:
        rs.stop()
    seen = {}
    for r in recs:
        assert r["pri"] == 19 * 8 + 5
        assert (r["facility"], r["severity"]) == ("local3", "notice")
        assert r["appname"] == "fwdapp"
        assert r["hostname"]
        i = int(r["message"].split()[1])
        assert r["message"] == f"line {i} of the forwarded file"
        seen[i] = seen.get(i, 0) + 1
    assert sorted(seen) == list(range(n))
    assert set(seen.values()) == {1}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if not have("openssl"):
        pytest.skip("openssl not installed")
    return make_certs(tmp_path_factory.mktemp("certs"))


def s_client(port, certs, data, client_cert=True):
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
            "-servername", "localhost", "-CAfile", str(certs / "ca.pem"),
            "-verify_return_error", "-quiet", "-no_ign_eof"]
    if client_cert:
        args += ["-cert", str(certs / "client.pem"), "-key",
                 str(certs / "client.key")]
    # stdin stays open a moment after the data so the TLS session delivers
    # it before s_client sees EOF and closes.
    p = subprocess.Popen(args, stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    p.stdin.write(data)
    p.stdin.flush()
    time.sleep(0.5)
    p.stdin.close()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
    return p.returncode, p.stderr.read()


def test_tls_with_client_verification(sluice_factory, tmp_path, certs):
    s, port, out = start(sluice_factory, tmp_path, mode="tls", **{
        "tls.cert_file": yq(certs / "server.pem"),
        "tls.key_file": yq(certs / "server.key"),
        "tls.ca_file": yq(certs / "ca.pem"),
        "tls.verify_client": "on"})
    msgs = [f'<14>1 2026-01-01T00:00:00Z h1 shipper {i} TLS{i} [x@1 a="b"] '
            f'hello over TLS {i}' for i in range(3)]
    rc, err = s_client(port, certs, b"".join(octet(m) for m in msgs))
    assert rc == 0, err
    recs = read_ndjson_wait(out, 3)
    for i, r in enumerate(sorted(recs, key=lambda r: r["msgid"])):
        assert r["hostname"] == "h1"
        assert r["procid"] == str(i)
        assert r["msgid"] == f"TLS{i}"
        assert r["sd"] == {"x@1": {"a": "b"}}
        assert r["message"] == f"hello over TLS {i}"
        assert r["time"] == 1767225600 * 10**9
    # Without a client certificate nothing is accepted.
    s_client(port, certs, octet("<14>1 - h2 - - NOCERT - rejected"),
             client_cert=False)
    s.wait_log("TLS connection failed", timeout=10)
    assert len(read_ndjson(out)) == 3


def test_tls_bad_certificate_is_a_clear_init_error(sluice_factory, tmp_path,
                                                   certs):
    out = tmp_path / "out.ndjson"
    s = sluice_factory(pipeline(out, mode="tls", port=0, **{
        "tls.cert_file": yq(tmp_path / "missing.pem"),
        "tls.key_file": yq(certs / "server.key")}), admin=False)
    s.start(wait=False)
    assert s.wait_exit(15) != 0
    assert "tls.cert_file" in s.log_text()


def test_unix_stream_and_dgram(sluice_factory, tmp_path):
    out = tmp_path / "out.ndjson"
    stream_path = tmp_path / "stream.sock"
    dgram_path = tmp_path / "dgram.sock"
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: syslog
      tag: st
      mode: unix_stream
      path: {yq(stream_path)}
    - name: syslog
      tag: dg
      mode: unix_dgram
      path: {yq(dgram_path)}
      unix_perm: '0600'
  outputs:
    - name: file
      match: '*'
      path: {yq(out)}
      tag_key: tag
""").start()
    wait_for(lambda: stream_path.exists() and dgram_path.exists(), 10,
             "unix sockets")
    assert dgram_path.stat().st_mode & 0o777 == 0o600
    assert stream_path.stat().st_mode & 0o777 == 0o660
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(str(stream_path))
        c.sendall(b"<30>Nov 21 04:42:37 systemd[1]: via stream\n"
                  b"<13>1 - h app - - - second\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
        c.sendto(b"<34>1 - h su - ID1 - via dgram\n\0", str(dgram_path))
    recs = by_msg(read_ndjson_wait(out, 3))
    r = recs["via stream"]
    assert (r["tag"], r["pri"], r["appname"], r["procid"]) == \
        ("st", 30, "systemd", "1")
    assert "hostname" not in r
    assert recs["second"]["hostname"] == "h"
    r = recs["via dgram"]
    assert (r["tag"], r["pri"], r["appname"], r["msgid"]) == \
        ("dg", 34, "su", "ID1")
    s.stop()
    assert not stream_path.exists() and not dgram_path.exists()


def test_malformed_frames_do_not_desync(sluice_factory, tmp_path):
    s, port, out = start(sluice_factory, tmp_path, mode="tcp",
                         max_message_size="64K")
    good = "<13>1 - h app - {id} - good {id}"
    # 1. A truncated length prefix at EOF, then a good message elsewhere.
    tcp_send(port, octet(good.format(id="A")) + b"12")
    # 2. A malformed length: the connection is closed, counted.
    tcp_send(port, b"12a <13>x")
    # 3. NUL bytes as separators in LF framing.
    tcp_send(port, b"<13>1 - h app - N1 - nul one\0<13>1 - h app - N2 - "
                   b"nul two\0\n")
    # 4. Invalid UTF-8 in the message is escaped, not dropped.
    tcp_send(port, octet(b"<13>1 - h app - U - bad \xff\xfe utf8"))
    # 5. A 1 MiB octet-counted message, then a good one on the same
    #    connection; and the same with LF framing.
    big = b"<13>1 - h app - BIG - " + b"x" * (1 << 20)
    tcp_send(port, octet(big) + octet(good.format(id="B")))
    tcp_send(port, big + b"\n" + good.format(id="C").encode() + b"\n")
    # 6. A partial octet frame at EOF is ingested (as truncated).
    tcp_send(port, b"100 <13>1 - h app - PART - partial")
    recs = read_ndjson_wait(out, 9)
    ids = {r.get("msgid"): r for r in recs}
    assert ids["A"]["message"] == "good A"
    assert ids["B"]["message"] == "good B"
    assert ids["C"]["message"] == "good C"
    assert ids["N1"]["message"] == "nul one"
    assert ids["N2"]["message"] == "nul two"
    assert ids["U"]["message"] == "bad \\xff\\xfe utf8"
    assert ids["PART"]["message"] == "partial"
    bigs = [r for r in recs if r.get("msgid") == "BIG"]
    assert len(bigs) == 2
    for r in bigs:
        assert len(r["message"]) == 65536 - len("<13>1 - h app - BIG - ")
    assert len(recs) == 9
    m = s.metrics()
    from conftest import metric_sum
    assert metric_sum(m, "sluice_input_truncated_messages_total",
                      plugin="syslog") == 3
    assert metric_sum(m, "sluice_input_framing_errors_total",
                      plugin="syslog") == 1
    assert s.running()


def test_max_connections_and_idle_timeout(sluice_factory, tmp_path):
    s, port, out = start(sluice_factory, tmp_path, mode="tcp",
                         max_connections=2, idle_timeout="500ms")
    a = socket.create_connection(("127.0.0.1", port), timeout=5)
    b = socket.create_connection(("127.0.0.1", port), timeout=5)
    a.sendall(b"<13>1 - h app - C1 - one\n")
    wait_lines(out, 1)
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert c.recv(10) == b""  # closed at once: over the limit
    c.close()
    assert s.metric("sluice_input_rejected_connections_total",
                    plugin="syslog") == 1
    # Idle connections are closed after idle_timeout.
    start_t = time.monotonic()
    assert a.recv(10) == b""
    assert b.recv(10) == b""
    assert time.monotonic() - start_t < 4
    a.close()
    b.close()
    assert read_ndjson(out)[0]["message"] == "one"


def test_udp_overrun_counted_while_paused(sluice_factory, tmp_path):
    """With the output down and mem_buf_limit reached, UDP datagrams are
    still read but dropped and counted as overruns."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there: the tcp output keeps retrying
    port_file = tmp_path / "syslog.port"
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: syslog
      mode: udp
      port: 0
      port_file: {yq(port_file)}
      mem_buf_limit: 64K
  outputs:
    - name: tcp
      match: '*'
      host: 127.0.0.1
      port: {dead_port}
""").start()
    port = wait_for(lambda: port_file.exists() and
                    port_file.read_text().strip().isdigit() and
                    int(port_file.read_text()), 10, "syslog port file")
    payload = b"<13>1 - h app - - - " + b"p" * 900
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        def send_some():
            for _ in range(50):
                c.sendto(payload, ("127.0.0.1", port))
            return s.metric("sluice_input_dropped_records_total",
                            plugin="syslog", reason="overrun") > 0
        wait_for(send_some, 15, "overrun drops", step=0.1)
    assert s.metric("sluice_input_paused", plugin="syslog") == 1
    assert s.metric("sluice_input_records_total", plugin="syslog") >= 64
    assert s.running()
