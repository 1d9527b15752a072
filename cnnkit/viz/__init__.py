"""Visualisation: compute functions return tensors, plot functions draw them (Agg)."""
