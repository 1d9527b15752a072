"""`cnnkit sweep` and `cnnkit compare`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.cli.options import JsonOpt, print_json

app = typer.Typer()


def parse_train_args(args: list[str]) -> dict:
    """The `cnnkit train` options given to a sweep, e.g. ['--epochs', '3', '--opt', 'depth=2', '--tta']."""
    from cnnkit.errors import CnnkitError
    from cnnkit.experiments.sweep import TRAIN_FIELDS, literal, normalise_train_options

    out: dict = {}
    i = 0
    while i < len(args):
        flag = args[i]
        if not flag.startswith("--"):
            raise CnnkitError(f"unexpected argument {flag!r}; training options look like --epochs 3")
        key = flag[2:].replace("-", "_")
        has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
        if key == "opt":
            k, _, v = args[i + 1].partition("=") if has_value else ("", "", "")
            if not k:
                raise CnnkitError("--opt needs key=value, e.g. --opt depth=3")
            out.setdefault("model_options", {})[k] = literal(v)
        elif key.startswith("no_") and key[3:] in TRAIN_FIELDS and not has_value:
            out[key[3:]] = False
        elif key in TRAIN_FIELDS or key == "seed":
            out[key] = literal(args[i + 1]) if has_value else True
        else:
            raise CnnkitError(f"unknown training option {flag}; see `cnnkit train --help`")
        i += 2 if has_value else 1
    return normalise_train_options(out)


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
    from cnnkit.cli.progress import make_progress
    from cnnkit.errors import CnnkitError
    from cnnkit.experiments.compare import compare, to_markdown
    from cnnkit.experiments.sweep import load_sweep_file, run_sweep

    args = list(ctx.args)
    if model and model.startswith("-"):  # with MODEL left out, click puts the first train option in its place
        args.insert(0, model)
        model = None
    spec = load_sweep_file(file) if file else {}
    model = model or spec.get("model")
    if not model:
        raise CnnkitError("which model? give MODEL (cnnkit models lists them) or `model = ...` in the sweep file")
    dataset = dataset or spec.get("dataset", "shapes")
    trials = trials if trials is not None else spec.get("trials", 1)
    base = dict(spec.get("train", {}))
    flags = parse_train_args(args)
    base["model_options"] = {**base.get("model_options", {}), **flags.pop("model_options", {})}
    base.update(flags)
    if not base["model_options"]:
        del base["model_options"]
    target = out or spec.get("out") or f"sweeps/{model}-{dataset.split(':')[-1].rstrip('/').split('/')[-1]}"
    progress = make_progress(quiet or json_)
    try:
        result = run_sweep(model, dataset, base, vary or [], trials, target, progress, spec.get("vary"), spec.get("variants"),
                           overwrite)
    finally:
        getattr(progress, "close", lambda: None)()
    table = compare([target])
    if json_:
        print_json({"sweep": result, "comparison": table})
    else:
        typer.echo(to_markdown(table), nl=False)
        typer.echo(f"sweep directory: {target}")


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
    from cnnkit.experiments.compare import compare, to_csv, to_markdown

    result = compare(dirs, metric, baseline)
    if json_:
        print_json(result)
    elif csv_:
        typer.echo(to_csv(result), nl=False)
    elif markdown:
        typer.echo(to_markdown(result), nl=False)
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
    from cnnkit.experiments.report import build_report

    result = build_report(directory, out, device, data_dir)
    if json_:
        print_json(result)
    else:
        typer.echo(result["report"])
