"""The HTTP layer of `cnnkit explore`: Werkzeug routes onto Explorer methods, nothing more.

Werkzeug (the Pallets project's WSGI toolkit under Flask, and what TensorBoard serves its
local page with) gives the request parsing, routing, static files and a threaded server;
no HTTP is handled by hand here. One lock serialises the model's use: two clicks at once
must not see each other's forward hooks (feature_maps hooks the shared model).

    GET  /                      the page (static/index.html)
    GET  /static/<file>         its script and style, from the package
    GET  /api/network           Explorer.network()
    GET  /api/inputs            Explorer.list_inputs()
    GET  /api/predict?input=I   Explorer.predict(I)
    GET  /api/layer?name=L&input=I
    GET  /api/drawing?name=L        the layer's arithmetic as `cnnkit draw` draws it
    GET  /api/channel?layer=L&channel=C&input=I
    GET  /api/maximize?layer=L&channel=C
    GET  /api/attribution?input=I&method=M[&target=K]
    POST /api/upload?name=FILE  (the file's bytes as the body) -> Explorer.add_bytes

An error is a 400 with {"error": message}; the page shows the message.
"""

from __future__ import annotations

import json
import threading
from importlib import resources

from cnnkit.errors import CnnkitError

INSTALL = "pip install 'cnnkit[explore]'"
MAX_UPLOAD = 32 * 2**20  # a dropped file larger than this is not a picture for a CIFAR-sized network


def require_werkzeug():
    """Import werkzeug or raise the one-line error with the install command."""
    try:
        import werkzeug  # noqa: F401
    except ImportError:
        raise CnnkitError(f"cnnkit explore needs the Werkzeug web server library, which is not installed; "
                          f"install it with: {INSTALL}") from None


LOCAL_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def make_app(explorer, host: str = "127.0.0.1"):
    """The WSGI application serving `explorer` (an Explorer). Served on a loopback address, it
    answers only requests addressed to this computer by name or number: a web page elsewhere
    that points a DNS name at 127.0.0.1 (DNS rebinding) gets a 403, not the model."""
    require_werkzeug()
    from werkzeug.exceptions import HTTPException, NotFound
    from werkzeug.routing import Map, Rule
    from werkzeug.wrappers import Request, Response

    lock = threading.Lock()
    static = resources.files("cnnkit.explorer") / "static"
    types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

    def page(request, file="index.html"):
        target = static / file
        suffix = "." + file.rsplit(".", 1)[-1]
        if "/" in file or suffix not in types or not target.is_file():
            raise NotFound()
        return Response(target.read_bytes(), content_type=types[suffix], headers={"Cache-Control": "no-store"})

    def q(request, key, default=None):
        return request.args.get(key, default)

    routes = {
        "network": lambda r: explorer.network(),
        "inputs": lambda r: explorer.list_inputs(),
        "predict": lambda r: explorer.predict(q(r, "input", 0)),
        "layer": lambda r: explorer.layer(q(r, "name", ""), q(r, "input")),
        "drawing": lambda r: explorer.drawing(q(r, "name", "")),
        "channel": lambda r: explorer.channel(q(r, "layer", ""), q(r, "channel"), q(r, "input")),
        "maximize": lambda r: explorer.maximize(q(r, "layer", ""), q(r, "channel")),
        "attribution": lambda r: explorer.attribution(q(r, "input", 0), q(r, "method", "gradcam"), q(r, "target")),
    }

    def api(request, what):
        if what == "upload":
            if request.method != "POST":
                return _json({"error": "upload with POST"}, 405)
            if (request.content_length or 0) > MAX_UPLOAD:
                return _json({"error": f"the file is larger than {MAX_UPLOAD // 2**20} MB; drop an image"}, 400)
            call = lambda r: explorer.add_bytes(r.get_data(), q(r, "name", "dropped file"))
        elif what in routes:
            call = routes[what]
        else:
            raise NotFound()
        try:
            with lock:
                return _json(call(request))
        except CnnkitError as e:
            return _json({"error": str(e)}, 400)
        except Exception as e:  # a bug: on the page and in the terminal, and the server keeps serving
            import sys

            first = str(e).splitlines()[0] if str(e) else ""
            print(f"error: unexpected {type(e).__name__} answering /api/{what}: {first}", file=sys.stderr)
            return _json({"error": f"unexpected {type(e).__name__}: {first} (a bug in cnnkit; please report it)"}, 500)

    urls = Map([Rule("/", endpoint=page), Rule("/static/<file>", endpoint=page),
                Rule("/api/<what>", endpoint=api, methods=["GET", "POST"])])

    def _json(obj, status=200):
        return Response(json.dumps(obj, allow_nan=False), status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store"})

    loopback = host in LOCAL_NAMES

    @Request.application
    def app(request):
        if loopback and request.host.rsplit(":", 1)[0] not in LOCAL_NAMES:
            return Response("this page answers only http://127.0.0.1 or http://localhost", status=403)
        try:
            endpoint, args = urls.bind_to_environ(request.environ).match()
            return endpoint(request, **args)
        except HTTPException as e:
            return e

    return app


class Server:
    """The page served on (host, port) in this process: `start()` in a thread (tests,
    notebooks) or `serve_forever()` in the foreground (the command; Ctrl-C returns)."""

    def __init__(self, explorer, host: str = "127.0.0.1", port: int = 0):
        require_werkzeug()
        import errno
        import socket

        from werkzeug.serving import WSGIRequestHandler, get_sockaddr, make_server, select_address_family

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):  # no line per click in the terminal
                pass

        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise CnnkitError(f"--port must be a whole number from 0 to 65535 (0: any free port), not {port!r}")
        # Bound here rather than by make_server: on a taken port it prints two lines and exits
        # the process, and the command owes the user one `error:` line instead.
        family = select_address_family(host, port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as socketserver does; a listener still blocks it
            sock.bind(get_sockaddr(host, int(port), family))
            sock.listen(64)
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                raise CnnkitError(f"port {port} on {host} is in use (another program, or another cnnkit explore); "
                                  "choose another with --port N, or --port 0 for any free port") from None
            raise CnnkitError(f"cannot serve on {host}:{port}: {e.strerror or e}; "
                              "use --host 127.0.0.1 and a port from 1024 to 65535") from None
        try:
            self.httpd = make_server(host, port, make_app(explorer, host), threaded=True, request_handler=Quiet, fd=sock.fileno())
        finally:
            sock.close()  # make_server keeps its own duplicate of the socket
        self.explorer, self.host, self.port = explorer, host, self.httpd.port
        self._thread = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="cnnkit-explore", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.httpd.server_close()

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
