"""Datasets: the built-in procedural `shapes` data (more to come: named, folder, segfolder)."""
