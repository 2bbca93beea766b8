#!/usr/bin/env python3
"""es_bulk_sink.py - an Elasticsearch/OpenSearch `_bulk` receiver for tests.

Follows shared/docs/protocols.md section 1 (and the HTTP rules of section 0):
  * POST/PUT /_bulk and /<index>/_bulk; Content-Type application/x-ndjson or
    application/json (parameters allowed), anything else 400;
  * Content-Encoding: gzip (and deflate) bodies, size limit on the
    decompressed size (413), Transfer-Encoding: chunked, Expect:
    100-continue, keep-alive;
  * strict NDJSON: the body must end with a newline (400 otherwise, with the
    ES error body), action lines with exactly one action key, `_type`
    rejected like ES 8 (version 8) or accepted (version 7), `delete` has no
    source line, `update` gets an item error;
  * items in request order, `errors` true iff some item status >= 300,
    `create` with an existing `_id` gives 409 version_conflict_engine_exception;
  * every answer carries X-Elastic-Product: Elasticsearch (flavor
    "elasticsearch"); flavor "opensearch" omits it and answers GET / with an
    OpenSearch version document;
  * auth: basic and/or ApiKey/Bearer as configured, 401 with
    WWW-Authenticate and an ES security_exception body otherwise.

Scripting (in-process use from pytest):
    sink = EsBulkSink(auth={"basic": ("elastic", "changeme")}).start()
    sink.plan(http=429, retry_after="1")      # next bulk request: whole 429
    sink.plan(http=413)                       # the one after: 413
    sink.plan(items=[201, 429, 400, 409])     # per-item statuses, in order
    sink.item_fn = lambda action, meta, src, seen: 201  # per-document rule
    ... sink.requests (every request: method, path, headers, raw, body,
        actions, status, response), sink.docs (accepted sources) ...
    sink.stop()

Command line: `es_bulk_sink.py [--port N] [--flavor opensearch]` prints
"PORT=<n>" and serves until killed.
"""

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler

from sink_base import SinkBase, decode_body

ITEM_ERRORS = {
    400: ("document_parsing_exception", "failed to parse field [status]"),
    403: ("cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)]"),
    404: ("index_not_found_exception", "no such index"),
    409: ("version_conflict_engine_exception", "version conflict, document already exists"),
    429: ("es_rejected_execution_exception", "rejected execution of coordinating operation"),
    500: ("exception", "internal failure"),
    503: ("unavailable_shards_exception", "primary shard is not active"),
}


def es_error(etype, reason, status):
    return {"error": {"root_cause": [{"type": etype, "reason": reason}],
                      "type": etype, "reason": reason}, "status": status}


class BulkRequest:
    """One request as received."""

    def __init__(self, method, path, headers, raw, body):
        self.method = method
        self.path = path
        self.headers = headers          # dict, lower-case names
        self.raw = raw                  # bytes on the wire
        self.body = body                # decompressed bytes
        self.actions = []               # (action, meta, source or None)
        self.status = None
        self.response = None

    def sources(self):
        return [s for (_, _, s) in self.actions if s is not None]


class EsBulkSink(SinkBase):
    def __init__(self, auth=None, flavor="elasticsearch", version=8,
                 max_body=100 << 20):
        super().__init__()
        self.auth = auth or {}
        self.flavor = flavor
        self.version = version
        self.max_body = max_body
        self.plans = []
        self.item_fn = None
        self.requests = []
        self.docs = []
        self.ids = set()
        self.seen = {}

    # ---- scripting ----
    def plan(self, http=None, retry_after=None, items=None, body=None):
        with self.lock:
            self.plans.append({"http": http, "retry_after": retry_after,
                               "items": list(items) if items else None,
                               "body": body})

    def bulk_requests(self):
        with self.lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith("_bulk")]

    def wait_docs(self, n, timeout=20):
        return self.wait(lambda s: list(s.docs) if len(s.docs) >= n else None,
                         timeout, f"{n} docs (have {len(self.docs)})")

    # ---- bulk semantics ----
    def next_plan(self):
        with self.lock:
            return self.plans.pop(0) if self.plans else None

    def item_status(self, plan, pos, action, meta, src):
        if plan and plan.get("items") is not None and pos < len(plan["items"]):
            return plan["items"][pos]
        if self.item_fn is not None:
            key = json.dumps(src, sort_keys=True)
            with self.lock:
                self.seen[key] = self.seen.get(key, 0) + 1
                n = self.seen[key]
            return self.item_fn(action, meta, src, n)
        return None

    def bulk(self, req, default_index):
        """Returns (status, response dict)."""
        lines = req.body.split(b"\n")
        if not req.body.endswith(b"\n"):
            return 400, es_error("illegal_argument_exception",
                                 "The bulk request must be terminated by a newline [\\n]", 400), None
        lines = lines[:-1]
        plan = self.next_plan()
        if plan and plan.get("http"):
            return plan["http"], plan.get("body") or es_error(
                "es_rejected_execution_exception", "scripted failure", plan["http"]), plan
        items, i, pos = [], 0, 0
        while i < len(lines):
            line = lines[i].rstrip(b"\r")
            i += 1
            try:
                act = json.loads(line)
                assert isinstance(act, dict) and len(act) == 1
                (action, meta), = act.items()
                assert isinstance(meta, dict)
            except Exception:
                return 400, es_error("illegal_argument_exception",
                                     f"Malformed action/metadata line [{i}]", 400), None
            if "_type" in meta and self.version >= 8:
                return 400, es_error("illegal_argument_exception",
                                     f"Action/metadata line [{i}] contains an unknown parameter [_type]", 400), None
            src = None
            if action != "delete":
                if i >= len(lines):
                    return 400, es_error("illegal_argument_exception",
                                         "source line missing", 400), None
                raw_src = lines[i].rstrip(b"\r")
                i += 1
                try:
                    src = json.loads(raw_src)
                except Exception:
                    src = None
                    items.append({action: {"_index": meta.get("_index", default_index),
                                           "status": 400, "error": {"type": "document_parsing_exception",
                                                                    "reason": "not JSON"}}})
                    req.actions.append((action, meta, raw_src))
                    pos += 1
                    continue
            req.actions.append((action, meta, src))
            items.append(self.item(plan, pos, action, meta, src, default_index))
            pos += 1
        errors = any(list(it.values())[0]["status"] >= 300 for it in items)
        return 200, {"took": 1, "errors": errors, "items": items}, plan

    def item(self, plan, pos, action, meta, src, default_index):
        index = meta.get("_index", default_index)
        _id = meta.get("_id") or f"gen{pos}-{time.monotonic_ns()}"
        status = self.item_status(plan, pos, action, meta, src)
        if action not in ("index", "create"):
            status = 400
            err = ("illegal_argument_exception", f"{action} is not supported")
        elif status is None:
            status = 201
            if action == "create" and meta.get("_id") is not None:
                with self.lock:
                    if (index, _id) in self.ids:
                        status = 409
            err = ITEM_ERRORS.get(status, ("exception", "error"))
        else:
            err = ITEM_ERRORS.get(status, ("exception", "error"))
        out = {"_index": index, "_id": _id, "status": status}
        if status < 300:
            out.update({"_version": 1, "result": "created",
                        "_shards": {"total": 2, "successful": 1, "failed": 0}})
            with self.lock:
                self.docs.append(src)
                self.ids.add((index, _id))
        else:
            out["error"] = {"type": err[0], "reason": err[1], "index": index, "shard": "0"}
        return {action: out}


class EsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sink = None

    def log_message(self, *a):
        pass

    def reply(self, status, obj, extra=None):
        body = b"" if obj is None else json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        if self.sink.flavor == "elasticsearch":
            self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def authorized(self):
        auth = self.sink.auth
        if not auth:
            return True
        got = self.headers.get("Authorization", "")
        scheme, _, cred = got.partition(" ")
        scheme = scheme.lower()
        if "basic" in auth and scheme == "basic":
            import base64
            u, p = auth["basic"]
            return cred == base64.b64encode(f"{u}:{p}".encode()).decode()
        if "apikey" in auth and scheme == "apikey":
            return cred == auth["apikey"]
        if "bearer" in auth and scheme == "bearer":
            return cred == auth["bearer"]
        return False

    def do_HEAD(self):
        self.reply(200, None)

    def do_GET(self):
        if self.path.split("?")[0] == "/":
            if self.sink.flavor == "opensearch":
                doc = {"name": "os-01", "cluster_name": "sink", "version": {
                    "distribution": "opensearch", "number": "2.11.0"},
                    "tagline": "The OpenSearch Project: https://opensearch.org/"}
            else:
                doc = {"name": "sink-01", "cluster_name": "sink", "version": {
                    "number": "8.19.0", "build_flavor": "default"},
                    "tagline": "You Know, for Search"}
            return self.reply(200, doc)
        self.reply(200, {})

    def do_POST(self):
        raw = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = decode_body(raw, headers.get("content-encoding"))
        except Exception:
            body = None
        req = BulkRequest(self.command, self.path, headers, raw, body or b"")
        with self.sink.lock:
            self.sink.requests.append(req)
        status, resp, extra = self.handle_bulk(req, body)
        req.status, req.response = status, resp
        self.reply(status, resp, extra)

    do_PUT = do_POST

    def handle_bulk(self, req, body):
        path = req.path.split("?")[0]
        if not path.endswith("/_bulk"):
            return 200, {"acknowledged": True}, None
        if not self.authorized():
            return 401, es_error("security_exception", "missing authentication credentials", 401), \
                {"WWW-Authenticate": 'Basic realm="sink" charset="UTF-8"'}
        if body is None:
            return 400, es_error("parse_exception", "cannot decompress the body", 400), None
        if len(req.raw) > self.sink.max_body or len(body) > self.sink.max_body:
            return 413, None, None
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/x-ndjson", "application/json"):
            return 400, es_error("illegal_argument_exception",
                                 f"Content-Type header [{ctype}] is not supported", 400), None
        parts = [p for p in path.split("/") if p]
        default_index = parts[-2] if len(parts) >= 2 else None
        status, resp, plan = self.sink.bulk(req, default_index)
        extra = None
        if plan and plan.get("retry_after") is not None:
            extra = {"Retry-After": str(plan["retry_after"])}
        return status, resp, extra


EsBulkSink.handler_class = EsHandler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--flavor", default="elasticsearch")
    a = ap.parse_args()
    sink = EsBulkSink(flavor=a.flavor).start(a.port)
    print(f"PORT={sink.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sink.stop()


if __name__ == "__main__":
    sys.exit(main())
