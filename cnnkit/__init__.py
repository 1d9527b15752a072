"""cnnkit: a command-line toolkit for learning, teaching and experimenting with CNNs.

Importing the package is cheap on purpose (no torch): `cnnkit shape` must start fast.
The model registry is filled by importing `cnnkit.models`.
"""

__version__ = "0.1.0"
