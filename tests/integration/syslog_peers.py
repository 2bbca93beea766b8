"""Real syslog peers for tests/integration/test_syslog_input.py.

make_certs(dir): a throw-away CA, a server certificate for localhost /
127.0.0.1 and a client certificate (RSA 2048, one day), made with the
openssl CLI.  Rsyslog: a private rsyslogd with its own config, pid file and
work directory under the test's tmp_path, started in the foreground and
stopped by PID.  Every wait is bounded.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

from conftest import wait_for


def have(tool):
    return shutil.which(tool) is not None


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    """CA (ca.pem), server.pem/key (SAN localhost, 127.0.0.1), client.pem/key."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    exts = {"server": "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                      "extendedKeyUsage=serverAuth\n",
            "client": "subjectAltName=DNS:client.localhost\n"
                      "extendedKeyUsage=clientAuth\n"}
    for name, ext in exts.items():
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 f"{name}.key", "-out", f"{name}.csr", "-subj",
                 f"/CN={name}.localhost", cwd=d)
        (d / f"{name}.ext").write_text(ext)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                 "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem",
                 "-days", "1", "-extfile", f"{name}.ext", cwd=d)
    return d


def octet(msg):
    """One RFC 6587 octet-counted frame."""
    if isinstance(msg, str):
        msg = msg.encode()
    return str(len(msg)).encode() + b" " + msg


def tcp_send(port, data, timeout=5):
    """Connect, send all bytes, half-close and wait for the peer's close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass


class Rsyslog:
    """A private rsyslogd: config, pid file and work dir in <d>."""

    def __init__(self, d, config_body):
        self.dir = Path(d)
        self.work = self.dir / "rsyslog-work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "rsyslog.conf"
        self.pidfile = self.dir / "rsyslogd.pid"
        self.out = self.dir / "rsyslogd.out"
        self.conf.write_text(f'global(workDirectory="{self.work}")\n'
                             + config_body)
        self.proc = None

    def check(self):
        r = subprocess.run(["rsyslogd", "-N1", "-f", str(self.conf)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr

    def start(self):
        self.check()
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(
                ["rsyslogd", "-n", "-f", str(self.conf), "-i",
                 str(self.pidfile)], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        wait_for(lambda: self.pidfile.exists() or self.proc.poll() is not None,
                 10, "rsyslogd pid file")
        assert self.proc.poll() is None, self.out.read_text(errors="replace")
        return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
