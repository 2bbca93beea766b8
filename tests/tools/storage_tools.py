"""Helpers for the storage integration tests (tests/integration/test_storage*.py).

- parse_chunk(): reads a chunk file as laid out in src/chunk.h, so that a test
  can cut it in the middle of a frame or flip a byte of a known frame and
  know exactly which records must survive.
- StopAfterSink: a TCP sink that collects newline-framed lines and, after a
  given number of lines, resets the connection and stops listening (a peer
  that goes away in the middle of a delivery).
- rss_kib(): VmRSS of a process.

Standalone (no import of conftest), stdlib only.
"""

import json
import socket
import struct
import threading
import time
from pathlib import Path

MAGIC = b"SLUICECK"
FRAME_HDR = 16  # u32 len, u32 crc32c, i64 ts_ns


class Frame:
    """One frame of a chunk file: its offset in the file and its record."""

    def __init__(self, offset, length, ts_ns, body):
        self.offset = offset
        self.length = length        # body bytes
        self.ts_ns = ts_ns
        self.body = body

    @property
    def end(self):
        return self.offset + FRAME_HDR + self.length

    def record(self):
        return json.loads(self.body)


def parse_chunk(path):
    """(header_len, tag, [Frame]) of an undamaged chunk file.

    Header: "SLUICECK" u32 version u32 hdr_len i64 created_ns u16 tag_len
    u16 flags, tag bytes, u32 crc32c; frames from hdr_len on."""
    data = Path(path).read_bytes()
    assert data[:8] == MAGIC, f"{path}: bad magic {data[:8]!r}"
    _version, hdr_len, _created, tag_len, _flags = struct.unpack_from("<IIqHH", data, 8)
    tag = data[28:28 + tag_len].decode()
    frames = []
    off = hdr_len
    while off + FRAME_HDR <= len(data):
        length, _crc, ts = struct.unpack_from("<IIq", data, off)
        if off + FRAME_HDR + length > len(data):
            break
        frames.append(Frame(off, length, ts, data[off + FRAME_HDR:off + FRAME_HDR + length]))
        off += FRAME_HDR + length
    assert off == len(data), f"{path}: {len(data) - off} trailing bytes"
    return hdr_len, tag, frames


def chunk_files(storage):
    """Every *.chunk file under <storage>/chunks, sorted by path."""
    return sorted(Path(storage, "chunks").glob("*/*.chunk"))


def rss_kib(pid):
    """VmRSS of <pid> in KiB, or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class StopAfterSink:
    """TCP sink on 127.0.0.1 that keeps the first <limit> lines it reads,
    then resets its connection (SO_LINGER 0: unread bytes are discarded and
    the sender gets ECONNRESET) and closes its listener, so every later
    connection attempt is refused.  Lines after the limit that arrived in
    the same read are discarded, not kept."""

    def __init__(self, limit, port=0):
        self.limit = limit
        self.lines = []
        self.lock = threading.Lock()
        self.gone = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.listener.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while not self.gone.is_set():
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    return
                self._read(conn)
        finally:
            self._close_listener()

    def _read(self, conn):
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(1 << 16)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                *complete, buf = buf.split(b"\n")
                with self.lock:
                    room = self.limit - len(self.lines)
                    self.lines.extend(complete[:room])
                    full = len(self.lines) >= self.limit
                if full:
                    self._close_listener()
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    self.gone.set()
                    return

    def _close_listener(self):
        try:
            self.listener.close()
        except OSError:
            pass

    def stop(self):
        self.gone.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._close_listener()
        self.thread.join(5)

    def records(self):
        with self.lock:
            return [json.loads(l) for l in self.lines]
