"""Experiments built on the training engine: sweeps (ablation grids x trials),
comparison tables over their runs, and one-page HTML reports.

They call the engine; the engine never calls them.
"""
