"""Order items as a tree and draw the branches, as lsns --tree does."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def tree_order(
    items: Sequence[T], key: Callable[[T], Hashable], parent: Callable[[T], Hashable | None]
) -> list[tuple[str, T]]:
    """(branch prefix, item) in depth-first order; items whose parent is absent are roots."""
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
            branch = "" if node is None else indent + ("└─" if last else "├─")
            out.append((branch, item))
            walk(k, "" if node is None else indent + ("  " if last else "│ "))

    walk(None, "")
    return out
