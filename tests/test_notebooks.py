"""The tutorial notebooks (notebooks/*.ipynb): committed without outputs, and each one runs top to
bottom in a fresh kernel of this virtual environment without a cell error."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_features.ipynb", "02_train_distill.ipynb", "03_quantize.ipynb",
            "04_firmware.ipynb"]
CELL_TIMEOUT_S = 300
# "python3" resolves to the ipykernel installed in this virtual environment: jupyter_client
# replaces the kernelspec's "python" with sys.executable.
KERNEL = "python3"


def _execute(nb, workdir: Path) -> None:
    """Run every cell in order; the first cell error raises CellExecutionError."""
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(workdir)}}).execute()


@pytest.fixture(scope="session")
def notebook_dir(tmp_path_factory) -> Path:
    """KWS_NOTEBOOK_DIR for this session: one run directory and cache shared by the notebooks,
    as a reader running them in order shares them (each also runs alone)."""
    return tmp_path_factory.mktemp("kws_notebooks")


def test_the_tutorials_are_there():
    assert set(EXPECTED) <= {p.name for p in NOTEBOOKS}
    assert (ROOT / "notebooks" / "README.md").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} hold outputs or execution counts; strip them "
                       f"(e.g. .venv/bin/jupyter nbconvert --clear-output --inplace {path.name})")


def test_kernel_is_this_environments_python(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, kws; print(sys.executable); print(kws.__file__)")])
    _execute(nb, tmp_path)
    executable, package = nb.cells[0].outputs[0]["text"].split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve().parent == ROOT / "kws"


# The training, quantisation and firmware tutorials take 20-45 s each: make test-slow runs
# them; the default suite runs the first.
SLOW_NOTEBOOKS = {"02_train_distill", "03_quantize", "04_firmware"}
RUN_PARAMS = [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW_NOTEBOOKS
                           else []) for p in NOTEBOOKS]


@pytest.mark.parametrize("path", RUN_PARAMS)
def test_notebook_runs_top_to_bottom(path, tmp_path, notebook_dir, monkeypatch):
    copy = tmp_path / path.name                      # never write outputs into the repository
    shutil.copyfile(path, copy)
    nb = nbformat.read(copy, as_version=4)
    monkeypatch.setenv("KWS_NOTEBOOK_DIR", str(notebook_dir))       # the kernel inherits it
    _execute(nb, tmp_path)
    errors = [output for cell in nb.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors
