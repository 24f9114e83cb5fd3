"""Build the docs site offline from the notebooks: nbdev's own processing (what it hands to Quarto), then Sphinx with
myst-nb (notebooks are not re-executed) into `_docs/`. Users with Quarto get the nbdev site with `nbdev_docs`; this
build needs only Python packages, so every test run can prove the notebooks make a browsable site.

Stages, each leaving its files for the next (nnU-Net style):
  1. `nbdev.serve.proc_nbs` → `_proc/`: show_doc rendered to markdown, directives applied, hidden cells dropped;
  2. `_proc/` → `_docs_src/`: Quarto-only syntax made plain markdown, front matter made a title, pages named as nbdev
     names them (`data.io.html`), the figure notebooks' executed copies from `results/`, the guides, the toctrees;
  3. `sphinx-build` → `_docs/`, with MathJax copied in (no CDN).
Usage: python docs/build.py [--out _docs]
"""
from __future__ import annotations

import argparse, json, re, shutil, subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute import tidy  # the same tidying as the committed library notebooks

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "_docs_src"
SIDEBAR = ROOT / "nbs" / "sidebar.yml"  # one sidebar for both sites: Quarto reads it, and so does this build


def sidebar_sections() -> dict:
    """{section: [(entry, title or None)]} of nbs/sidebar.yml, entries as Quarto names them (`03_data.cache.ipynb`,
    `figures/x.ipynb`, `guides/x.md`, or `{text, href}` items with their own title). A section inside a section (a
    paper's pages) becomes a group of its own, right after its parent, captioned with its title."""
    import yaml
    contents = yaml.safe_load(SIDEBAR.read_text())["website"]["sidebar"]["contents"]
    out = {}
    def walk(title, entries):
        out[title] = []
        for e in entries:
            if isinstance(e, str): out[title].append((e, None))
            elif "section" in e: walk(e["section"], e.get("contents", []))
            elif "href" in e: out[title].append((e["href"], e.get("text")))
    for e in contents:
        if isinstance(e, dict) and "section" in e: walk(e["section"], e["contents"])
    return out


def _quarto_free(md: str, site_prefix: str) -> str:
    "Markdown as CommonMark/MyST reads it: no `{target=…}` attributes, no Quarto divs, site links made relative."
    md = re.sub(r"\]\(([^)\s]*)\)\{[^}]*\}", r"](\1)", md)  # [source](url){target="_blank" …}
    md = re.sub(r"\A\s*---\s*\n", "", md)  # show_doc's leading rule: a transition docutils refuses at the start of an output
    md = re.sub(r"^:::+ *\{[^}]*\}\s*$", "", md, flags=re.M)  # ::: {.callout-note} … :::
    md = re.sub(r"^:::+\s*$", "", md, flags=re.M)
    # display math inside a paragraph, on one line or several (Quarto reads it; MyST wants it as a block of its own,
    # else a multi-line `$$…$$` is read as inline `$…$` pairs and shows as raw TeX): a blank line either side, the
    # sentence's punctuation kept inside
    md = re.sub(r"^[ \t]*\$\$(.+?)\$\$([.,;:]?)[ \t]*$", lambda m: f"\n$${m.group(1)}{m.group(2)}$$\n", md,
                flags=re.M | re.S)
    if site_prefix: md = md.replace(site_prefix, "")
    # a link inside a link's text (nbdev links a backticked name that is also a symbol, `als_anchornet`): the outer one
    md = re.sub(r"\[\[([^\]]*)\]\([^)]*\)\]\(([^)]*)\)", r"[\1](\2)", md)
    # nbdev's links between pages (`data.io.html#load_nifti`) as links MyST resolves: the source file and its heading
    md = re.sub(r"\[(`_\w+`)\]\([\w.]+\.html#_[\w\-.]*\)", r"\1", md)  # a private name has no documented target to link to
    md = re.sub(r"\]\(([\w.]+)\.html(#[\w\-.]*)?\)", lambda m: f"]({m.group(1)}.ipynb{m.group(2) or ''})", md)
    return md


def _page_name(nb: dict, fallback: str) -> str:
    "The page name nbdev gives a notebook (its front matter's output-file, without .html)."
    for c in nb["cells"][:2]:
        if c["cell_type"] == "raw":
            m = re.search(r"^output-file:\s*(\S+)\.html\s*$", "".join(c["source"]), re.M)
            if m: return m.group(1)
    return fallback


