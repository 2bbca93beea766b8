"""Issue 3, proof 2: the crash storm with an HTTP input.

A client POSTs numbered batches to the http input (storage.type:
filesystem, service.storage.sync: full, so a 2xx is only sent once the
batch is fsynced) and remembers which batches got a 2xx.  sluice is killed
with SIGKILL at random moments at least 20 times and restarted.  At the
end every record of every acknowledged batch must be at the sink (at least
once); records of batches that got no 2xx (refused, or cut by a kill) may
or may not be there.  The duplicate count is reported."""

import http.client
import json
import os
import random
import threading
import time

from conftest import TcpSink, wait_for, yq

KILLS = 20
BATCH = 20


class Client(threading.Thread):
    """Posts batch after batch, each to the port the current sluice wrote
    to its port file; a batch is acknowledged only by a 2xx."""

    def __init__(self, port_file):
        super().__init__(daemon=True)
        self.port_file = port_file
        self.halt = threading.Event()
        self.acked = []
        self.sent = 0
        self.errors = 0

    def port(self):
        try:
            text = self.port_file.read_text().strip()
            return int(text) if text.isdigit() else None
        except OSError:
            return None

    def post(self, batch):
        port = self.port()
        if port is None:
            return None
        body = "\n".join(json.dumps({"n": batch * BATCH + i, "pad": "x" * 80})
                         for i in range(BATCH)).encode()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("POST", "/app", body,
                      {"Content-Type": "application/x-ndjson"})
            return c.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            c.close()

    def run(self):
        batch = 0
        while not self.halt.is_set() and batch < 100_000:
            self.sent += 1
            st = self.post(batch)
            if st is not None and 200 <= st < 300:
                self.acked.append(batch)
            else:
                self.errors += 1
                time.sleep(0.01)
            batch += 1


def test_http_crash_storm_every_acknowledged_record_arrives(sluice_factory,
                                                           tmp_path):
    sink = TcpSink().start()
    port_file = tmp_path / "http.port"
    s = sluice_factory(f"""
pipeline:
  inputs:
    - name: http
      port: 0
      port_file: {yq(port_file)}
      storage.type: filesystem
  outputs:
    - name: tcp
      alias: sink
      match: '*'
      port: {sink.port}
      retry_base: 100ms
      retry_max: 500ms
      retry_limit: no_limits
""", service={"storage.sync": "full", "chunk_size": "16384"})
    seed = int(os.environ.get("SLUICE_TEST_SEED") or time.time())
    rng = random.Random(seed)
    s.start()
    wait_for(lambda: port_file.exists(), 10, "http port file")
    client = Client(port_file)
    client.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.2))
            port_file.unlink(missing_ok=True)  # the next start writes it
            s.kill()                           # SIGKILL, by PID
            s.start()
            wait_for(lambda: port_file.exists(), 10, "http port file")
    finally:
        client.halt.set()
        client.join(10)
    want = {b * BATCH + i for b in client.acked for i in range(BATCH)}
    assert len(client.acked) > KILLS, "the client got too few 2xx to prove anything"

    def all_there():
        return want <= {json.loads(l)["n"] for l in sink.snapshot()}
    wait_for(all_there, 90, f"all {len(want)} acknowledged records at the sink")
    assert s.stop() == 0
    got = [json.loads(l)["n"] for l in sink.snapshot()]
    missing = want - set(got)
    assert not missing, f"{len(missing)} acknowledged records lost"
    dups = len(got) - len(set(got))
    print(f"http crash storm: seed {seed}, {KILLS} kills, {client.sent} "
          f"batches sent, {len(client.acked)} acknowledged, "
          f"{len(got)} records delivered, {dups} duplicates")
    sink.stop()
