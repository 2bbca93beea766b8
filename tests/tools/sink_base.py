"""sink_base.py - what the protocol receivers of tests/tools share.

SinkBase serves a BaseHTTPRequestHandler subclass (which finds the sink
as its class attribute `sink`) on 127.0.0.1 in a thread, optionally over
TLS, and waits on the sink's state under its lock.  decode_body undoes a
Content-Encoding.
"""

import gzip
import ssl
import threading
import time
import zlib
from http.server import ThreadingHTTPServer


def decode_body(raw, encoding):
    """raw with Content-Encoding gzip or deflate undone (raw otherwise).
    Raises on a body that does not decode."""
    enc = (encoding or "").lower()
    if enc == "gzip":
        return gzip.decompress(raw)
    if enc == "deflate":
        return zlib.decompress(raw)
    return raw


class SinkBase:
    """Subclasses set handler_class, and certfile/keyfile for TLS; they
    keep their state under self.lock and received items in self.events."""

    handler_class = None
    certfile = None
    keyfile = None

    def __init__(self):
        self.lock = threading.RLock()
        self.server = None
        self.port = 0

    def wait(self, pred, timeout=20, what="condition"):
        """pred(self)'s first true value, polled under the lock."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                v = pred(self)
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_events(self, n, timeout=20):
        return self.wait(lambda s: list(s.events) if len(s.events) >= n else None,
                         timeout, f"{n} events (have {len(self.events)})")

    def start(self, port=0):
        handler = type(self.handler_class.__name__, (self.handler_class,),
                       {"sink": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        if self.certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certfile, self.keyfile)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