def _front_matter_to_title(nb: dict) -> dict:
    "nbdev's raw YAML front matter (title, description) → a markdown title cell that Sphinx reads."
    cells = []
    for c in nb["cells"]:
        if c["cell_type"] == "raw" and "".join(c["source"]).lstrip().startswith("---"):
            import yaml
            meta = yaml.safe_load("".join(c["source"]).strip().strip("-")) or {}
            md = f"# {meta['title']}\n" if meta.get("title") else ""
            if meta.get("description"): md += "\n> " + " ".join(str(meta["description"]).split()) + "\n"
            if md: cells.append({"cell_type": "markdown", "metadata": {}, "source": md})
            continue
        cells.append(c)
    return {**nb, "cells": cells}


def _clean_cell(c: dict, site_prefix: str) -> dict:
    c = dict(c)
    src = "".join(c.get("source", []))
    if c["cell_type"] == "code":
        directives = dict(re.findall(r"^#\|\s*([\w-]+):?\s*(.*)$", src, re.M))
        src = re.sub(r"^#\|.*\n?", "", src, flags=re.M)
        tags = set(c.get("metadata", {}).get("tags", []))
        if directives.get("echo", "").strip() == "false" or src.startswith(("show_doc(", "#| echo")): tags.add("remove-input")
        c["metadata"] = {**c.get("metadata", {}), "tags": sorted(tags)}
        outs = []
        for o in c.get("outputs", []):
            o = dict(o)
            if "data" in o and "text/markdown" in o["data"]:
                md = "".join(o["data"]["text/markdown"]) if isinstance(o["data"]["text/markdown"], list) else o["data"]["text/markdown"]
                o["data"] = {**o["data"], "text/markdown": _quarto_free(md, site_prefix)}
            outs.append(o)
        c["outputs"] = outs
    elif c["cell_type"] == "markdown":
        src = _quarto_free(src, site_prefix)
    c["source"] = src
    keep = {"cell_type", "id", "metadata", "source", "attachments"} | ({"outputs", "execution_count"} if c["cell_type"] == "code" else set())
    return {k: v for k, v in c.items() if k in keep}  # nbdev's processing adds keys that nbformat refuses (has_sd)


def _plain(md: str) -> str:
    "Markdown as plain words: no links' targets, code ticks, emphasis, math delimiters or headings."
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)
    md = re.sub(r"[`*#>]|\$+", "", md)
    return " ".join(md.split())


def _first_sentence(text: str, limit: int = 220) -> str:
    m = re.match(r"(.+?[.:;])(\s|$)", text)
    s = (m.group(1) if m else text).rstrip(".:;")
    return s if len(s) <= limit else s[:limit].rsplit(" ", 1)[0] + "…"


