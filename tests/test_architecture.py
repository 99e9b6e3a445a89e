"""No import cycle between any two modules of ``src/hvroll``.

``lint-imports`` checks the layers and, with its ``acyclic_siblings`` contract, cycles between
the children of each package. A cycle that runs through a package's ``__init__`` (a package
importing a module that imports the package back) is not between siblings, so this test
checks the module graph itself, with the same analysis (grimp, import-linter's own).
"""

from __future__ import annotations

import grimp


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: every strongly connected component of more than one
    module, or of one module that imports itself, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return found


def test_strongly_connected_finds_cycles_and_only_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["e"]]


def test_no_module_of_hvroll_is_part_of_an_import_cycle() -> None:
    imports = grimp.build_graph("hvroll")
    graph = {m: set(imports.find_modules_directly_imported_by(m)) for m in imports.modules}
    assert strongly_connected(graph) == []
