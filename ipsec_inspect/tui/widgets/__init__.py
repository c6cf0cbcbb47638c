"""One widget class per pane of the inspector (see ``ipsec_inspect/tui/app.py``)."""
