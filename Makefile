# DeepProduct: two commands on a fresh machine.
#   make export   create the venv, train on the built-in dataset (or DATA=<root>), export to dist/
#   make test     the test suite (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DATA   ?=
VAL    ?=
EPOCHS ?= 10
RUN    ?= runs/$(if $(DATA),$(notdir $(patsubst %/,%,$(DATA))),builtin)
DIST   ?= dist
BUILTIN = data/builtin

.PHONY: export train test lint venv ablation clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,export,dev]'
	touch $@

# Train (resumes an interrupted run in $(RUN)), then export.
train: venv
	$(BIN)/deepproduct train $(if $(DATA),--data $(DATA),--builtin-dir $(BUILTIN)) \
		$(if $(VAL),--val $(VAL)) --epochs $(EPOCHS) --out $(RUN) --resume

export: train
	@echo "trained model: $(RUN)/model.pt"

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .

# The issue-2 ablation on the grocery data (hours on 2 cores; resumable, skips finished runs).
ablation: venv
	$(BIN)/python benchmarks/ablation.py --data $(or $(DATA),../shared/data/grocery/train) \
		--val $(or $(VAL),../shared/data/grocery/val) --out runs/ablation

clean:
	rm -rf $(DIST) runs data build *.egg-info
