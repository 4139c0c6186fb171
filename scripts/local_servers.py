"""Real servers on 127.0.0.1 for the tests and benchmarks of reading from STAC catalogues: Debian's nginx (a
static file server with Range requests, as COGs are served) and `rustac serve` (a STAC API from PyPI, in-memory
backend). Each is started on a free port and stopped with :meth:`stop`."""
import os
import shutil
import socket
import subprocess
import time


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rustac_command():
    """The rustac command (on PATH, where `make` installs it, or where pip puts it for root), or None."""
    return next((path for path in (shutil.which("rustac"), RUSTAC_VENV, "/usr/local/bin/rustac")
                 if path and os.path.exists(path)), None)


NGINX = "/usr/sbin/nginx"
#: Where `make` installs rustac (a STAC API server from PyPI), unless it is on PATH.
RUSTAC_VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv-stac", "bin",
                           "rustac")


def wait_for_port(port, process, what, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert process.poll() is None, "%s stopped at start (exit %s)" % (what, process.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("%s did not listen on port %d" % (what, port))


class Nginx:
    """Debian's nginx serving ``root`` on 127.0.0.1 (Range requests, as any static file server of COGs does);
    under ``/broken/`` it answers 503; under ``/signed/`` it serves ``root`` to requests whose ``sig`` query starts
    with ``valid`` (storage signed with SAS tokens) and answers 403 to others. :meth:`stop` kills it (a server that
    dies); :meth:`served` reads its access log: (requests, body bytes sent) of the paths under ``root``."""

    def __init__(self, root, folder, port=None):
        self.root, self.folder, self.port = str(root), str(folder), port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        os.makedirs(self.folder, exist_ok=True)
        self.log = os.path.join(self.folder, "access.log")
        config = os.path.join(self.folder, "nginx.conf")
        with open(config, "w", encoding="utf-8") as stream:
            stream.write(NGINX_CONFIG % dict(folder=self.folder, root=self.root, port=self.port, log=self.log,
                                             user="user root;" if os.geteuid() == 0 else ""))
        self.process = subprocess.Popen([NGINX, "-p", self.folder, "-c", config, "-e", "stderr"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, "nginx")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def requests(self):
        """(method, path, status, body bytes sent) of every request so far."""
        with open(self.log, encoding="utf-8") as stream:
            return [(method, path, int(status), int(size))
                    for method, path, status, size in (line.split() for line in stream if line.strip())]

    def served(self):
        requests = self.requests()
        return len(requests), sum(size for _, _, _, size in requests)


NGINX_CONFIG = """%(user)s
daemon off;
master_process off;
pid %(folder)s/nginx.pid;
events { worker_connections 256; }
http {
    log_format sizes '$request_method $uri $status $body_bytes_sent';
    access_log %(log)s sizes;
    client_body_temp_path %(folder)s/body;
    proxy_temp_path %(folder)s/proxy;
    fastcgi_temp_path %(folder)s/fastcgi;
    uwsgi_temp_path %(folder)s/uwsgi;
    scgi_temp_path %(folder)s/scgi;
    types { image/tiff tif; application/json json; }
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
        location /broken/ { return 503; }
        location /signed/ { if ($arg_sig !~ "^valid") { return 403; } alias %(root)s/; }
    }
}
"""




class StacServer:
    """`rustac serve` (a STAC API, in-memory backend) on 127.0.0.1 serving the items of an ItemCollection file."""

    def __init__(self, items_path, folder):
        command = rustac_command()
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.process = subprocess.Popen([command, "serve", str(items_path), "--create-collections", "--addr",
                                         "127.0.0.1:%d" % self.port], cwd=str(folder), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, "rustac serve")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class MisbehavingServer:
    """``misbehaving_server.py`` on 127.0.0.1 answering ``routes`` (see that script); :meth:`requests` lists
    what it was asked, :meth:`stop` kills it."""

    def __init__(self, routes, folder):
        import json
        import sys
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        os.makedirs(str(folder), exist_ok=True)
        routes_path = os.path.join(str(folder), "routes_%d.json" % self.port)
        self.log = os.path.join(str(folder), "requests_%d.log" % self.port)
        with open(routes_path, "w", encoding="utf-8") as stream:
            json.dump(routes, stream)
        open(self.log, "w").close()
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "misbehaving_server.py")
        self.process = subprocess.Popen([sys.executable, script, str(self.port), routes_path, self.log],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, "misbehaving_server.py")

    def requests(self):
        """["METHOD /path body", …] in the order they came."""
        with open(self.log, encoding="utf-8") as stream:
            return [line.strip() for line in stream if line.strip()]

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class ForwardingProxy:
    """``forwarding_proxy.py`` on 127.0.0.1: an HTTP proxy whose :meth:`urls` lists what went through it."""

    def __init__(self, folder):
        import sys
        self.port = free_port()
        os.makedirs(str(folder), exist_ok=True)
        self.log = os.path.join(str(folder), "proxy_%d.log" % self.port)
        open(self.log, "w").close()
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forwarding_proxy.py")
        self.process = subprocess.Popen([sys.executable, script, str(self.port), self.log],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, "forwarding_proxy.py")

    def urls(self):
        with open(self.log, encoding="utf-8") as stream:
            return [line.split()[1] for line in stream if line.strip()]

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
