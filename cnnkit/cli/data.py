"""`cnnkit data list` and `cnnkit data check`."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnkit.cli.options import (
    DataDirOpt,
    IgnoreIndexOpt,
    ImageSizeOpt,
    JsonOpt,
    NoDownloadOpt,
    print_json,
)
from cnnkit.errors import CnnkitError

app = typer.Typer(name="data", help="Datasets: what is available and what is wrong with yours.", no_args_is_help=True)


@app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """List the dataset names --dataset accepts.

    Example: cnnkit data list
    """
    from cnnkit.api.data import datasets

    result = datasets()
    if json_:
        print_json(result)
        return
    rows = result["datasets"]
    from rich.table import Table

    from cnnkit.cli.console import stdout_console

    table = Table()
    for col in ("name", "task", "description"):
        table.add_column(col, no_wrap=col != "description")
    for r in rows:
        table.add_row(r["name"], r["task"], r["description"])
    stdout_console().print(table)


@app.command()
def check(
    spec: Annotated[str, typer.Argument(help="Dataset: a name, folder:PATH or segfolder:PATH.")],
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    ignore_index: IgnoreIndexOpt = None,
    no_download: NoDownloadOpt = False,
    test_split: Annotated[float, typer.Option("--test-split", help="Test fraction for data without a test split.")] = 0.2,
    json_: JsonOpt = False,
) -> None:
    """Counts per class and split, image sizes, mask values, unpaired or unreadable files, with fixes.

    Exits 2 when a problem would stop training (listed first).

    Example: cnnkit data check segfolder:../shared/data/membrane
    """
    from cnnkit.api.data import check_data

    report = check_data(spec, data_dir, image_size, ignore_index, download=not no_download, test_split=test_split)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    if json_:
        print_json(report)
    else:
        _render(report)
    if errors:
        raise CnnkitError(f"{len(errors)} problem(s) in {spec} would stop training; fix them as listed ({errors[0]['problem']})")


def _render(report: dict) -> None:
    from rich.table import Table

    from cnnkit.cli.console import stdout_console

    console = stdout_console(soft_wrap=True)  # long paths and fixes stay on one line (greppable)
    console.print(f"[bold]{report['dataset']}[/]  task: {report['task']}" + (f"  layout: {report['layout']}" if "layout" in report else ""))
    classes = report.get("classes")
    table = Table(title="samples per split")
    table.add_column("split")
    table.add_column("count", justify="right")
    per_class = any("per_class" in s for s in report["splits"].values())
    if per_class and classes:
        for c in classes[:20]:
            table.add_column(c, justify="right")
    for name, s in report["splits"].items():
        row = [name, str(s["count"])]
        if per_class and classes:
            row += [str(s.get("per_class", {}).get(c, "")) for c in classes[:20]]
        table.add_row(*row)
    console.print(table)
    for key, label in (("input_shape", "input shape"), ("image_sizes", "image sizes (HxW: count)"), ("image_modes", "image modes"),
                       ("mask_values", "mask values (value: pixels)"), ("normalization", "normalisation")):
        if report.get(key):
            console.print(f"{label}: {report[key]}", highlight=False)
    for note in report.get("notes", []):
        console.print(f"note: {note}", highlight=False)
    if not report["problems"]:
        console.print("[green]no problems found[/]")
    for p in sorted(report["problems"], key=lambda p: ("error", "warning", "info").index(p["severity"])):
        colour = {"error": "red", "warning": "yellow", "info": "cyan"}[p["severity"]]
        console.print(f"[{colour}]{p['severity']}[/]: {p['problem']}\n    fix: {p['fix']}", highlight=False)
