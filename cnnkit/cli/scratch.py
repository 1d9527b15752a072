"""`cnnkit gradcheck`: scratch layers (cnnkit's or yours) against PyTorch."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.cli.options import JsonOpt, print_json

app = typer.Typer()


@app.command()
def gradcheck(
    impl: Annotated[Optional[str], typer.Option("--impl", help="Your Python file with layer classes (docs/gradcheck.md). "
                                                "WARNING: the file is imported, so its code runs; only check code you trust.")] = None,
    layer: Annotated[Optional[list[str]], typer.Option("--layer", help="Check only this layer (repeatable), e.g. Conv2d.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random inputs and parameters.")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Check forward outputs and input/parameter gradients against PyTorch in float64, plus finite differences.

    Prints Shape Match / Result Match per check; exit code 1 when any check fails.

    Example: cnnkit gradcheck --impl my_layers.py --layer Conv2d
    """
    from cnnkit.errors import RunFailure
    from cnnkit.scratch.gradcheck import load_impl, run_checks

    module = load_impl(impl) if impl else None
    result = run_checks(module, layer, seed)
    if json_:
        print_json(result)
    else:
        for c in result["checks"]:
            shape = "Shape Match" if c["shape_match"] else "Shape Mismatch"
            value = "Result Match" if c["result_match"] else "Result Mismatch"
            where = f"{c['layer']}{' [' + c['config'] + ']' if c['config'] else ''} {c['quantity']}"
            note = f"  ({c['note']})" if c["note"] else ""
            typer.echo(f"{where}: {shape}, {value}  max rel err {c['max_rel_error']:.2e} (tol {c['tolerance']:.0e}){note}")
        if result["missing"]:
            typer.echo(f"not in {impl}: {', '.join(result['missing'])}")
        failed = sum(not (c["shape_match"] and c["result_match"]) for c in result["checks"])
        typer.echo(f"{len(result['checks']) - failed} of {len(result['checks'])} checks passed")
    if not result["passed"]:
        failed = [c for c in result["checks"] if not (c["shape_match"] and c["result_match"])]
        first = failed[0] if failed else None
        raise RunFailure(f"{len(failed)} check(s) failed" + (f", first: {first['layer']} {first['quantity']}" if first else "; nothing was checked"))
