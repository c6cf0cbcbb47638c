"""The SA tree: IKE SAs with their child SAs beneath, coloured by stage and health.

Why incremental updates: during analysis the tree is refreshed twice a second; rebuilding
it would lose the user's cursor and expanded state, so existing nodes are relabelled and
only new SAs are added.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Reason, Stage
from ipsec_inspect.tui.catalog import Health, SaCatalog
from ipsec_inspect.tui.widgets.messages import SaChosen

STAGE_STYLE = {
    Stage.HOST_RECOGNITION: "cyan",
    Stage.NEGOTIATION: "blue",
    Stage.CIRCUIT: "magenta",
    Stage.TRANSMISSION: "green",
    Stage.TERMINATION: "bright_black",
}
STAGE_SHORT = {
    Stage.HOST_RECOGNITION: "hosts",
    Stage.NEGOTIATION: "negot",
    Stage.CIRCUIT: "circuit",
    Stage.TRANSMISSION: "transmit",
    Stage.TERMINATION: "ended",
}
HEALTH_MARK = {
    Health.OK: ("●", "green"),
    Health.WARNING: ("▲", "yellow"),
    Health.ERROR: ("✖", "red"),
}


def sa_label(catalog: SaCatalog, uid: str) -> Text:
    """Health mark, name, and the stage it reached (with why it ended)."""
    mark, colour = HEALTH_MARK[catalog.health(uid)]
    text = Text()
    text.append(mark + " ", colour)
    sa = catalog.sa(uid)
    text.append(catalog.label(uid), "bold" if isinstance(sa, IkeSa) else "")
    stage = catalog.current_stage(uid)
    if stage is not None:
        text.append(f" {STAGE_SHORT[stage]}", STAGE_STYLE[stage])
    if isinstance(sa, IkeSa | ChildSa) and sa.termination is not None:
        reason = sa.termination.reason
        if reason is Reason.REKEYED and sa.rekeyed_to:
            text.append(f" ⟶ {sa.rekeyed_to}", "italic")
        elif reason is not Reason.STILL_ACTIVE:
            text.append(f" ({reason.value})", "red" if reason is Reason.FAILED else "dim")
    return text


class SaTree(Tree[str]):
    """Posts :class:`SaChosen` when the cursor lands on an SA."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("g", "scroll_home", "First", show=False, id="tree.first"),
        Binding("G", "scroll_end", "Last", show=False, id="tree.last"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("SAs", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._sa_nodes: dict[str, TreeNode[str]] = {}

    def update_catalog(self, catalog: SaCatalog) -> None:
        for uid, depth in catalog.walk():
            label = sa_label(catalog, uid)
            node = self._sa_nodes.get(uid)
            if node is not None:
                node.set_label(label)
                continue
            parent = self.root
            if depth:
                sa = catalog.sa(uid)
                parent_uid = sa.ike_sa if isinstance(sa, ChildSa) else None
                parent = self._sa_nodes.get(parent_uid or "", self.root)
            if depth == 0:
                node = parent.add(label, data=uid, expand=True)
            else:
                node = parent.add_leaf(label, data=uid)
            self._sa_nodes[uid] = node

    def select_uid(self, uid: str) -> None:
        node = self._sa_nodes.get(uid)
        if node is not None:
            if node.parent is not None:
                node.parent.expand()
            self.move_cursor(node)

    @property
    def selected_uid(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(SaChosen(event.node.data))

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(SaChosen(event.node.data))
