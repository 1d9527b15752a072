"""`cnnkit explore`: the network as a local web page (parse, one library call, serve)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.cli.options import DataDirOpt, parse_model_options

app = typer.Typer()

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def explore(
    model: Annotated[str, typer.Argument(help="A checkpoint (runs/NAME/best.pt), a run directory, or a model name (cnnkit models; untrained).")],
    image: Annotated[Optional[list[str]], typer.Option("--image", "-i", help="An image to look at (repeatable), preprocessed as the checkpoint evaluates.")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Whose test images to offer (default: the checkpoint's own dataset).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port to serve on (default 8765, or any free one if taken; 0: any free port).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to serve on; the default is this computer only.")] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the address; do not open a browser.")] = False,
    opt: Annotated[Optional[list[str]], typer.Option("--opt", help="Model option key=value for a model name (repeatable), e.g. --opt widths=16,32,64.")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="A state dict file for a model name, file or spec (as train --weights), e.g. --weights resnet18-f37072fd.pth.")] = None,
    data_dir: DataDirOpt = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N, mps.")] = "auto",
) -> None:
    """Explore a network in your browser: its layers with shapes, parameters, MACs and receptive fields;
    click a layer for its feature maps, filters and arithmetic, a channel for what excites it;
    the prediction and Grad-CAM / saliency / guided backprop for an image. Served on this computer
    only (no internet needed); Ctrl-C stops it.

    Example: cnnkit explore runs/convnet/best.pt

    Example: cnnkit explore runs/convnet/best.pt --image cat.png --port 8800 --no-browser

    Example: cnnkit explore resnet18-cifar --dataset cifar10

    Example: cnnkit explore convnet --opt widths=16,32,64 --dataset shapes --host 127.0.0.1 --device cpu

    Example: cnnkit explore resnet18-cifar --weights pretrained.pt --dataset cifar10
    """
    from cnnkit.api.web import explore_server

    typer.echo(f"loading {model}" + (f" and test images of {dataset}" if dataset else "") + " ...")
    server = explore_server(model, image, dataset, port, host, data_dir, device, parse_model_options(opt) or None, weights)
    for note in server.explorer.notes:
        typer.echo(f"note: {note}")
    if port is None and server.port != 8765:
        typer.echo("note: port 8765 is taken (another explore page?); serving on a free port instead")
    if host not in LOOPBACK:
        typer.echo(f"note: serving on {host}: other computers that can reach this one can open the page")
    typer.echo(f"cnnkit explore: {server.url}  (Ctrl-C to stop)")
    if not no_browser:
        import webbrowser

        if not webbrowser.open(server.url):
            typer.echo("note: no browser found; open the address above yourself")
    server.serve_forever()
    typer.echo("stopped")
