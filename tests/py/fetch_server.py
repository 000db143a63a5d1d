#!/usr/bin/env python3
"""A small HTTP file server for testing `scratchcv fetch` (127.0.0.1, ephemeral port).

URLs are /<mode>/<name>; files come from the served directory. Modes:
  good      the file; honours "Range: bytes=N-" (206 + Content-Range; 416 when N >= size)
  error500  HTTP 500
  truncate  announces the full Content-Length (of the requested range) but sends only half
            of it, then closes the connection
  wrong     same length, different bytes (honours Range)
  norange   ignores Range: always 200 with the whole file
  badrange  answers any Range with 206 from byte 0 (a range that was not asked for)
  stall     sends half of the body, then sends nothing for a long time
  redirect  302 to /good/<name>
A missing file gives 404. Every request is recorded in Server.log as (mode, name, range).

Standalone: fetch_server.py DIR prints "PORT" on stdout and serves until killed.
"""
import http.server
import os
import re
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def do_GET(self):
        parts = self.path.lstrip("/").split("/", 1)
        mode, name = (parts + [""])[:2]
        rng = self.headers.get("Range")
        self.server.log.append((mode, name, rng))
        path = os.path.join(self.server.root, os.path.basename(name))
        if mode == "error500":
            return self.simple(500, b"internal error\n")
        if mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "/good/" + name)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not name or not os.path.isfile(path):
            return self.simple(404, b"not found\n")
        with open(path, "rb") as f:
            data = f.read()
        if mode == "wrong":
            data = bytes(b ^ 0x5A for b in data)
        start = 0
        m = re.match(r"bytes=(\d+)-(\d*)$", rng or "")
        if m and mode not in ("norange", "badrange"):
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        end = len(data)
        if m and m.group(2) and mode not in ("norange", "badrange"):
            end = min(end, int(m.group(2)) + 1)
        body = data[start:end]
        partial = (m is not None and mode not in ("norange",))
        self.send_response(206 if partial else 200)
        if partial:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        if mode in ("truncate", "stall"):
            self.send_header("Connection", "close")
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "stall":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            time.sleep(self.server.stall_seconds)
            self.close_connection = True
            return
        self.wfile.write(body)

    def simple(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root, stall_seconds=20):
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root
        self.log = []
        self.stall_seconds = stall_seconds

    def handle_error(self, request, client_address):
        # A client that gives up mid-transfer (the point of several tests) is not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def port(self):
        return self.server_address[1]

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: fetch_server.py DIR")
    srv = Server(sys.argv[1])
    print(srv.port, flush=True)
    srv.serve_forever()
