"""Pillow drawings of the arithmetic (`cnnkit draw`): grids, windows and receptive fields,
every number from cnnkit.arith. No torch, no matplotlib (the figures of trained models are viz/)."""
