"""`cnnkit explore` from Python: the page for one network, served on this machine.

    server = cnnkit.explore("runs/convnet/best.pt", dataset="cifar10")
    server.url          # 'http://127.0.0.1:8765/'  (open it in a browser)
    server.stop()       # frees the port
"""

from __future__ import annotations

from typing import Optional

DEFAULT_PORT = 8765


def explore_server(model, images: Optional[list] = None, dataset: Optional[str] = None, port: Optional[int] = None,
                   host: str = "127.0.0.1", data_dir: Optional[str] = None, device: str = "auto",
                   options: Optional[dict] = None, weights: Optional[str] = None):
    """The page's Server, bound but not yet serving: `.serve_forever()` (until Ctrl-C) or `.start()`.

    `model`: a checkpoint, a run directory, a model name, `my_net.py:Net` or a layer spec;
    `weights`: a state dict file for a model that is not a checkpoint (as `train --weights`).
    `port` None: 8765, or any free port when that one is taken; a given port that is taken is an error."""
    from cnnkit.explorer.server import Server, require_werkzeug
    from cnnkit.explorer.session import Explorer

    require_werkzeug()  # before the model loads: the missing library is the first thing to fix
    explorer = Explorer(model, images or [], dataset, data_dir, device, options=options, weights=weights)
    explorer.start_scoring()  # the test images' channel scores, in the background while the page loads
    if port is not None:
        return Server(explorer, host, port)
    from cnnkit.errors import CnnkitError

    try:
        return Server(explorer, host, DEFAULT_PORT)
    except CnnkitError:  # the usual port is taken (another explore page): any free one
        return Server(explorer, host, 0)


def explore(model, images: Optional[list] = None, dataset: Optional[str] = None, port: Optional[int] = None,
            host: str = "127.0.0.1", data_dir: Optional[str] = None, device: str = "auto", options: Optional[dict] = None,
            weights: Optional[str] = None):
    """Serve the page in a background thread and return the Server (`.url`, `.stop()`)."""
    return explore_server(model, images, dataset, port, host, data_dir, device, options, weights).start()