def add_alt_text(nb: dict, title: str) -> dict:
    """Every figure output gets alt text that says what it shows: the page's title and the first sentence of the prose
    right above the cell (or the cell's own leading comment), as myst-nb's cell-level image option."""
    prose = ""
    for c in nb["cells"]:
        src = "".join(c.get("source", []))
        if c["cell_type"] == "markdown":
            words = _plain(re.sub(r"^#+ .*$", "", src, flags=re.M)) or _plain(src)
            if words: prose = words
            continue
        n = sum(1 for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
        if not n: continue
        comment = next((ln.lstrip("# ").strip() for ln in src.split("\n") if ln.startswith("# ") and not ln.startswith("#|")), "")
        what = _first_sentence(comment or prose) or "a figure"
        meta = c.setdefault("metadata", {}).setdefault("mystnb", {}).setdefault("image", {})
        meta.setdefault("alt", f"{title}: {what}" + (f" ({n} figures)" if n > 1 else ""))
    return nb


def _title(nb: dict, fallback: str) -> str:
    for c in nb["cells"]:
        m = re.search(r"^# (.+)$", "".join(c.get("source", [])), re.M) if c["cell_type"] == "markdown" else None
        if m: return _plain(m.group(1))
    return fallback


def _valid(nb: dict) -> dict:
    "Every cell with an id (nbformat 4.5), as myst-nb validates them."
    for i, c in enumerate(nb["cells"]): c.setdefault("id", f"docs-{i}")
    return {**nb, "nbformat": 4, "nbformat_minor": max(5, nb.get("nbformat_minor", 5))}


def _toc_cell(pages: dict) -> dict:
    "Hidden toctrees, one per sidebar group, on the home page."
    blocks = []
    for caption, names in pages.items():
        if names: blocks.append("```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(names) + "\n```")
    # an entry with its own title is `Title <page>` in a toctree
    return {"cell_type": "markdown", "metadata": {}, "source": "\n\n".join(blocks)}


class FigureRunFailed(SystemExit):
    "A figure notebook whose last run failed or did not finish: its page is not published."


def figure_source(stem: str, bases: tuple | None = None) -> tuple[Path, dict | None]:
    """The executed notebook a figure page shows, and its provenance: the committed reference run, else the fast run of
    `results/`, else the notebook as committed (not executed). A run folder holding the executed notebook but no
    provenance.json is one that failed or was killed (`neurodx figures` writes provenance last): refused, never shown."""
    for base in bases or (ROOT / "reproduction", ROOT / "results"):
        nb, prov = base / stem / f"{stem}.ipynb", base / stem / "provenance.json"
        if nb.is_file() and prov.is_file(): return nb, json.loads(prov.read_text())
        if nb.is_file():
            raise FigureRunFailed(f"{nb}: this figure run failed or did not finish (no provenance.json); rerun it "
                                  f"(`neurodx figures --only {stem}`, or `make reproduce` for reproduction/) or remove {nb.parent}")
    return ROOT / "nbs" / "figures" / f"{stem}.ipynb", None


def provenance_line(prov: dict | None, nb_path: Path) -> str:
    "What a reader must know first about the numbers on a figure page: which preset made them, when, where, how long."
    if prov is None: return "> **Not executed**: this page shows the notebook without outputs (run `make figures` or `make reproduce`)."
    where = f"{prov.get('cpu', '?')}, {prov.get('cores', '?')} cores" + (f", {prov['gpu']}" if prov.get("gpu") else "")
    what = ("the committed **reference** run (`make reproduce`): every number below comes from it" if prov.get("preset") == "reference"
            else f"a **{prov.get('preset')}** run" + (" (CI's end-to-end check: it shows that the stages run, not what the models learn)"
                                                     if prov.get("preset") == "fast" else ""))
    return (f"> Outputs of {what}. {prov.get('date', '?')} · commit `{str(prov.get('commit', '?'))[:10]}` · {where} · "
            f"{float(prov.get('seconds', float('nan'))) / 60:.1f} min · preset `{prov.get('preset')}`.")


def claims_first(stem: str, nb_path: Path, out: Path) -> dict | None:
    """What a figure page opens with, before the method: the paper's claims beside neurodx's results (the report's
    tables for this notebook: paper value, neurodx with its interval, oracle, trivial, verdict; claims in two worlds)
    and its main figure (the run's first `fig_*.png`). Only for a committed reference run, whose report it is."""
    if nb_path.parent.parent != ROOT / "reproduction": return None
    from neurodx.evaluate.reproduction import reproduction_report
    link = f"(figures/{stem}.ipynb)"
    section = next((sec.split("\n") for sec in reproduction_report(ROOT / "reproduction", "docs").split("\n## ")[1:]
                    if link in sec.split("\n\n", 2)[1]), None)
    if section is None: return None
    body = "\n".join(line for line in section[1:] if link not in line).strip()
    md = "## What the paper claims and what neurodx finds\n\n"
    from neurodx.papers import papers
    main = getattr(papers(builtin_only=True).get(stem), "main_figure", None)  # the paper's declared main figure
    figs = [nb_path.parent / main] if main and (nb_path.parent / main).is_file() else sorted(nb_path.parent.glob("fig_*.png"))
    if figs:  # the main figure first, then the claims' table
        (out / "figures").mkdir(exist_ok=True); shutil.copy2(figs[0], out / "figures" / f"{stem}_main.png")
        md += f"![{section[0]}: {figs[0].stem[4:].replace('_', ' ')}]({stem}_main.png)\n\n"
    return {"cell_type": "markdown", "metadata": {}, "source": md + body + "\n\nThe method, step by step, follows.\n"}


def prepare_sources(proc: Path, out: Path = SRC) -> dict:
    "Stage 2: `_proc/` and the figure notebooks → a Sphinx source tree; returns the pages by sidebar group."
    from nbdev.config import get_config
    cfg = get_config()
    site_prefix = f"{cfg.doc_host.rstrip('/')}{cfg.doc_baseurl.rstrip('/')}/"
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    page_of, index = {}, None  # notebook file → page name (nbdev's output-file)
    for nb_path in sorted(proc.glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        name = _page_name(nb, nb_path.stem)
        nb = _front_matter_to_title(nb)
        nb["cells"] = [_clean_cell(c, site_prefix) for c in nb["cells"]]
        add_alt_text(nb, _title(nb, name))
        if nb_path.stem == "index": index = nb; continue
        (out / f"{name}.ipynb").write_text(json.dumps(_valid(nb), indent=1))
        page_of[nb_path.name] = name
    pages = {}
    for section, entries in sidebar_sections().items():
        pages[section] = []
        for entry, title in entries:
            n_before = len(pages[section])
            folder, _, file = entry.rpartition("/")
            stem = Path(file).stem
            if folder == "figures":  # the committed reference run, else the fast copy `make figures` wrote, else the notebook
                nb_path, prov = figure_source(stem)
                nb = json.loads(nb_path.read_text())
                nb["cells"] = [_clean_cell(c, site_prefix) for c in nb["cells"]]
                nb["cells"].insert(1, {"cell_type": "markdown", "metadata": {}, "source": provenance_line(prov, nb_path)})
                first = claims_first(stem, nb_path, out)
                if first is not None: nb["cells"].insert(2, first)
                tidy(nb, strict=False)  # no progress-bar noise, no paths of this machine (as the library notebooks)
                add_alt_text(nb, _title(nb, stem))
                for c in nb["cells"]:  # papermill's parameter cells (the defaults and the injected ones) are not for readers
                    tags = c.get("metadata", {}).get("tags", [])
                    if c["cell_type"] == "code" and {"parameters", "injected-parameters"} & set(tags): c["metadata"]["tags"] = [*tags, "remove-cell"]
                (out / "figures").mkdir(exist_ok=True)
                (out / "figures" / f"{stem}.ipynb").write_text(json.dumps(_valid(nb), indent=1))
                pages[section].append(f"figures/{stem}")
            elif not folder and file.endswith(".md"):  # a page of its own (the reproduction report, written by `neurodx report`)
                shutil.copy2(ROOT / "nbs" / file, out / file)
                pages[section].append(stem)
            elif folder == "guides":
                (out / "guides").mkdir(exist_ok=True)
                shutil.copy2(ROOT / "nbs" / entry, out / "guides" / file)
                pages[section].append(f"guides/{stem}")
            elif file in page_of: pages[section].append(page_of[file])
            else: raise SystemExit(f"{SIDEBAR}: {entry} is not a notebook of nbs/ (or was not processed)")
            if title and len(pages[section]) > n_before: pages[section][-1] = f"{title} <{pages[section][-1]}>"
    missing = sorted(set(page_of) - {e for v in sidebar_sections().values() for e, _ in v})
    if missing: raise SystemExit(f"{SIDEBAR} lists no section for {missing}: add them")
    if index is None: raise SystemExit(f"{proc}/index.ipynb missing: did nbdev's processing run?")
    index["cells"].append(_toc_cell(pages))
    (out / "index.ipynb").write_text(json.dumps(_valid(index), indent=1))
    shutil.copy2(ROOT / "docs" / "conf.py", out / "conf.py")
    (out / "_static").mkdir(exist_ok=True); shutil.copy2(ROOT / "docs" / "neurodx.css", out / "_static" / "neurodx.css")
    return pages


def copy_mathjax(site: Path):
    "MathJax 3 from the installed `django-static-mathjax` wheel into the site: equations render offline."
    import mathjax  # the package's import name
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    dst = site / "_static" / "mathjax"
    if dst.exists(): shutil.rmtree(dst)
    (dst / "output" / "chtml" / "fonts").mkdir(parents=True)
    shutil.copy2(es5 / "tex-chtml.js", dst / "tex-chtml.js")
    shutil.copytree(es5 / "output" / "chtml" / "fonts" / "woff-v2", dst / "output" / "chtml" / "fonts" / "woff-v2")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "_docs"))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    import os
    from nbdev.serve import proc_nbs
    os.environ["PYTHONWARNINGS"] = "ignore::UserWarning"  # nbdev's advice on import cells, for our hidden test-setup cells
    proc = Path(proc_nbs(path=str(ROOT / "nbs"), n_workers=a.jobs))  # stage 1: nbdev's processing, no Quarto needed
    prepare_sources(proc)  # stage 2
    out = Path(a.out)
    if out.exists(): shutil.rmtree(out)
    r = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", str(a.jobs), str(SRC), str(out)])  # stage 3
    if r.returncode: raise SystemExit(r.returncode)
    copy_mathjax(out)
    print(f"docs: {out}/index.html ({sum(1 for _ in out.rglob('*.html'))} pages)")


if __name__ == "__main__":
    main()
