"""One self-contained HTML page: inline CSS, images as data: URIs, no scripts and no
links out, so a report opens in any browser with no network and can be mailed
or uploaded as one file. Every piece of text is escaped here."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; border-bottom: 1px solid #d0d7de;
       padding-bottom: 4px; margin-top: 36px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.subtitle { color: #59636e; margin: 0 0 16px; }
nav { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 14px; }
nav a { margin-right: 14px; color: #0969da; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.highlight td { background: #fff8c5; }
figure { margin: 12px 0 20px; } figure img { max-width: 100%; border: 1px solid #eaeef2; }
figcaption { color: #59636e; font-size: 13px; }
.note { background: #f6f8fa; border-left: 4px solid #8c959f; padding: 6px 12px; color: #424a53; }
code, pre { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f6f8fa; }
pre { padding: 8px 12px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
"""


@dataclass
class Section:
    id: str  # the anchor, also what tests and --json name
    title: str
    blocks: list[str] = field(default_factory=list)  # rendered HTML fragments, in order


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def fmt(value) -> str:
    """Numbers as a reader wants them: 4 decimals (a column of metrics lines up), 3 significant
    digits below 0.001, 1 decimal for large values."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, float):
        if value and abs(value) < 1e-3:
            return f"{value:.3g}"  # a weight decay of 5e-05 is not 0.0000
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(fmt, value))
    return str(value)


def table(headers: list[str], rows: list[list], highlight: int | None = None) -> str:
    """A table; numeric cells are right-aligned, row `highlight` is marked."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{esc(fmt(v))}</td>' if isinstance(v, (int, float)) and not isinstance(v, bool) else f"<td>{esc(fmt(v))}</td>"
            for v in row)
        body.append(f'<tr{" class=highlight" if i == highlight else ""}>{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(items: dict) -> str:
    """Settings: a whole float (epochs 2.0, fractional epochs allowed) shows as 2, not 2.0000."""
    return table(["setting", "value"], [[k, int(v) if isinstance(v, float) and v.is_integer() else v]
                                        for k, v in items.items()])


def figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


def code(text: str) -> str:
    return f"<pre><code>{esc(text)}</code></pre>"


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{"".join(s.blocks)}</section>' for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="cnnkit report">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f'<body><h1>{esc(title)}</h1><p class="subtitle">{esc(subtitle)}</p><nav>{nav}</nav>{body}</body></html>\n')
