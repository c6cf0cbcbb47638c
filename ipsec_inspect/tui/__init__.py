"""The terminal UI (``ipsec-inspect open``): views only; all analysis is in ``pipeline/session.py``.

Layout: ``app.py`` (the App, selection routing, the analysis worker), ``app.tcss``
(layout), ``widgets/`` (one pane per module), ``screens.py`` (help, path prompt), and
three Textual-free helpers tested alone — ``source.py`` (capture file or live frames),
``catalog.py`` and ``rows.py`` (what the panes show), ``filterlang.py`` (the filter
bar's language), ``detail.py`` (the field tree). See ``InspectorApp`` for how a live
capture drives the app.
"""
