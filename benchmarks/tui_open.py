"""How fast ``ipsec-inspect open`` is on a big capture: first paint, full analysis, memory.

Runs the real app headless (Textual's test driver at 160x48) on the capture and prints:
the time until the packet list first shows rows, the time until the analysis is done,
the time to jump to the last packet and to apply an SPI filter over every row, and the
peak resident memory of the process.

    python benchmarks/make_esp_capture.py /tmp/esp-1m.pcap --packets 1000000
    python benchmarks/tui_open.py /tmp/esp-1m.pcap [--keys /tmp/esp-1m.keys.toml]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time

from ipsec_inspect.pipeline.session import Analysis
from ipsec_inspect.tui.app import InspectorApp
from ipsec_inspect.tui.widgets.packet_list import PacketList


async def measure(path: str, keys: list[str], timeout: float) -> dict[str, float]:
    start = time.perf_counter()
    app = InspectorApp(Analysis(path, key_paths=keys))
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        packets = app.query_one(PacketList)
        while time.perf_counter() - start < timeout:
            await pilot.pause(0.01)
            if "first_paint" not in out and packets.count > 0:
                out["first_paint"] = time.perf_counter() - start
                out["rows_at_first_paint"] = packets.count
            if app.progress is not None and app.progress.done:
                out["full_analysis"] = time.perf_counter() - start
                break
        out["rows"] = packets.count
        settle = time.perf_counter() + 60
        while any(w.is_running for w in app.workers) and time.perf_counter() < settle:
            await pilot.pause(0.01)  # the sparkline and views settle
        packets.focus()
        t = time.perf_counter()
        await pilot.press("G")
        await pilot.pause()
        out["jump_to_last"] = time.perf_counter() - t
        spi = next((k[2] for k in app.analysis.flow_keys if k[0] == "esp"), None)
        if isinstance(spi, int):
            t = time.perf_counter()
            app.query_one("#filter-input").value = f"spi:{spi:08x}"
            await pilot.press("slash", "enter")
            deadline = time.perf_counter() + 120
            while time.perf_counter() < deadline and (
                packets.view is None or any(w.is_running for w in app.workers if w.group == "view")
            ):
                await pilot.pause(0.01)
            out["spi_filter"] = time.perf_counter() - t
            out["rows_after_filter"] = packets.count
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("capture")
    p.add_argument("--keys", action="append", default=[])
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args(argv)
    r = asyncio.run(measure(args.capture, args.keys, args.timeout))
    print(f"capture: {args.capture}{' (with keys)' if args.keys else ''}")
    if "first_paint" in r:
        print(
            f"first paint:        {r['first_paint']:7.2f} s  ({int(r['rows_at_first_paint']):,} rows)"
        )
    if "full_analysis" in r:
        print(f"full analysis:      {r['full_analysis']:7.2f} s  ({int(r['rows']):,} rows)")
    else:
        print(f"full analysis:      not done within {args.timeout:.0f} s")
    print(f"jump to last row:   {r['jump_to_last'] * 1000:7.1f} ms")
    if "spi_filter" in r:
        print(
            f"SPI filter:         {r['spi_filter']:7.2f} s  ({int(r['rows_after_filter']):,} rows)"
        )
    print(f"peak memory (RSS):  {r['peak_rss_mb']:7.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
