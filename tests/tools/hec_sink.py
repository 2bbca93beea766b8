#!/usr/bin/env python3
"""hec_sink.py - a Splunk HTTP Event Collector receiver for tests.

Follows shared/docs/protocols.md section 2 (and the HTTP rules of section 0):
  * POST /services/collector/event (aliases /services/collector,
    /services/collector/event/1.0), /services/collector/raw (and /raw/1.0),
    /services/collector/ack, GET /services/collector/health; paths matched
    case-insensitively;
  * Authorization checked first: absent -> 401 code 2; not "Splunk <tok>"
    or Basic with the token as password -> 401 code 3; unknown token ->
    403 code 4;
  * Content-Encoding: gzip/deflate bodies, Transfer-Encoding: chunked,
    keep-alive, Expect: 100-continue (the http.server default handling);
  * empty body -> 400 code 5; /event bodies parsed as a stream of
    concatenated JSON values: a non-object or bad JSON -> 400 code 6 with
    invalid-event-number, an object without "event" -> 400 code 12, "" ->
    code 13, "fields" with a nested object -> code 15;
  * /raw without a channel (header or ?channel=) -> 400 code 10;
  * acks (ack=True): every accepted request needs a channel (code 10),
    gets "ackId" (per channel, from 0); /ack answers {"acks":{"id":bool}}
    truthfully: an id becomes true after `ack_after` polls that asked for
    it, and is forgotten once reported true.  ack=False: /ack -> 400 code 14;
  * TLS with certfile/keyfile (python ssl).

Scripting (in-process use from pytest):
    sink = HecSink(tokens={"tok"}, ack=True, ack_after=2).start()
    sink.plan(http=503, code=9)            # next data request: server busy
    sink.plan(http=400, code=6, invalid=1) # the one after: bad event #1
    ... sink.requests (method, path, query, headers, raw, body, status,
        response), sink.events (accepted envelopes), sink.raw_lines ...
    sink.stop()

Command line: `hec_sink.py [--port N] [--token T] [--ack]` prints "PORT=<n>".
"""

import argparse
import base64
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

from sink_base import SinkBase, decode_body

TEXT = {0: "Success", 1: "Token disabled", 2: "Token is required",
        3: "Invalid authorization", 4: "Invalid token", 5: "No data",
        6: "Invalid data format", 7: "Incorrect index", 8: "Internal server error",
        9: "Server is busy", 10: "Data channel is missing",
        11: "Invalid data channel", 12: "Event field is required",
        13: "Event field cannot be blank", 14: "ACK is disabled",
        15: "Error in handling indexed fields",
        16: "Query string authorization is not enabled", 17: "HEC is healthy",
        18: "HEC is unhealthy, queues are full"}
HTTP_OF = {0: 200, 1: 403, 2: 401, 3: 401, 4: 403, 5: 400, 6: 400, 7: 400,
           8: 500, 9: 503, 10: 400, 11: 400, 12: 400, 13: 400, 14: 400,
           15: 400, 16: 400, 17: 200, 18: 503}


class HecRequest:
    def __init__(self, method, path, query, headers, raw, body):
        self.method = method
        self.path = path
        self.query = query      # dict of first values
        self.headers = headers  # lower-case names
        self.raw = raw          # bytes on the wire
        self.body = body        # decompressed bytes
        self.status = None
        self.response = None


def parse_stream(text):
    """Concatenated JSON values -> list of (value or exception)."""
    dec = json.JSONDecoder()
    i, out = 0, []
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i >= len(text):
            return out
        try:
            v, i = dec.raw_decode(text, i)
        except ValueError as e:
            out.append(e)
            return out
        out.append(v)


