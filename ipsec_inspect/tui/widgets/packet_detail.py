"""The packet-detail tree: every dissected field of the selected record.

Why the tree owns no bytes: each node carries a :class:`ipsec_inspect.tui.detail.Node`
that names its buffer and byte range; highlighting a node tells the hex view what to
show. The decrypted inner packet is dissected with scapy only when its node is opened.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ipsec_inspect.core.records import EspPacket, Record
from ipsec_inspect.tui.detail import FRAME, Node, buffers, detail_nodes, inner_nodes
from ipsec_inspect.tui.widgets.hex_view import HexView


class DetailTree(Tree[Node]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="detail.down"),
        Binding("k", "cursor_up", "Up", show=False, id="detail.up"),
    ]


class PacketDetail(Horizontal):
    """Field tree on the left, hex dump of the node's buffer on the right."""

    def __init__(self, *, id: str | None = None, include_keys: bool = False) -> None:
        super().__init__(id=id)
        #: show secret bytes (an XAUTH password) in the hex dump: only with --include-keys
        self.include_keys = include_keys
        self.record: Record | None = None
        self.buffers: dict[str, bytes] = {}

    def compose(self) -> ComposeResult:
        tree = DetailTree("fields", Node("fields"), id="detail-tree")
        tree.show_root = False
        yield tree
        yield HexView(id="hex-view")

    def show(
        self, record: Record | None, problem: str = "", origin: tuple[str, int] | None = None
    ) -> None:
        """``origin``: the input file and frame number there, shown when several
        captures were merged (or the stream was cut by time)."""
        self.record = record
        tree = self.query_one(DetailTree)
        tree.clear()
        hexv = self.query_one(HexView)
        if record is None:
            tree.root.add_leaf(Text(problem or "no packet selected", "italic"), Node(problem))
            hexv.show("bytes", b"")
            return
        self.buffers = buffers(record, self.include_keys)
        for node in detail_nodes(record, origin):
            self._add(tree.root, node, expand=True)
        hexv.show(FRAME, self.buffers.get(FRAME, b""))

    def _add(self, parent: TreeNode[Node], node: Node, expand: bool = False) -> None:
        label = Text(node.label, "red" if node.error else "")
        if node.children or node.inner:
            branch = parent.add(label, node, expand=expand and not node.inner)
            for c in node.children:
                self._add(branch, c)
        else:
            parent.add_leaf(label, node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Node]) -> None:
        event.stop()
        node = event.node.data
        if node is None:
            return
        data = self.buffers.get(node.buffer, b"")
        self.query_one(HexView).show(node.buffer, data, node.offset, node.length)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Node]) -> None:
        event.stop()
        node = event.node.data
        if node is None or not node.inner or event.node.children:
            return
        r = self.record
        if isinstance(r, EspPacket) and r.decryption is not None:
            for child in inner_nodes(r.decryption.plaintext, r.decryption.next_header):
                self._add(event.node, child, expand=True)
