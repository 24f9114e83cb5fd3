"""The docs site (`make docs` → `_docs/`), checked as a reader would: every internal link and image of every page
resolves, and three pages (home, an API page, a figure page) open in headless Chromium with their title, rendered
equations (MathJax, bundled), the API's signatures and no raw markdown or Quarto syntax; screenshots are saved under
`_docs/screenshots/`. Without Chromium the browser test fails, unless NEURODX_SKIP_BROWSER=1 says to skip it."""
import os, re, shutil, subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

SITE = Path(__file__).resolve().parent.parent / "_docs"
RAW_SYNTAX = ("{target=", ":::", "$$", "](http", "](#", "#| ", "{.callout")


class _Refs(HTMLParser):
    "The links, images and element ids of one page."
    def __init__(self):
        super().__init__(); self.refs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a: self.ids.add(a["id"])
        if tag == "a" and a.get("href"): self.refs.append(("link", a["href"]))
        if tag in ("img", "script") and a.get("src"): self.refs.append((tag, a["src"]))
        if tag == "link" and a.get("href"): self.refs.append(("stylesheet", a["href"]))


def _parse(page: Path) -> _Refs:
    p = _Refs(); p.feed(page.read_text(errors="replace")); return p


@pytest.fixture(scope="module")
def pages():
    if not (SITE / "index.html").exists(): pytest.fail(f"{SITE} has no index.html: run `make docs` first")
    return sorted(p for p in SITE.rglob("*.html") if "_sources" not in p.parts)


def test_every_internal_link_and_image_resolves(pages):
    parsed = {p: _parse(p) for p in pages}
    broken = []
    for page, refs in parsed.items():
        for kind, ref in refs.refs:
            u = urlsplit(ref)
            if u.scheme or ref.startswith(("//", "mailto:", "data:", "javascript:")): continue  # external: not ours to check
            target = page if not u.path else (page.parent / unquote(u.path)).resolve()
            if target.is_dir(): target = target / "index.html"
            if not target.exists(): broken.append(f"{page.relative_to(SITE)}: {kind} {ref} (no file)"); continue
            if u.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(u.fragment) not in ids: broken.append(f"{page.relative_to(SITE)}: {kind} {ref} (no #{u.fragment})")
    assert not broken, f"{len(broken)} broken internal references:\n" + "\n".join(broken[:40])
    assert len(pages) > 30 and any("figures" in p.parts for p in pages) and any("guides" in p.parts for p in pages)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name): return shutil.which(name)
    return None


def _browse(exe, page: Path, screenshot: Path) -> str:
    "The page's DOM after its scripts ran (MathJax included), and a screenshot of it."
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=8000",
              "--window-size=1280,1400"]
    subprocess.run([*common, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    return subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout


def _visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style|mjx-container|pre)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"<[^>]+>", " ", dom)


@pytest.mark.parametrize("name,page,title", [("home", "index.html", "neurodx"),
                                             ("api", "tasks.survival.html", "tasks.survival"),
                                             ("figure", "figures/alzheimerdl.html", "AlzheimerDl")])
