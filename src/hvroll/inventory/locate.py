"""Find the line of a value in a YAML or JSON document from its path (``("vms", 3, "host")``).

Parsing for line numbers is only done when something is wrong: the happy path loads with the C
loader and never builds a node tree.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

Path = tuple[str | int, ...]


class LineIndex:
    """Lines of the nodes of one document, looked up by path."""

    def __init__(self, text: str) -> None:
        self._root: yaml.Node | None
        try:
            self._root = yaml.compose(text, Loader=_Loader)
        except yaml.YAMLError:
            self._root = None

    def line_of(self, path: Sequence[str | int], *, key: bool = False) -> int:
        """1-based line of the value at ``path`` (of its key when ``key``), or of the deepest
        ancestor that exists; 0 when the document could not be parsed."""
        node = self._root
        if node is None:
            return 0
        line = node.start_mark.line + 1
        for i, part in enumerate(path):
            child = _child(node, part)
            if child is None:
                return line
            key_node, node = child
            last = i == len(path) - 1
            at = key_node if (last and key and key_node is not None) else node
            line = at.start_mark.line + 1
        return line


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node, value_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
            and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
