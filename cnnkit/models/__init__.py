"""Model builders. Importing this package registers every built-in model."""

from cnnkit.models import classification, segmentation  # noqa: F401