def test_pages_in_a_real_browser(pages, name, page, title):
    exe = _chromium()
    if exe is None:
        if os.environ.get("NEURODX_SKIP_BROWSER") == "1": pytest.skip("no Chromium here; NEURODX_SKIP_BROWSER=1 skips the browser check")
        pytest.fail("no Chromium found (Debian: apt-get install chromium; .ci/run installs it when root); "
                    "set NEURODX_SKIP_BROWSER=1 to skip this check")
    shots = SITE / "screenshots"; shots.mkdir(exist_ok=True)
    dom = _browse(exe, SITE / page, shots / f"{name}.png")
    assert (shots / f"{name}.png").stat().st_size > 20_000  # a rendered page, not a blank one
    assert re.search(r"<title>[^<]*" + re.escape(title), dom), f"{page}: title {title!r} missing"
    assert 'class="sidebar-tree"' in dom or "sidebar-tree" in dom  # the navigation is there
    text = _visible_text(dom)
    raw = [s for s in RAW_SYNTAX if s in text]
    assert not raw, f"{page}: raw markdown/Quarto syntax shows as text: {raw}"
    if name == "api":
        assert "<mjx-container" in dom, f"{page}: no equation rendered by MathJax"
        assert re.search(r"def</span>(<span[^>]*>\s*</span>)?\s*<span[^>]*>cox_ph_loss</span>", dom), f"{page}: the signature of cox_ph_loss is not shown"
        sig = re.search(r"def</span>(<span[^>]*>\s*</span>)?\s*<span[^>]*>cox_ph_loss</span>", dom)
        table = re.search(r"<table.*?</table>", dom[sig.end():], re.S)  # its docments, as a parameter table
        assert table and "breslow" in table.group(0) and "Details" in table.group(0), f"{page}: no parameter table for cox_ph_loss"
    if name == "figure":
        assert re.search(r'<img[^>]+src="[^"]*_images/', dom), f"{page}: no figure image"


