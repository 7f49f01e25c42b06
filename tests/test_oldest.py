"""The pure parts of `make oldest` (.ci/oldest.py): floors from pyproject, the install list.

The check itself (install the floors, run every notebook) takes 20-30 minutes and runs as its
own step of .ci/run, not here.
"""

import doctest
import importlib.util
import re

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from conftest import ROOT

spec = importlib.util.spec_from_file_location("oldest", ROOT / ".ci" / "oldest.py")
oldest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oldest)


def write(tmp_path, text):
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def test_docstring_examples():
    assert doctest.testmod(oldest).failed == 0


def test_read_floors_takes_the_lower_bound_and_normalises_names(tmp_path):
    path = write(tmp_path, '[project]\ndependencies = [\n'
                           '  "NumPy>=1.26, <3",\n  "scikit_learn >= 1.3",\n'
                           '  "keras!=3.2.0,>=3.1",\n  "pydot>=1.4.2 ; python_version >= \'3.8\'",\n]\n')
    assert oldest.read_floors(path) == {"numpy": "1.26", "scikit-learn": "1.3", "keras": "3.1",
                                        "pydot": "1.4.2"}


@pytest.mark.parametrize("dependency", ["numpy", "numpy<3", "numpy==1.26", "numpy>=1.2,>=1.26"])
def test_read_floors_rejects_a_dependency_without_one_lower_bound(tmp_path, dependency):
    path = write(tmp_path, f'[project]\ndependencies = ["pillow>=9.2", "{dependency}"]\n')
    with pytest.raises(ValueError, match=r"needs exactly one lower bound '>='.*numpy>=X\.Y"):
        oldest.read_floors(path)


@pytest.mark.parametrize("text, message", [
    ("[tool.x]\na = 1\n", "no readable \\[project\\] table"),
    ("[project\n", "no readable \\[project\\] table"),
    ("[project]\nname = 'x'\n", "lists no dependencies"),
    ('[project]\ndependencies = ["numpy >>= 1"]\n', "not a valid requirement"),
])
def test_read_floors_names_what_is_wrong_with_the_file(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        oldest.read_floors(write(tmp_path, text))


def test_install_args_pin_every_floor_to_a_wheel_and_install_the_package_non_editable(tmp_path):
    floors = oldest.read_floors(ROOT / "pyproject.toml")
    args = oldest.install_args(floors, tmp_path)
    assert "-e" not in args and "--editable" not in args
    assert args[-1] == str(tmp_path)  # the package itself, from its source tree
    pins = [a for a in args if "==" in a]
    assert {Requirement(p).name for p in pins} == set(floors)
    wheels_only = args[args.index("--only-binary") + 1].split(",")
    assert sorted(wheels_only) == sorted(floors)
    for name in oldest.RUNNER_PACKAGES:  # any version that fits the pins
        assert name in args


def test_every_floor_of_pyproject_is_an_exact_release_inside_its_own_range():
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = oldest.read_floors(ROOT / "pyproject.toml")
    for text in dependencies:
        requirement = Requirement(text)
        floor = floors[re.sub(r"[-_.]+", "-", requirement.name).lower()]
        assert requirement.specifier.contains(Version(floor)), text


def test_the_pinned_requirements_lie_inside_the_ranges_of_pyproject():
    """Local builds and CI (requirements.txt) must use versions the package claims to support."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            pins[re.sub(r"[-_.]+", "-", requirement.name).lower()] = next(
                iter(requirement.specifier)).version
    floors = oldest.read_floors(ROOT / "pyproject.toml")
    missing = sorted(set(floors) - set(pins))
    assert not missing, f"pyproject dependencies not pinned in requirements.txt: {missing}"
    for name, floor in floors.items():
        assert Version(pins[name]) >= Version(floor), f"{name}: pinned {pins[name]} < floor {floor}"


def test_version_mismatches_reports_missing_and_wrong_versions():
    floors = {"numpy": "1.26", "keras": "3.0", "pydot": "1.4.2"}
    found = oldest.version_mismatches(floors, {"numpy": "1.26.0", "keras": "3.3.3", "pydot": None})
    assert found == ["keras 3.3.3 is installed, not its floor 3.0",
                     "pydot is not installed (floor 1.4.2)"]
    assert oldest.version_mismatches(floors, {"numpy": "1.26", "keras": "3.0.0",
                                              "pydot": "1.4.2"}) == []


def test_execute_reports_the_failing_cell_and_runs_the_other_notebooks(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    notebooks = []
    for name, cells in [("a_broken", [new_markdown_cell("# A"), new_code_cell("x = 1"),
                                      new_code_cell("\n# the culprit\nraise KeyError('boom')"),
                                      new_code_cell("y = 2")]),
                        ("b_fine", [new_code_cell("import os\nopen('ran.txt', 'w').write('1')")])]:
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(new_notebook(cells=cells), path)
        notebooks.append(path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    rows = oldest.execute(notebooks, workdir, timeout=120)
    assert [row["notebook"] for row in rows] == ["a_broken", "b_fine"]
    assert rows[0]["error"] == {"cell": 2, "source": "# the culprit", "error": "KeyError: 'boom'"}
    assert rows[1]["error"] is None
    assert (workdir / "ran.txt").read_text() == "1"  # notebooks run in the work folder
    assert (workdir / "a_broken.ipynb").is_file()     # executed copies are kept to inspect
