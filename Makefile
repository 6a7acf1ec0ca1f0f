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

TRAIN_DATA = $(or $(DATA),$(BUILTIN)/train)
VAL_DATA   = $(if $(DATA),$(VAL),$(BUILTIN)/val)

# Train (an interrupted run resumes from its last epoch), then export to $(DIST)/.
train: venv
	$(if $(DATA),,$(BIN)/deepproduct make-dataset --out $(BUILTIN))
	$(BIN)/deepproduct train --data $(TRAIN_DATA) $(if $(VAL_DATA),--val $(VAL_DATA)) \
		--epochs $(EPOCHS) --out $(RUN) --resume

export: train
	$(BIN)/deepproduct export --checkpoint $(RUN)/model.pt --calib $(TRAIN_DATA) \
		$(if $(VAL_DATA),--val $(VAL_DATA)) --out $(DIST)

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