def test_library_notebooks_are_committed_executed_with_small_outputs():
    "The library notebooks teach by example: committed with their outputs (`make notebooks`), no progress-bar noise, small images."
    import json
    root = SITE.parent / "nbs"
    for nb_path in sorted(root.glob("[0-9]*.ipynb")):
        nb = json.loads(nb_path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code" and not "".join(c["source"]).lstrip().startswith("#| export")]
        outputs = [o for c in code for o in c.get("outputs", [])]
        assert outputs, f"{nb_path.name} is committed without outputs: run `make notebooks`"
        assert not any(o.get("output_type") == "error" for o in outputs), f"{nb_path.name} has an error output"
        stderr = "".join("".join(o.get("text", "")) for o in outputs if o.get("name") == "stderr")
        assert "IProgress" not in stderr and "\r" not in stderr, f"{nb_path.name}: progress-bar noise in outputs"
        text = "".join("".join(o.get("text", "")) + "".join("".join(o.get("data", {}).get(k, "")) for k in ("text/plain", "text/html"))
                       for o in outputs)
        machine = [m.group(0) for m in re.finditer(r"\S*(/tmp/tmp|/tmp/ipykernel_|/root/|\.venv/)\S*|\S+\.py:\d+: \w*Warning", text)]
        assert not machine and str(SITE.parent) not in text, f"{nb_path.name}: this machine's paths in outputs: {machine[:3]}"
        images = sum(len(o.get("data", {}).get("image/png", "")) for o in outputs)
        assert images <= 150_000, f"{nb_path.name}: {images} bytes of images (limit 150 kB): make the figures smaller"


def test_every_figure_has_alt_text(pages):
    "Each image says what it shows (alt text from its page and the prose above it), never its file name."
    bad = [f"{p.name}: {alt}" for p in pages for alt in re.findall(r'<img[^>]*\balt="([^"]*)"', p.read_text())
           if not alt.strip() or alt.endswith((".png", ".svg", ".gif")) or "_images/" in alt]
    assert not bad, f"{len(bad)} images without a description: {bad[:5]}"


def test_every_equation_is_rendered(pages):
    "No page shows raw TeX: every `$$…$$` (one line or several, `aligned` included) became a math element MathJax renders."
    bad = {}
    for page in pages:
        if "_static" in page.parts or "screenshots" in page.parts: continue
        dom = re.sub(r'<(span|div) class="math[^"]*">.*?</\1>', " ", page.read_text(), flags=re.S)
        text = _visible_text(dom)
        hits = [t for t in ("$$", "\\frac", "\\begin{", "\\mathrm") if t in text]
        if hits: bad[page.name] = hits
    assert not bad, f"pages showing raw TeX: {bad}"


def test_no_file_cites_anything_outside_the_project():
    "The papers' values and their sources live in the project (nbs/papers_sources.md); no tracked file names the team's notes."
    root = SITE.parent
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    bad = [f for f in files if (root / f).is_file() and re.search(r"PAPERS\.md|\.\./shared|ARCHITECTURE\.md",
                                                                (root / f).read_text(errors="ignore"))]
    assert not bad, f"files citing what is outside the repository: {bad}"
    assert (root / "nbs" / "papers_sources.md").is_file()


def test_no_page_shows_this_machine(pages):
    "No page of the site shows where it was built: no checkout path, virtual environment, temporary folder or warning path."
    bad = {}
    for page in SITE.rglob("*.html"):
        if "_static" in page.parts or "screenshots" in page.parts: continue
        text = _visible_text(page.read_text())
        hits = [m.group(0) for m in re.finditer(r"\S*(/tmp/tmp|/root/|\.venv/|/site-packages/)\S*", text)]
        if str(SITE.parent) in text: hits.append(str(SITE.parent))
        if hits: bad[page.name] = hits[:3]
    assert not bad, f"pages showing this machine's paths: {bad}"


def test_a_figure_run_killed_half_way_is_never_published(tmp_path):
    "`neurodx figures` writes provenance.json last: a run killed before it (or failed) leaves a folder the docs build refuses."
    import json, signal, sys, time
    sys.path.insert(0, str(SITE.parent / "docs"))
    import build
    exe = Path(sys.executable).parent / "neurodx"
    proc = subprocess.Popen([str(exe), "figures", "--only", "data_path", "--out", str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    executed = tmp_path / "data_path" / "data_path.ipynb"
    try:
        for _ in range(600):  # papermill writes the executed notebook as it goes: kill once it exists, long before the end
            if executed.exists() or proc.poll() is not None: break
            time.sleep(0.1)
        assert proc.poll() is None, "the figure run ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    assert executed.exists() and not (tmp_path / "data_path" / "provenance.json").exists()
    with pytest.raises(build.FigureRunFailed, match="data_path.ipynb: this figure run failed or did not finish"):
        build.figure_source("data_path", (tmp_path,))
    (tmp_path / "data_path" / "provenance.json").write_text(json.dumps({"preset": "fast", "seconds": 1.0}))  # what a finished run leaves
    assert build.figure_source("data_path", (tmp_path,))[0] == executed
    assert build.figure_source("no_run_yet", (tmp_path,))[1] is None  # never run: the committed notebook, marked not executed


def test_notebooks_declare_the_neurodx_kernel():
    "JupyterLab opens every notebook with the kernel `make env` registers (papermill and nbdev_test choose their own)."
    root = SITE.parent
    import json
    nbs = sorted((root / "nbs").glob("*.ipynb")) + sorted((root / "nbs" / "figures").glob("*.ipynb"))
    bad = [p.name for p in nbs if json.loads(p.read_text())["metadata"].get("kernelspec", {}).get("name") != "neurodx"]
    assert nbs and not bad, bad


def test_the_readme_map_matches_the_code():
    "The README's layout tables name every paper module, every data notebook and the figure notebooks' parameters."
    import json
    from neurodx.papers import papers
    root = SITE.parent; readme = (root / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `neurodx.papers`"))
    assert all(f"`{name}`" in row for name in papers(builtin_only=True)), row
    data = sorted(p.name[:2] for p in (root / "nbs").glob("0[1-9]_data.*.ipynb"))
    assert f"`{data[0]}`–`{data[-1]}`" in readme, data
    params = set()
    for nb in (root / "nbs" / "figures").glob("*.ipynb"):
        cell = next(c for c in json.loads(nb.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
        params |= set(re.findall(r"^(\w+)\s*=", "".join(cell["source"]), re.M))
    line = next(line for line in readme.splitlines() if line.startswith("| `nbs/figures/*.ipynb`"))
    assert all(f"`{p}`" in line for p in params), (params, line)
    assert "`FAST` preset" not in readme and "still to come" not in readme
