"""Draw: a digit drawn, read layer by layer (view.py), and the page's link (link.py)."""
