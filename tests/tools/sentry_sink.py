#!/usr/bin/env python3
"""sentry_sink.py - a Sentry envelope receiver for tests.

Follows shared/docs/protocols.md section 3:
  * POST {prefix}/api/<project>/envelope/ only (other paths 404, a project
    other than the configured one 404);
  * auth from X-Sentry-Auth ("Sentry k=v, ..."), or sentry_key/
    sentry_version query parameters, or the envelope header's dsn; no auth
    -> 403, unknown key -> 401, sentry_version != 7 -> 400;
  * Content-Encoding gzip/deflate; envelope = header line, then items:
    item header line with "type" and optional "length" (exact payload
    bytes; without it the payload runs to the next newline); malformed ->
    400 with X-Sentry-Error and {"detail":...}; at most one event item;
    event_id (32 hex) required when an event is carried;
  * 200 {"id": "<event_id>"}; scripted 429 with Retry-After and/or
    X-Sentry-Rate-Limits; rate-limit headers may also be added to 200s.
  * TLS with certfile/keyfile (python ssl).

Scripting:
    sink = SentrySink(keys={"k"}, project="42", prefix="").start()
    sink.plan(http=429, retry_after="2", rate_limits="2:error:project")
    ... sink.requests (method, path, headers, raw, body, status),
        sink.events (accepted event payloads, dicts), sink.envelopes ...
"""

import json
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler

from sink_base import SinkBase, decode_body


class SentryRequest:
    def __init__(self, method, path, headers, raw, body):
        self.method = method
        self.path = path
        self.headers = headers
        self.raw = raw
        self.body = body
        self.status = None
        self.response = None
        self.envelope = None   # (header dict, [(item header, payload bytes)])


def parse_auth(value):
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "sentry":
        return None
    out = {}
    for part in rest.split(","):
        k, _, v = part.strip().partition("=")
        if k:
            out[k.strip()] = v.strip()
    return out


def parse_envelope(body):
    """Returns (header, items) or raises ValueError."""
    nl = body.find(b"\n")
    head = json.loads(body[: nl if nl >= 0 else len(body)])
    if not isinstance(head, dict):
        raise ValueError("envelope header is not an object")
    pos = nl + 1 if nl >= 0 else len(body)
    items = []
    while pos < len(body):
        nl = body.find(b"\n", pos)
        if nl < 0:
            raise ValueError("item header without newline")
        line = body[pos:nl]
        pos = nl + 1
        if not line.strip():
            continue
        ih = json.loads(line)
        if not isinstance(ih, dict) or "type" not in ih:
            raise ValueError("item header without type")
        if "length" in ih:
            n = ih["length"]
            payload = body[pos:pos + n]
            if len(payload) != n:
                raise ValueError("payload shorter than length")
            pos += n
            if pos < len(body):
                if body[pos:pos + 1] != b"\n":
                    raise ValueError("no newline after payload")
                pos += 1
        else:
            nl = body.find(b"\n", pos)
            payload = body[pos:nl if nl >= 0 else len(body)]
            pos = nl + 1 if nl >= 0 else len(body)
        items.append((ih, payload))
    return head, items


class SentrySink(SinkBase):
    def __init__(self, keys=("d41d8cd98f00b204e9800998ecf8427e",), project="42",
                 prefix="", certfile=None, keyfile=None):
        super().__init__()
        self.keys = set(keys)
        self.project = project
        self.prefix = prefix
        self.certfile = certfile
        self.keyfile = keyfile
        self.plans = []
        self.requests = []
        self.events = []

    def plan(self, http=429, retry_after=None, rate_limits=None, body=None):
        with self.lock:
            self.plans.append({"http": http, "retry_after": retry_after,
                               "rate_limits": rate_limits, "body": body})

    def dsn(self, key=None, scheme="http"):
        key = key or sorted(self.keys)[0]
        return f"{scheme}://{key}@127.0.0.1:{self.port}{self.prefix}/{self.project}"

    def handle(self, req, query):
        """Returns (status, body dict, extra headers)."""
        m = re.fullmatch(re.escape(self.prefix) + r"/api/([^/]+)/envelope/", req.path)
        if req.method != "POST" or not m:
            return 404, {"detail": "not found"}, {}
        if m.group(1) != self.project:
            return 404, {"detail": "project not found"}, {}
        try:
            head, items = parse_envelope(req.body)
        except (ValueError, UnicodeDecodeError) as e:
            return 400, {"detail": f"invalid envelope: {e}"}, {"X-Sentry-Error": "invalid envelope"}
        auth = None
        if "x-sentry-auth" in req.headers:
            auth = parse_auth(req.headers["x-sentry-auth"])
        elif "sentry_key" in query:
            auth = query
        elif "dsn" in head:
            u = urllib.parse.urlsplit(head["dsn"])
            auth = {"sentry_key": u.username, "sentry_version": "7"}
        if not auth or "sentry_key" not in auth:
            return 403, {"detail": "missing authorization information"}, {}
        if auth.get("sentry_version") != "7":
            return 400, {"detail": "unsupported protocol version"}, {}
        if auth["sentry_key"] not in self.keys:
            return 401, {"detail": "invalid api key"}, {}
        req.envelope = (head, items)
        events = [p for (ih, p) in items if ih["type"] == "event"]
        if len(events) > 1:
            return 400, {"detail": "duplicate event item"}, {}
        if events and not re.fullmatch(r"[0-9a-f]{32}", str(head.get("event_id", ""))):
            return 400, {"detail": "missing event_id"}, {}
        if self.plans:
            p = self.plans.pop(0)
            hdrs = {}
            if p["retry_after"] is not None:
                hdrs["Retry-After"] = p["retry_after"]
            if p["rate_limits"] is not None:
                hdrs["X-Sentry-Rate-Limits"] = p["rate_limits"]
            if p["http"] != 200:
                return p["http"], p["body"] or {"detail": "rate limited"}, hdrs
            extra = hdrs
        else:
            extra = {}
        for payload in events:
            try:
                ev = json.loads(payload)
            except ValueError:
                return 400, {"detail": "invalid event json"}, {}
            self.events.append(ev)
        return 200, {"id": head.get("event_id")}, extra


class SentryHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sink = None

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        s = self.sink
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = decode_body(raw, headers.get("content-encoding"))
        req = SentryRequest(self.command, url.path, headers, raw, body)
        with s.lock:
            s.requests.append(req)
            status, obj, extra = s.handle(req, query)
            req.status = status
            req.response = obj
        b = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    do_POST = handle_any
    do_GET = handle_any


SentrySink.handler_class = SentryHandler
