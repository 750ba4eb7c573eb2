"""Ordering entities so that parents come before the children matched on their columns."""

from __future__ import annotations


def entity_order(names: list[str], parents: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """Topological order of ``names`` (parents first, ties in file order), or ``([], cycle)`` when the match
    graph has a cycle, ``cycle`` naming its entities in order with the first repeated at the end."""
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(names):
        ready = [n for n in names if n not in done and parents.get(n, set()) <= done]
        if not ready:
            return [], _find_cycle([n for n in names if n not in done], parents)
        order.append(ready[0])
        done.add(ready[0])
    return order, []


def _find_cycle(remaining: list[str], parents: dict[str, set[str]]) -> list[str]:
    # Every remaining node has a remaining parent, so walking parents must revisit a node.
    path: list[str] = []
    node = remaining[0]
    while node not in path:
        path.append(node)
        node = sorted(p for p in parents[node] if p in remaining)[0]
    cycle = path[path.index(node) :]
    return [*cycle, cycle[0]]
