"""The JSON Schemas the tool validates files against, shipped as package data.

Read with :mod:`importlib.resources`, never by a path computed from the
code's location, so they load the same from a checkout, a wheel or a zip.
The repository's top-level ``secrets.schema.yaml`` (for editors) is a link
to :data:`SECRETS`.
"""

from __future__ import annotations

from importlib import resources

SECRETS = "secrets.schema.yaml"
ENVIRONMENT = "environment.schema.yaml"


def schema_text(name: str) -> str:
    """The text of the packaged schema ``name`` (:data:`SECRETS` or :data:`ENVIRONMENT`)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
