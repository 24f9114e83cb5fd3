"""Execute the library notebooks in place, so that they are committed with their outputs (as fastai's and fastcore's
are) and the docs teach by example: printed shapes, refused inputs, parameter counts, small figures.

Run by `make notebooks` after editing a notebook. Each notebook runs in `nbs/` with a fresh kernel; then the outputs
are tidied for the repository:
- progress bars (tqdm's carriage-return lines, its "IProgress not found" warning) are dropped: they are noise in a
  static page;
- paths of this machine (the checkout, the virtual environment, the examples' temporary folders) are shortened, and
  warnings are shown as "Category: message" without the file and line that raised them, so outputs do not depend on
  where the repository lives;
- figures are stored at a low resolution (`figure.dpi` 72 in the kernel), and a notebook whose images exceed
  `MAX_IMAGE_BYTES` in total is reported (the test suite enforces the same limit).
`nbdev_clean` then removes execution counts and kernel metadata. The figure notebooks (`nbs/figures/`) are not run
here: `make figures` runs them into `results/` at their own sizes.
Usage: python docs/execute.py [NOTEBOOK ...]   (default: nbs/[0-9]*.ipynb and nbs/index.ipynb)
"""
import json, re, subprocess, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from neurodx.cli import PROGRESS_NOISE, is_training_table

ROOT = Path(__file__).resolve().parents[1]
MAX_IMAGE_BYTES = 150_000  # base64 PNG bytes of all figures of one notebook
SETUP = "import matplotlib as _m; _m.rcParams['figure.dpi'] = 72"
_NOISE = PROGRESS_NOISE  # one definition of a progress bar's output (neurodx.cli), for both kinds of notebook


_WARNING = re.compile(r"^\S+\.py:\d+: (\w*Warning): (.*)\n(  .*\n)?", re.M)  # "path:line: Category: message" + its source


def _tidy_text(text: str) -> str:
    "Outputs without this machine's paths: warnings as 'Category: message', temporary and project folders shortened."
    text = _WARNING.sub(lambda m: f"{m.group(1)}: {m.group(2)}\n", text)
    venv = str(ROOT / ".venv")
    text = re.sub(re.escape(venv) + r"/lib/python[\d.]+/site-packages/", "…/site-packages/", text)
    text = re.sub(r"/tmp/(tmp|ipykernel_)[\w.-]+/", "…/", text)  # the examples' temporary folders
    return text.replace(str(ROOT) + "/", "")


def tidy(nb, strict: bool = True) -> int:
    "Drop progress-bar noise, shorten local paths (an error output raises when `strict`); return the notebook's image bytes."
    image_bytes = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code": continue
        kept = []
        for out in cell.get("outputs", []):
            if is_training_table(out): continue  # fastai's per-epoch tables: a log for the screen, not for the page
            if out.get("output_type") == "stream":
                text = "".join(out.get("text", ""))  # a string in nbformat, a list of lines in raw JSON
                if out.get("name") == "stderr" and _NOISE.search(text): continue
                out["text"] = _tidy_text(text)
            if out.get("output_type") in ("execute_result", "display_data"):
                data = out.get("data", {})
                for kind in ("text/plain", "text/html"):
                    if kind in data: data[kind] = _tidy_text("".join(data[kind]))
                image_bytes += len(data.get("image/png", ""))
            if out.get("output_type") == "error" and strict: raise RuntimeError(f"cell failed: {out.get('ename')}: {out.get('evalue')}")
            kept.append(out)
        cell["outputs"] = kept
    return image_bytes


def execute(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))  # low-resolution figures; removed again below
    try: client.execute()
    finally: nb.cells.pop(0)
    n = tidy(nb)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp); tmp.replace(path)  # never a half-written notebook
    return n


def main(paths: list) -> int:
    nbs = [Path(p) for p in paths] or sorted((ROOT / "nbs").glob("[0-9]*.ipynb")) + [ROOT / "nbs" / "index.ipynb"]
    too_big = []
    for p in nbs:
        t0 = time.time(); n = execute(p.resolve())
        print(f"{p.name}: {time.time() - t0:.0f} s, images {n / 1000:.0f} kB", flush=True)
        if n > MAX_IMAGE_BYTES: too_big.append(p.name)
    subprocess.run([str(Path(sys.executable).parent / "nbdev_clean")], cwd=ROOT, check=True)
    if too_big: print(f"images over {MAX_IMAGE_BYTES // 1000} kB: {too_big}: make the figures smaller"); return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
