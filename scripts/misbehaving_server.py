"""An HTTP server on 127.0.0.1 that misbehaves on purpose, for the hostile tests of the catalogue code.

    python3 misbehaving_server.py PORT ROUTES.json LOG

ROUTES.json maps a path (query strings ignored) to what it answers; a route may be a list, answered in turn (the
last one again and again). An answer is one of:

* ``{"json": …, "status": 200}``: that JSON (``{base}`` in strings replaced by this server's URL);
* ``{"body": "text", "status": 200, "content_type": "…"}``;
* ``{"trickle": "text", "seconds_per_byte": 15}``: the body a byte at a time;
* ``{"gzip_bomb_mb": 5}``: a gzip body that inflates to 1000 times its size;
* ``{"hang": true}``: the request is read and never answered;
* ``{"redirect": "/path"}``: HTTP 302 to ``/path`` (to itself: a loop);
* ``{"file": "/path/on/disk", "delay_seconds": 1}``: the file, a byte range of it (206) when asked for one, each
  answer after the delay (a slow file server).

Each request is appended to LOG as ``METHOD PATH BODY`` (the body of a POST on one line). Unknown paths answer 404. It stops when killed.
"""
import gzip
import http.server
import io
import json
import os
import sys
import threading
import time


def load_routes(path, base):
    with open(path, encoding="utf-8") as stream:
        text = stream.read().replace("{base}", base)
    return json.loads(text)


class Handler(http.server.BaseHTTPRequestHandler):
    routes, log, counts, lock = {}, None, {}, threading.Lock()

    def log_message(self, *arguments):
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.answer()

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        self.answer(body=self.rfile.read(length).decode("utf-8", "replace"))

    def do_HEAD(self):  # noqa: N802 (http.server's name)
        self.answer(head=True)

    def answer(self, head=False, body=""):
        path = self.path.split("?")[0]
        with self.lock:
            with open(self.log, "a", encoding="utf-8") as stream:
                stream.write("%s %s %s\n" % (self.command, path, " ".join(body.split())))
            number = self.counts.get(path, 0)
            self.counts[path] = number + 1
        route = self.routes.get(path)
        if route is None:
            return self.send_body(404, b"not found", "text/plain", head)
        if isinstance(route, list):
            route = route[min(number, len(route) - 1)]
        if route.get("hang"):
            time.sleep(3600)
            return None
        if "redirect" in route:
            self.send_response(302)
            self.send_header("Location", route["redirect"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if "trickle" in route:
            data = route["trickle"].encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(route.get("seconds_per_byte", 15))
            return None
        if "gzip_bomb_mb" in route:
            buffer = io.BytesIO()
            with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as stream:
                chunk = b" " * (1 << 20)
                for _ in range(int(route["gzip_bomb_mb"] * 1000)):
                    stream.write(chunk)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(buffer.tell()))
            self.end_headers()
            if not head:
                self.wfile.write(buffer.getvalue())
            return None
        if "file" in route:
            time.sleep(route.get("delay_seconds", 0))
            return self.send_file(route["file"], head)
        if "json" in route:
            return self.send_body(route.get("status", 200), json.dumps(route["json"]).encode("utf-8"),
                                  "application/geo+json", head)
        return self.send_body(route.get("status", 200), route.get("body", "").encode("utf-8"),
                              route.get("content_type", "text/plain"), head)

    def send_file(self, path, head):
        """The file at ``path``, or the first byte range the request asks for (206)."""
        size = os.path.getsize(path)
        asked = (self.headers.get("Range") or "").replace("bytes=", "").split(",")[0]
        first, _, last = asked.partition("-")
        first, last = (int(first), min(int(last) if last else size - 1, size - 1)) if asked else (0, size - 1)
        self.send_response(206 if asked else 200)
        self.send_header("Content-Type", "image/tiff")
        if asked:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not head:
            with open(path, "rb") as stream:
                stream.seek(first)
                self.wfile.write(stream.read(last - first + 1))
        return None

    def send_body(self, status, data, content_type, head):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)


def main():
    port, routes, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Handler.routes = load_routes(routes, "http://127.0.0.1:%d" % port)
    Handler.log = log
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
