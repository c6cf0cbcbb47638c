"""Fail when any two modules of ipsec_inspect import each other, directly or through others.

Why beside ``lint-imports``: the layers contract forbids upward imports between layers,
but two modules of the same layer may still import each other. This check forbids every
cycle, counting imports inside functions and under ``if TYPE_CHECKING:`` (grimp, the
graph import-linter itself builds, includes both).

Usage: ``python .ci/import_cycles.py`` from the project root; exit 1 and one line per
cycle (its modules, and one import path round it) when there is any.
"""

from __future__ import annotations

import sys

import grimp

PACKAGE = "ipsec_inspect"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: every group of two or more modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def main() -> int:
    g = grimp.build_graph(PACKAGE, include_external_packages=False, cache_dir=None)
    graph = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    groups = strongly_connected(graph)
    for group in groups:
        first, second = group[0], group[1]
        there = g.find_shortest_chain(importer=first, imported=second) or ()
        back = g.find_shortest_chain(importer=second, imported=first) or ()
        route = " -> ".join([*there, *back[1:]])
        print(f"import cycle of {len(group)} modules: {', '.join(group)}\n    e.g. {route}")
    if groups:
        return 1
    print(f"no import cycles among the {len(graph)} modules of {PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
