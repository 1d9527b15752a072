"""Conv arithmetic from Python: `cnnkit shape | solve | layers | conv` as functions.

Pure Python like cnnkit.arith (no torch). Sizes take the command-line notation or
numbers: ``shape(512, k=9, p=1)``, ``shape("28x32", k=3, p="same")``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Optional, Union

from cnnkit.arith import geometry
from cnnkit.errors import SpecError

Size = Union[int, str]


def shape(size: Size, k: Size, s: Optional[Size] = None, p: Size = 0, d: Size = 1, op: str = "conv",
          ceil: bool = False, output_padding: Size = 0) -> dict:
    """Output size per axis of a conv / maxpool / avgpool / transpose layer (`cnnkit shape`).

    Returns {'output': [int per axis], 'op', 'axes': [{in, k, s, p_before, p_after, d, ceil_mode,
    output_padding, out, explanation: [lines]}]}."""
    from cnnkit.arith.shape import layer_output

    axes = layer_output(op, size, k, s, p, d, ceil, output_padding)
    return {
        "output": [g.out for g in axes],
        "op": op,
        "axes": [{"in": g.n, "k": g.k, "s": g.s, "p_before": g.p_before, "p_after": g.p_after, "d": g.d,
                  "ceil_mode": g.ceil_mode, "output_padding": g.output_padding, "out": g.out,
                  "explanation": geometry.explain(g)} for g in axes],
    }


def solve(out: int, size: Optional[int] = None, k: Optional[int] = None, s: Optional[int] = None,
          p: Optional[int] = None, d: Optional[int] = None, op: str = "conv", ceil: bool = False,
          output_padding: int = 0, max_k: int = 16, max_s: int = 16, max_p: int = 16, max_d: int = 8) -> dict:
    """Every integer k, s, p, d (or input size, when `size` is None) giving `out` (`cnnkit solve`).

    Returns {'solutions': [{in, k, s, p, d}], 'unknowns', 'notes', 'bounds'}."""
    from cnnkit.arith.solve import Bounds, solve_input, solve_params

    bounds = Bounds(max_k, max_s, max_p, max_d)
    if size is None:
        if k is None:
            raise SpecError("to solve for the input size, give the kernel (--k) and any of --s/--p/--d")
        sols = solve_input(op, out, k, s, p or 0, d or 1, output_padding, ceil, bounds)
        unknowns = ["in"]
    else:
        sols = solve_params(op, size, out, k, s, p, d, output_padding, ceil, bounds)
        unknowns = [n for n, v in zip("kspd", (k, s, p, d)) if v is None]
    notes = []
    if size is None and len(sols) > 1:
        notes.append(f"{len(sols)} input sizes give {out}: stride {sols[0].s} floors away the difference, "
                     "so the input cannot be recovered from the output alone")
    return {"solutions": [x.as_dict() for x in sols], "unknowns": unknowns, "notes": notes, "bounds": dict(bounds.__dict__)}


def layers(spec: str, batch: Optional[int] = None, optimizer: str = "sgd") -> dict:
    """A network from a one-line spec: per-layer output shape, params, MACs, receptive field (`cnnkit layers`).

    With `batch`, also 'training_memory_bytes' for that batch size and optimizer."""
    from cnnkit.arith.spec import OPTIMIZER_STATE, analyse, training_memory
    from cnnkit.errors import SpecError

    if optimizer not in OPTIMIZER_STATE:  # checked even without --batch: a typo is never silently ignored
        raise SpecError(f"unknown optimizer {optimizer!r} for the memory estimate; choose one of {', '.join(OPTIMIZER_STATE)}")
    report = analyse(spec)
    data = report.as_dict()
    if batch is not None:
        data["training_memory_bytes"] = training_memory(report, batch, optimizer)
    return data


def conv(image: Optional[str] = None, kernel: Optional[str] = None, p: int = 0, s: Optional[int] = None, d: int = 1,
         mode: Optional[str] = None, op: str = "conv", size: Optional[int] = None, ceil: bool = False, steps: bool = False,
         image_file: Optional[Union[str, Path]] = None) -> dict:
    """Convolution or pooling of a small matrix by hand (`cnnkit conv`).

    `kernel` (default sobel-x) and `mode` (default correlate) belong to op='conv', `size`
    (default 2) and `ceil` to pooling; one given to the other op is an error, not ignored.
    Returns {'output': rows, 'kernel_applied': rows | None, 'padded': the input with its zero
    padding (rows), 'steps': [text] | None}. Numbers are ints, or floats for averages."""
    from cnnkit.arith import manual

    result = worked(image, kernel, p, s, d, mode, op, size, ceil, image_file)
    return {
        "output": [[_number(v) for v in row] for row in result.output],
        "kernel_applied": None if result.kernel is None else [[_number(v) for v in row] for row in result.kernel],
        "padded": [[_number(v) for v in row] for row in result.padded],
        "steps": [manual.step_text(x, op) for x in result.steps] if steps else None,
    }


# A hand-worked matrix is small; a bigger file is the wrong file (or /dev/zero).
MATRIX_FILE_LIMIT = 1 << 20


def worked(image=None, kernel=None, p=0, s=None, d=1, mode=None, op="conv", size=None, ceil=False,
           image_file=None):
    """conv()'s computation as arith.manual's result object (exact Fractions, steps, the
    padded input): what the command's tables show. conv() is this, as JSON."""
    from cnnkit.arith import manual
    from cnnkit.textfile import read_user_text

    if op not in ("conv", "maxpool", "avgpool"):
        raise SpecError(f"--op must be conv, maxpool or avgpool, got {op!r}")
    # An option of the other op is refused rather than ignored: the output would not be what was asked.
    if op == "conv":
        wrong = [f for f, v in (("--size", size), ("--ceil", ceil or None)) if v is not None]
        if wrong:
            raise SpecError(f"{' and '.join(wrong)} {_belong(wrong)} to pooling (--op maxpool or avgpool), not to "
                            f"--op conv; drop {_it(wrong)}, or give --op maxpool/avgpool")
    else:
        wrong = [f for f, v in (("--kernel", kernel), ("--mode", mode)) if v is not None]
        if wrong:
            raise SpecError(f"{' and '.join(wrong)} {_belong(wrong)} to --op conv; {op} has no kernel weights "
                            f"(its window is --size), so drop {_it(wrong)}")
        if d != 1:  # pooling by hand has no dilation: refuse rather than ignore it
            raise SpecError("--d (dilation) applies to --op conv only; pool without it")
    if (image is None) == (image_file is None):
        raise SpecError("give the matrix with --image '1 0 2; 3 2 0' or --image-file PATH (one of them)")
    if image_file is not None:
        image = read_user_text(image_file, "matrix file", MATRIX_FILE_LIMIT)
    matrix = manual.parse_matrix(image, "image" if image_file is None else f"matrix file {image_file}")
    if op == "conv":
        return manual.convolve(matrix, manual.kernel_from(kernel or "sobel-x"), 1 if s is None else s, p, d,
                               mode or "correlate")
    return manual.pool(matrix, 2 if size is None else size, s, p, op, ceil)


def _belong(flags: list) -> str:
    return "belongs" if len(flags) == 1 else "belong"


def _it(flags: list) -> str:
    return "it" if len(flags) == 1 else "them"


def _number(v):
    return float(v) if isinstance(v, Fraction) else v
