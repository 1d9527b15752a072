"""`cnnkit.visualize` is cnnkit.api.visualize (every `cnnkit visualize` figure as a function):
`import cnnkit.visualize as viz` and `cnnkit.visualize.filters(...)` (docs/python.md) get
that one module itself, not a copy, so there is one front door (cnnkit/api/)."""

import sys

from cnnkit.api import visualize as _visualize

sys.modules[__name__] = _visualize
