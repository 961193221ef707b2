"""Order items as a tree and draw the branches, as lsns --tree does."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


_UNICODE = ("├─", "└─", "│ ", "  ")
# What lsns draws when the terminal's encoding is not UTF-8.
_ASCII = ("|-", "`-", "| ", "  ")


def tree_order(
    items: Sequence[T],
    key: Callable[[T], Hashable],
    parent: Callable[[T], Hashable | None],
    ascii_only: bool = False,
) -> list[tuple[str, T]]:
    """(branch prefix, item) in depth-first order; items whose parent is absent are roots.

    A prefix starts with spaces below the first level: formatters must keep them."""
    fork, last_fork, through, clear = _ASCII if ascii_only else _UNICODE
    known = {key(i) for i in items}
    children: dict[Hashable | None, list[T]] = {}
    for item in items:
        p = parent(item)
        if p not in known or p == key(item):
            p = None
        children.setdefault(p, []).append(item)
    out: list[tuple[str, T]] = []
    seen: set[Hashable] = set()

    def walk(node: Hashable | None, indent: str) -> None:
        kids = children.get(node, [])
        for n, item in enumerate(kids):
            k = key(item)
            if k in seen:
                continue
            seen.add(k)
            last = n == len(kids) - 1
            branch = "" if node is None else indent + (last_fork if last else fork)
            out.append((branch, item))
            walk(k, "" if node is None else indent + (clear if last else through))

    walk(None, "")
    return out
