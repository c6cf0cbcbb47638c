"""The SA tree opens a very large tracker result in bounded memory, and filters it.

A generated result (half-open IKE SAs, as in an IKE_SA_INIT flood, and established ones
with a child SA each) stands in for a capture of that many SAs: building one through the
tracker would measure the tracker, not the tree. Set ``IPSEC_INSPECT_MANY_SAS=1000000``
to run it with a million SAs (about 1 GB and a minute); the default keeps CI quick.
"""

from __future__ import annotations

import os
import tracemalloc

from textual.app import App, ComposeResult

from ipsec_inspect.lifecycle.model import ChildSa, Endpoint, IkeSa, Stage, new_stages
from ipsec_inspect.lifecycle.tracker import CaptureStats, TrackerConfig, TrackerResult
from ipsec_inspect.tui.catalog import SaCatalog
from ipsec_inspect.tui.filterlang import parse_filter
from ipsec_inspect.tui.widgets.sa_tree import SaTree

MANY = int(os.environ.get("IPSEC_INSPECT_MANY_SAS", "200000"))
#: What the tree may add per SA on top of the catalog: one list slot per shown row,
#: with room for the list's over-allocation and the LRU of the labels on screen.
TREE_BYTES_PER_SA = 24


def generated_result(sas: int) -> TrackerResult:
    """``sas`` SAs: two thirds IKE SAs (every other one half-open), a child under the rest.

    The SAs share their (empty) containers so that the test's own memory stays small."""
    half_open, established = new_stages(), new_stages()
    for stages, last in ((half_open, Stage.NEGOTIATION), (established, Stage.TRANSMISSION)):
        for n, stage in enumerate(
            s for s in Stage if list(Stage).index(s) <= list(Stage).index(last)
        ):
            stages[stage].touch(float(n), n + 1)
    ends = (Endpoint("198.51.100.7", 500), Endpoint("203.0.113.2", 500))
    shared: dict = {}
    none: list = []
    ike: dict[str, IkeSa] = {}
    child: dict[str, ChildSa] = {}
    i = 0
    while len(ike) + len(child) < sas:
        uid = f"ike-{i:016x}"
        done = i % 2 == 1
        ike[uid] = IkeSa(
            uid, 2, i.to_bytes(8, "big"), initiator=ends[0], responder=ends[1],
            proposals_offered=none, chosen=shared, chosen_ids=shared, offered_ids=none,
            stages=established if done else half_open, child_sas=none, nat_frames=none,
            vendor_ids=none, identities=shared, certainty=shared, unresolved_deletes=none,
            aggressive_psk_frames=none,
        )  # fmt: skip
        if done and len(ike) + len(child) < sas:
            cuid = f"child-{i}"
            child[cuid] = ChildSa(
                cuid, ike_sa=uid, chosen=shared, chosen_ids=shared, proposals_offered=none,
                traffic_selectors=shared, directions=none, stages=established, certainty=shared,
            )  # fmt: skip
        i += 1
    stats = CaptureStats(frames=sas)
    return TrackerResult(ike, child, [], stats, TrackerConfig())


async def settled(pilot) -> None:
    """Filtering a big tree runs in a thread: wait for it, then for the repaint."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


class _TreeOnly(App[None]):
    def compose(self) -> ComposeResult:
        yield SaTree(id="sa-tree")


async def test_a_very_large_result_opens_and_filters_in_bounded_memory() -> None:
    result = generated_result(MANY)
    total = len(result.ike_sas) + len(result.child_sas)
    assert total == MANY
    catalog = SaCatalog(result, [])
    assert len(catalog.order) == total
    assert not catalog.flows_of  # SAs without packets cost no entry

    app = _TreeOnly()
    async with app.run_test(size=(80, 30)) as pilot:
        tree = app.query_one(SaTree)
        tracemalloc.start()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        tree.update_catalog(catalog)
        await pilot.pause()
        assert tree.count == total
        assert tree.rows is catalog.order  # no copy when nothing is filtered or folded
        first = [tree.render_line(y).text.rstrip() for y in range(3)]
        assert first[0].startswith("  ● IKEv2 00000000 negot")
        assert first[1].startswith("▼ ● IKEv2 00000000 transmit")
        assert first[2].startswith("└ ● child-1 ESP ?")

        tree.action_last()
        await pilot.pause()
        assert tree.selected_uid == catalog.order[-1]
        last = tree.render_line(tree.scrollable_content_region.height - 1).text
        assert catalog.order[-1] in last or "IKEv2" in last

        tree.set_filter(parse_filter("stage:negotiation"))  # the half-open ones
        await settled(pilot)
        half_open = sum(1 for s in result.ike_sas.values() if not s.stages[Stage.CIRCUIT].seen)
        assert tree.count == half_open
        assert all(catalog.current_stage(u) is Stage.NEGOTIATION for u in tree.rows[:1000])

        tree.set_filter(parse_filter("proto:esp"))  # children, shown under their IKE SA
        await settled(pilot)
        assert tree.count == 2 * len(result.child_sas)
        assert tree.render_line(1).text.startswith("└ ● child-1 ")

        tree.set_filter(None)
        tree.action_first()
        await pilot.pause()
        tree.action_cursor(1)
        tree.action_fold()  # fold the first established IKE SA
        await settled(pilot)
        assert tree.count == total - 1

        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_sa = (peak - before) / total
        assert per_sa < TREE_BYTES_PER_SA, f"{per_sa:.1f} bytes per SA"
