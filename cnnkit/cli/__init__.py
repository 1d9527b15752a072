"""The Typer command-line layer: parse -> one library call -> render."""
