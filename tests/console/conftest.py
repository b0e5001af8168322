"""The delivery tests' catalogue and locked unit, for the console's delivery forms."""

from tests.delivery.conftest import catalogue, commerce, locked  # noqa: F401