class HecSink(SinkBase):
    def __init__(self, tokens=("00000000-0000-0000-0000-000000000001",),
                 ack=False, ack_after=0, certfile=None, keyfile=None,
                 indexes=None):
        super().__init__()
        self.tokens = set(tokens)
        self.ack = ack
        self.ack_after = ack_after
        self.certfile = certfile
        self.keyfile = keyfile
        self.indexes = indexes
        self.plans = []
        self.requests = []
        self.events = []
        self.raw_lines = []
        self.next_ack = {}      # channel -> next id
        self.pending = {}       # (channel, id) -> polls seen
        self.ack_polls = []     # ids asked per poll

    # ---- scripting ----
    def plan(self, http=None, code=None, invalid=None, body=None):
        with self.lock:
            self.plans.append({"http": http, "code": code, "invalid": invalid,
                               "body": body})

    def data_requests(self):
        with self.lock:
            return [r for r in self.requests if "/ack" not in r.path
                    and "/health" not in r.path]

    # ---- protocol ----
    def check_auth(self, headers, query):
        auth = headers.get("authorization")
        if auth is None:
            return 2
        scheme, _, cred = auth.partition(" ")
        if scheme.lower() == "splunk":
            tok = cred.strip()
        elif scheme.lower() == "basic":
            try:
                tok = base64.b64decode(cred.strip()).decode().partition(":")[2]
            except ValueError:
                return 3
        else:
            return 3
        return 0 if tok in self.tokens else 4

    def handle_event(self, req, text, channel):
        values = parse_stream(text)
        good = []
        for n, v in enumerate(values):
            if isinstance(v, Exception) or not isinstance(v, dict):
                return 6, {"invalid-event-number": n}
            if "event" not in v:
                return 12, {"invalid-event-number": n}
            if v["event"] == "":
                return 13, {"invalid-event-number": n}
            f = v.get("fields", {})
            if not isinstance(f, dict) or any(isinstance(x, dict) for x in f.values()):
                return 15, {"invalid-event-number": n}
            if self.indexes is not None and v.get("index", "main") not in self.indexes:
                return 7, {}
            good.append(v)
        self.events.extend(good)
        return 0, {}

    def respond(self, req, channel):
        """Returns (status, body dict, headers) for a data request."""
        if self.plans:
            p = self.plans.pop(0)
            code = p["code"]
            body = p["body"] or {"text": TEXT.get(code, "error"), "code": code}
            if p["invalid"] is not None:
                body["invalid-event-number"] = p["invalid"]
                # events before the bad one are accepted (reported behaviour)
                if "/raw" not in req.path:
                    vals = parse_stream(req.body.decode("utf-8", "replace"))
                    self.events.extend(v for v in vals[:p["invalid"]]
                                       if isinstance(v, dict))
            return p["http"] or HTTP_OF.get(code, 400), body
        if not req.body:
            return 400, {"text": TEXT[5], "code": 5}
        if (self.ack or "/raw" in req.path) and not channel:
            return 400, {"text": TEXT[10], "code": 10}
        if "/raw" in req.path:
            self.raw_lines.extend(req.body.decode("utf-8", "replace").split("\n")[:-1]
                                  if req.body.endswith(b"\n")
                                  else req.body.decode("utf-8", "replace").split("\n"))
            code, extra = 0, {}
        else:
            code, extra = self.handle_event(req, req.body.decode("utf-8", "replace"),
                                            channel)
        body = {"text": TEXT[code], "code": code, **extra}
        if code == 0 and self.ack:
            aid = self.next_ack.get(channel, 0)
            self.next_ack[channel] = aid + 1
            self.pending[(channel, aid)] = 0
            body["ackId"] = aid
        return HTTP_OF[code], body

    def respond_ack(self, req, channel):
        if not self.ack:
            return 400, {"text": TEXT[14], "code": 14}
        if not channel:
            return 400, {"text": TEXT[10], "code": 10}
        try:
            ids = json.loads(req.body)["acks"]
        except (ValueError, KeyError, TypeError):
            return 400, {"text": TEXT[6], "code": 6}
        self.ack_polls.append(list(ids))
        out = {}
        for i in ids:
            k = (channel, i)
            if k not in self.pending:
                out[str(i)] = False
                continue
            self.pending[k] += 1
            done = self.pending[k] > self.ack_after
            out[str(i)] = done
            if done:
                del self.pending[k]
        return 200, {"acks": out}


class HecHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sink = None

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return raw
                raw += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def reply(self, status, obj):
        b = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
        return b

    def handle_any(self):
        s = self.sink
        url = urllib.parse.urlsplit(self.path)
        path = url.path.lower().rstrip("/")
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self.read_body() if self.command == "POST" else b""
        body = decode_body(raw, headers.get("content-encoding"))
        req = HecRequest(self.command, url.path, query, headers, raw, body)
        channel = headers.get("x-splunk-request-channel") or query.get("channel")
        with s.lock:
            s.requests.append(req)
            if path.endswith("/services/collector/health") or \
                    path.endswith("/services/collector/health/1.0"):
                status, obj = 200, {"text": TEXT[17], "code": 17}
            else:
                code = s.check_auth(headers, query)
                if code:
                    status, obj = HTTP_OF[code], {"text": TEXT[code], "code": code}
                elif path.endswith("/services/collector/ack"):
                    status, obj = s.respond_ack(req, channel)
                elif path.endswith(("/services/collector/event",
                                    "/services/collector",
                                    "/services/collector/event/1.0",
                                    "/services/collector/raw",
                                    "/services/collector/raw/1.0")):
                    status, obj = s.respond(req, channel)
                else:
                    status, obj = 404, {"text": "The requested URL was not found on this server.",
                                        "code": 404}
            req.status = status
            req.response = obj
        self.reply(status, obj)

    do_POST = handle_any
    do_GET = handle_any


HecSink.handler_class = HecHandler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="00000000-0000-0000-0000-000000000001")
    ap.add_argument("--ack", action="store_true")
    a = ap.parse_args()
    s = HecSink(tokens={a.token}, ack=a.ack).start(a.port)
    print(f"PORT={s.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        s.stop()


if __name__ == "__main__":
    sys.exit(main())
