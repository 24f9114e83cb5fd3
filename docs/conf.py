# Sphinx configuration of neurodx's offline docs site (docs/build.py copies it next to the processed notebooks).
from configparser import ConfigParser
from pathlib import Path

_ini = ConfigParser(delimiters=["="]); _ini.read(Path(__file__).resolve().parent.parent / "settings.ini")
project = _ini["DEFAULT"]["title"]
author = _ini["DEFAULT"]["author"]
copyright = _ini["DEFAULT"]["copyright"]
release = _ini["DEFAULT"]["version"]

extensions = ["myst_nb"]
nb_execution_mode = "off"  # notebooks show what they were committed (or run by `make figures`) with, never re-run here
nb_render_markdown_format = "myst"  # show_doc's markdown: tables, math
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "myst.xref_missing", "mystnb.unknown_mime_type", "misc.highlighting_failure"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"

html_theme = "furo"
html_title = "neurodx"
html_static_path = ["_static"]  # neurodx.css (copied in by docs/build.py)
html_css_files = ["neurodx.css"]
mathjax_path = "mathjax/tex-chtml.js"  # bundled by docs/build.py into _static/: no CDN
html_show_sourcelink = False
