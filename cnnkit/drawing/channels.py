"""The channel panel of a grouped convolution: which input channels each output channel
combines (one line per weight-connected pair), the weight shape and its parameter count."""

from __future__ import annotations

from cnnkit.arith.frames import Drawing
from cnnkit.drawing.canvas import (
    BLUE,
    GREEN,
    INK,
    ORANGE,
    PURPLE,
    SKY,
    VERMILION,
    YELLOW,
)

CH_BOX, CH_PITCH = 26, 22  # channel boxes: width, vertical pitch
GROUP_COLOURS = [GREEN, VERMILION, PURPLE, YELLOW, SKY, ORANGE, BLUE]  # green first: orange and blue mean taps and outputs


def channel_panel_height(d: Drawing) -> int:
    if d.channels is None:
        return 0
    return 24 + max(d.channels.in_channels, d.channels.out_channels) * CH_PITCH + 12


def draw_channels(cv, x: int, y: int, d: Drawing) -> None:
    """Input channels left, output channels right, a line for every (input, output) pair a weight connects."""
    ch = d.channels
    ci = ch.in_channels // ch.groups
    cv.text(x, y, f"channels: groups={ch.groups}, each output channel combines {ci} of the {ch.in_channels} input "
                  f"channels (colours: groups)", size=13, anchor="la")
    top, right = y + 24, x + CH_BOX + 220
    for g, (ins, outs) in enumerate(ch.blocks):
        colour = GROUP_COLOURS[g % len(GROUP_COLOURS)]
        for o in outs:
            for i in ins:
                cv.line(x + CH_BOX, top + i * CH_PITCH + 9, right, top + o * CH_PITCH + 9, fill=colour, width=1)
        for i in ins:
            cv.rect(x, top + i * CH_PITCH, x + CH_BOX, top + i * CH_PITCH + 18, fill=colour, outline=INK)
            cv.text(x + CH_BOX / 2, top + i * CH_PITCH + 9, str(i), size=11, anchor="mm")
        for o in outs:
            cv.rect(right, top + o * CH_PITCH, right + CH_BOX, top + o * CH_PITCH + 18, fill=colour, outline=INK)
            cv.text(right + CH_BOX / 2, top + o * CH_PITCH + 9, str(o), size=11, anchor="mm")
    tx = right + CH_BOX + 24
    k = ch.weight_shape[2:]
    name = "Conv2d" if d.op == "conv" else "ConvTranspose2d"
    lines = [f"input channels 0..{ch.in_channels - 1} (left), output channels 0..{ch.out_channels - 1} (right)",
             f"{name} weight shape ({', '.join(map(str, ch.weight_shape))}): "
             f"{'·'.join(map(str, ch.weight_shape))} + {ch.out_channels} bias = {ch.params} parameters",
             f"each of the {ch.out_channels} output channels: a {k[0]}x{k[1]} kernel on each of its {ci} input channels,"
             " summed"]
    for n, line in enumerate(lines):
        cv.text(tx, top + 18 * n, line, size=12, anchor="la")


def channels_width(d: Drawing) -> int:
    return 0 if d.channels is None else 2 * CH_BOX + 220 + 24 + 620
