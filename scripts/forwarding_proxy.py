"""An HTTP proxy on 127.0.0.1 for the tests of reading catalogues through QGIS's proxy settings.

    python3 forwarding_proxy.py PORT LOG

It forwards GET and HEAD requests for absolute URLs (Range included) and appends each URL to LOG.
"""
import http.server
import sys
import urllib.error
import urllib.request

FORWARDED = ("Range", "Accept", "Accept-Encoding")
RETURNED = ("Content-Type", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag", "Content-Encoding")


class Proxy(http.server.BaseHTTPRequestHandler):
    log = None

    def log_message(self, *arguments):
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.forward()

    def do_HEAD(self):  # noqa: N802 (http.server's name)
        self.forward(head=True)

    def forward(self, head=False):
        with open(self.log, "a", encoding="utf-8") as stream:
            stream.write("%s %s\n" % (self.command, self.path))
        request = urllib.request.Request(self.path, method=self.command, headers={
            name: self.headers[name] for name in FORWARDED if self.headers.get(name)})
        try:
            answer = urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as error:
            answer = error
        except OSError:
            self.send_error(502)
            return
        body = b"" if head else answer.read()
        self.send_response(answer.status if hasattr(answer, "status") else answer.code)
        for name in RETURNED:
            if answer.headers.get(name):
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", answer.headers.get("Content-Length") if head else str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    Proxy.log = sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
