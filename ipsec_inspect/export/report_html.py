"""The report as one self-contained HTML file: Jinja2 page, Plotly charts, JS embedded.

Why Plotly: its pip package carries ``plotly.min.js`` itself, so the page embeds the
library from the installed package and needs no network to be viewed (Vega-Lite through
altair would need a second package, vl-convert, to bundle its JavaScript). Horizontal
bars with a base give the five-stage timeline; line traces between two SA rows draw the
rekey chains; the traffic chart has one line per direction and markers for replays,
ICV failures and IV reuse. Jinja2 autoescapes every value taken from the capture.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ipsec_inspect import __version__
from ipsec_inspect.export.report import STAGE_WORDS, TRAFFIC_SERIES, CaptureReport, SaRow
from ipsec_inspect.lifecycle.model import Stage

STAGE_COLOURS = {
    Stage.HOST_RECOGNITION: "#17becf",
    Stage.NEGOTIATION: "#1f77b4",
    Stage.CIRCUIT: "#9467bd",
    Stage.TRANSMISSION: "#2ca02c",
    Stage.TERMINATION: "#7f7f7f",
}


#: SAs drawn on the timeline chart (every SA is in the table): a chart 34 px a row
#: taller than a few thousand pixels is no longer read, only scrolled.
TIMELINE_MAX_SAS = 200


class ReportUnavailable(RuntimeError):
    """The optional ``report`` extra (plotly, jinja2) is not installed."""


def _libraries() -> tuple[Any, Any]:
    try:
        import jinja2
        import plotly.graph_objects as go
    except ImportError as e:  # the extra is optional: say how to get it
        raise ReportUnavailable(
            f"the HTML report needs the 'report' extra ({e.name} is missing): "
            "pip install 'ipsec-inspect[report]'"
        ) from None
    return jinja2, go


def _sa_name(sa: SaRow) -> str:
    return f"{sa.id} ({sa.kind})"


def timeline_figure(report: CaptureReport) -> dict[str, Any]:
    """Every SA's five stages as bars on the capture's axis, rekeys as links."""
    _jinja2, go = _libraries()
    fig = go.Figure()
    shown = report.sas[:TIMELINE_MAX_SAS]
    names = [_sa_name(sa) for sa in shown]
    least = max(report.duration / 400, 1e-4)  # a one-packet stage stays visible
    for stage in Stage:
        bars = [
            (name, b)
            for sa, name in zip(report.sas, names, strict=True)
            for b in sa.bars
            if b.stage is stage
        ]
        if not bars:
            continue
        fig.add_trace(
            go.Bar(
                orientation="h",
                name=STAGE_WORDS[stage],
                y=[n for n, _b in bars],
                base=[b.start for _n, b in bars],
                x=[max(b.end - b.start, least) for _n, b in bars],
                marker_color=STAGE_COLOURS[stage],
                customdata=[[b.start_frame, b.end_frame, b.end] for _n, b in bars],
                hovertemplate=(
                    f"%{{y}}<br>{STAGE_WORDS[stage]}: %{{base:.3f}}s - %{{customdata[2]:.3f}}s"
                    "<br>frames %{customdata[0]}-%{customdata[1]}<extra></extra>"
                ),
            )
        )
    by_id = {sa.id: (sa, name) for sa, name in zip(shown, names, strict=True)}
    first_link = True
    for sa, name in zip(shown, names, strict=True):
        nxt = by_id.get(sa.rekeyed_to or "")
        if nxt is None:
            continue
        old_end = max((b.end for b in sa.bars), default=0.0)
        new_start = min((b.start for b in nxt[0].bars), default=old_end)
        fig.add_trace(
            go.Scatter(
                x=[old_end, new_start],
                y=[name, nxt[1]],
                mode="lines+markers",
                line={"color": "#d62728", "dash": "dot", "width": 2},
                marker={"symbol": "arrow", "angleref": "previous", "size": 12},
                name="rekeyed to",
                legendgroup="rekey",
                showlegend=first_link,
                hovertemplate=f"{sa.id} rekeyed to {nxt[0].id}<extra></extra>",
            )
        )
        first_link = False
    fig.update_layout(
        barmode="overlay",
        height=max(260, 34 * len(names) + 140),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        xaxis_title="seconds from the first packet",
        yaxis={
            "autorange": "reversed",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": names,
        },
        # anchored in pixels above the plot: a paper fraction would grow with the height
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
    )
    return fig.to_plotly_json()


def traffic_figure(report: CaptureReport) -> dict[str, Any]:
    """Packets per bucket for each direction, with loss, replay and ICV marks."""
    _jinja2, go = _libraries()
    fig = go.Figure()
    step = report.bucket_seconds
    rest = [t for t in report.traffic if not t.counts]
    if report.other_traffic:
        summed = report.other_traffic
        fig.add_trace(
            go.Scatter(
                x=[(i + 0.5) * step for i in range(len(summed))],
                y=list(summed),
                mode="lines",
                line={"shape": "hv", "color": "#999", "dash": "dot"},
                name=f"{len(rest)} other directions",
            )
        )
    for t in report.traffic:
        if not t.counts:
            continue
        extra = []
        if t.lost:
            extra.append(f"{t.lost} lost")
        if t.replayed:
            extra.append(f"{t.replayed} replayed")
        if t.icv_failures:
            extra.append(f"{t.icv_failures} ICV failures")
        label = t.label + (f" ({', '.join(extra)})" if extra else "")
        fig.add_trace(
            go.Scatter(
                x=[(i + 0.5) * step for i in range(len(t.counts))],
                y=list(t.counts),
                mode="lines",
                line_shape="hv",
                name=label,
                hovertemplate="%{x:.2f}s: %{y} packets<extra>" + t.label + "</extra>",
            )
        )
        if t.marks:
            fig.add_trace(
                go.Scatter(
                    x=[m[0] for m in t.marks],
                    y=[0] * len(t.marks),
                    mode="markers",
                    marker={"symbol": "x", "size": 11, "color": "#d62728"},
                    name=f"{t.label}: replay / ICV / IV marks",
                    text=[f"frame {m[1]}: {m[2]}" for m in t.marks],
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        xaxis_title="seconds from the first packet",
        yaxis_title=f"packets per {step:.3g} s",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig.to_plotly_json()


def render_html(reports: list[CaptureReport], title: str) -> str:
    """The whole page: one copy of plotly.js, then a section per capture."""
    jinja2, _go = _libraries()
    from plotly.offline import get_plotlyjs
    from plotly.utils import PlotlyJSONEncoder

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    figures = [
        {
            "timeline": json.dumps(timeline_figure(r), cls=PlotlyJSONEncoder),
            "traffic": json.dumps(traffic_figure(r), cls=PlotlyJSONEncoder),
        }
        for r in reports
    ]
    # A "</script>" inside the library or the data would end the script element early.
    plotly_js = get_plotlyjs().replace("</script", "<\\/script")
    for f in figures:
        for k in f:
            f[k] = f[k].replace("</", "<\\/")
    page = env.get_template("report.html.j2")
    return page.render(
        title=title,
        reports=reports,
        figures=figures,
        plotly_js=plotly_js,
        stage_words=STAGE_WORDS,
        stages=list(Stage),
        version=__version__,
        timeline_max=TIMELINE_MAX_SAS,
        traffic_max=TRAFFIC_SERIES,
    )


def _template(name: str) -> str:
    return resources.files("ipsec_inspect.export.templates").joinpath(name).read_text("utf-8")
