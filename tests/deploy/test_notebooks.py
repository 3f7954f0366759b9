"""The notebooks, executed top to bottom in a fresh Jupyter kernel (nbclient), as a user runs them."""

from __future__ import annotations

import json

import nbformat
import pyarrow.dataset as pads
from helpers import ROOT
from nbclient import NotebookClient

NOTEBOOKS = ROOT / "notebooks"
QUICKSTART = NOTEBOOKS / "quickstart.ipynb"


def cell_text(cell) -> str:
    return "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)


def test_quickstart_runs_and_writes_one_row_per_example(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("RAYPIPE_NOTEBOOK_OUTPUT", str(out))  # the kernel inherits this environment
    nb = nbformat.read(QUICKSTART, as_version=4)
    # kernel "python3" runs on this interpreter (jupyter_client swaps the spec's "python" for it)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails

    examples = sorted(p.name for p in (ROOT / "examples").glob("*.pdf"))
    table = pads.dataset(str(out), format="parquet").to_table(columns=["doc_id", "status"])
    assert sorted(table["doc_id"].to_pylist()) == examples
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    assert summary["documents"] == len(examples)

    code = [c for c in nb.cells if c.cell_type == "code"]
    shown = cell_text(next(c for c in code if "take(3)" in c.source))
    assert sum(name in shown for name in examples) == 3  # three rows shown, by doc_id
    stages = cell_text(next(c for c in code if '["stages"]' in c.source))
    assert "Write" in stages


def test_committed_notebooks_carry_no_outputs():
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert QUICKSTART in notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.source[:60])
