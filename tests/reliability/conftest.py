"""Reliability tests run the commands in-process; keep their logging changes local.

``infra.cli.configure_logging`` sets the root logger's level, adds a stderr
handler and sets the ``azure`` logger's level, process-wide, on every run.
Left behind, that changes what later tests in the same worker see (a test
expecting azure-core's DEBUG records would see none). Each test here gets
the logging state it started with back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level = root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(root_level)
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))
