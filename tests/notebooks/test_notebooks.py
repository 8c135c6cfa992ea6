"""Execute every notebook top to bottom with its small settings, as a user would (nbclient)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_small_settings(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "commit notebooks without outputs"
    parameters = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    assert parameters and "SMALL = True" in parameters[0].source, "first parameters cell must default to SMALL = True"
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))  # caches go to the test's folder, not ~/.cache
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
