"""`cnnkit sweep`, `cnnkit compare` and `cnnkit report`: parse, one cnnkit.api.experiments call, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.cli.options import JsonOpt, print_json

app = typer.Typer()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweep(
    ctx: typer.Context,
    model: Annotated[Optional[str], typer.Argument(help="A registered model, PATH.py:NAME (your class; loading the file runs its code) or a layer spec (or `model` in --file).")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", help="TOML sweep file: model, dataset, trials, out, [train], [vary], [[variant]] tables.")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Dataset spec (cnnkit data list); default shapes.")] = None,
    vary: Annotated[Optional[list[str]], typer.Option("--vary", help="key=v1,v2 (repeatable): a training option or a model option.")] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", help="Seeds per variant (seed, seed+1, ...); default 1.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Sweep directory (default sweeps/MODEL-DATA).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete and re-train the runs of an earlier sweep in --out whose settings changed (only cnnkit's files: docs/files.md). Example: --out sweeps/a --overwrite")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    json_: JsonOpt = False,
) -> None:
    """Train every combination of --vary values, --trials times each; re-running skips finished runs.

    Re-running with other settings (dataset, options, grid) is refused, naming what differs:
    choose another --out, or pass --overwrite to start afresh.

    Any `cnnkit train` option may follow (e.g. --epochs 5 --lr 0.01 --opt depth=3). With --file, the
    command line overrides the file and --vary adds to its grid.

    Example: cnnkit sweep convnet -d shapes --vary optimizer=sgd,adam --vary batchnorm=true,false --trials 3 --epochs 5

    Example: cnnkit sweep --file ablation.toml
    """
    from cnnkit.api import experiments
    from cnnkit.cli.progress import make_progress
    from cnnkit.cli.train_flags import parse_flags

    args = list(ctx.args)
    if model and model.startswith("-"):  # with MODEL left out, click puts the first train option in its place
        args.insert(0, model)
        model = None
    options = parse_flags(args, experiments.sweep_option_names())  # parsed as `cnnkit train` parses them
    progress = make_progress(quiet or json_)
    try:
        result = experiments.sweep(model, dataset, file=file, vary=vary, trials=trials, out=out, overwrite=overwrite, progress=progress,
                     **options)
    finally:
        getattr(progress, "close", lambda: None)()
    if json_:
        print_json(result)
    else:
        typer.echo(experiments.compare_markdown(result["comparison"]), nl=False)
        first_run = Path(result["sweep"]["variants"][0]["runs"][0])  # SWEEP/<variant>/trial-1
        typer.echo(f"sweep directory: {first_run.parents[1]}")


@app.command("compare")
def compare_cmd(
    dirs: Annotated[list[str], typer.Argument(help="Run, trials (--trials) or sweep directories.")],
    metric: Annotated[Optional[str], typer.Option("--metric", help="Summary key, default test_accuracy or test_dice.")] = None,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Variant the others are compared with (default: the first).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Per variant: the metric's mean, std, min and max over trials, best epoch, time, and the paired difference to a baseline.

    Example: cnnkit compare sweeps/convnet-shapes --markdown
    """
    from cnnkit.api.experiments import compare, compare_csv, compare_markdown

    result = compare(dirs, metric, baseline)
    if json_:
        print_json(result)
    elif csv_:
        typer.echo(compare_csv(result), nl=False)
    elif markdown:
        typer.echo(compare_markdown(result), nl=False)
    else:

        from rich.table import Table

        from cnnkit.cli.console import stdout_console

        m = result["metric"]
        table = Table(title=f"{m} over trials (paired against {result['baseline']})")
        for col in ("variant", "runs", "mean", "std", "min", "max", "best epoch", "train s", "vs baseline"):
            table.add_column(col, justify="left" if col == "variant" else "right")
        for r in result["rows"]:
            s = r[m]
            vs = "-" if r["vs_baseline"] is None else f"{r['vs_baseline']['mean_difference']:+.4f} ({r['vs_baseline']['wins']}/{r['vs_baseline']['pairs']})"
            table.add_row(r["variant"], str(r["runs"]) + (f" (+{r['pending']} pending)" if r["pending"] else ""), f"{s['mean']:.4f}",
                          f"{s['std']:.4f}", f"{s['min']:.4f}", f"{s['max']:.4f}", f"{r['best_epoch']:.1f}", f"{r['train_seconds']:.1f}", vs)
        stdout_console().print(table)  # pipes get the whole table


@app.command("report")
def report_cmd(
    directory: Annotated[str, typer.Argument(help="A run, trials (--trials) or sweep directory.")],
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="HTML file to write (default DIR/report.html); never a run's file or one of yours, an earlier report is replaced. Example: --out report.html")] = None,
    device: Annotated[str, typer.Option("--device", help="Device for the segmentation examples: auto|cpu|cuda[:N]|mps.")] = "cpu",
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Data root, if the data moved since training.")] = None,
    json_: JsonOpt = False,
) -> None:
    """One self-contained HTML page (images embedded, no network needed): configuration, results or the
    comparison table, learning curves, confusion matrix or segmentation examples, first-layer filters, environment.

    Example: cnnkit report sweeps/convnet-shapes
    """
    from cnnkit.api.experiments import report

    result = report(directory, out, device, data_dir)
    if json_:
        print_json(result)
    else:
        typer.echo(result["report"])
