"""`cnnkit gradcheck`: scratch layers (cnnkit's or yours) against PyTorch."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.cli.options import JsonOpt, print_json

app = typer.Typer()


@app.command()
def gradcheck(
    impl: Annotated[Optional[str], typer.Option("--impl", help="Your Python file with layer classes or forward/backward "
                                                "functions, torch or numpy (docs/gradcheck.md). WARNING: the file is "
                                                "imported, so its code runs; only check code you trust.")] = None,
    layer: Annotated[Optional[list[str]], typer.Option("--layer", help="Check only this layer (repeatable), e.g. Conv2d.")] = None,
    map_: Annotated[Optional[list[str]], typer.Option("--map", help="Your name for a layer (repeatable), e.g. "
                                                      "--map Conv2d=MyConv or --map SoftmaxCrossEntropy=my_loss.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random inputs and parameters.")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Check forward outputs and input/parameter gradients against PyTorch in float64, plus finite differences.

    One line per check (PASS / FAIL / ERROR / SKIP): Shape Match / Result Match, the worst element, the likely cause.

    Then a summary and a score. Exit code 1 when any check fails or your code crashes.

    Example: cnnkit gradcheck --impl my_layers.py --layer Conv2d --map Linear=FullyConnected
    """
    from cnnkit.api.scratch import gradcheck as check
    from cnnkit.errors import RunFailure
    from cnnkit.scratch.verdict import render_line

    result = check(impl, layer, map_, seed)
    s = result["summary"]
    if json_:
        print_json(result)
    else:
        for c in result["checks"]:
            typer.echo(render_line(c))
        if impl and result["found"]:
            typer.echo("found: " + "; ".join(f"{k} = {v}" for k, v in result["found"].items()))
        if result["missing"]:
            typer.echo(f"not in {impl}: {', '.join(result['missing'])} (other names: --map Layer=YourName)")
        typer.echo(f"{s['passed']} passed, {s['failed']} failed, {s['errors']} errors, {s['not_checked']} not checked")
        typer.echo(f"Score: {s['score']}")
    if not result["passed"]:
        bad = [c for c in result["checks"] if c["status"] in ("fail", "error")]
        where = f"{bad[0]['layer']} [{bad[0]['config']}]" if bad and bad[0]["config"] else bad[0]["layer"] if bad else ""
        first = f", first: {where} {bad[0]['quantity']}" if bad else ""
        raise RunFailure(f"{len(bad)} check(s) failed{first}; see the lines above")
