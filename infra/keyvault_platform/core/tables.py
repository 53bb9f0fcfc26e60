"""Decision tables as text: how a planner's rule table reads in its docstring.

The planners keep their rules as data (``sync.planner``'s name and value
rules, ``provision.vault``'s and ``provision.planner``'s); each renders its
table with :func:`rst_table` into its module docstring, and a test keeps the
two equal, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence


def rst_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int = 99) -> str:
    """A reStructuredText simple table; the last column wraps within ``width``."""
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers) - 1)]
    last = max(20, width - sum(w + 2 for w in widths))
    widths.append(min(last, max(len(r[-1]) for r in (headers, *rows))))
    rule = "  ".join("=" * w for w in widths)
    lead = " " * (sum(w + 2 for w in widths[:-1]))

    def line(cells: Sequence[str]) -> list[str]:
        wrapped = textwrap.wrap(cells[-1], widths[-1]) or [""]
        first = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False))
        return [f"{first}  {wrapped[0]}".rstrip()] + [f"{lead}{more}" for more in wrapped[1:]]

    body = [rule, *line(headers), rule]
    for row in rows:
        body.extend(line(row))
    body.append(rule)
    return "\n".join(body)
