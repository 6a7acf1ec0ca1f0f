# DeepProduct: two commands on a fresh machine.
#   make export   create the venv, train on the built-in dataset (or DATA=<root>), export to dist/
#   make test     the test suite (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DATA   ?=
VAL    ?=
EPOCHS ?=
RUN    ?= runs/$(if $(DATA),$(notdir $(patsubst %/,%,$(DATA))),builtin)
DIST   ?= dist
BUILTIN = data/builtin

.PHONY: export train test lint venv java-deps ablation yardstick bench arm-parity fuzz clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,export,dev,bench,server,approx]'
	touch $@

TRAIN_DATA = $(or $(DATA),$(BUILTIN)/train)
VAL_DATA   = $(if $(DATA),$(VAL),$(BUILTIN)/val)

# Train (an interrupted run resumes from its last epoch), then export to $(DIST)/.
train: venv
	$(if $(DATA),,$(BIN)/deepproduct make-dataset --out $(BUILTIN))
	$(BIN)/deepproduct train --data $(TRAIN_DATA) $(if $(VAL_DATA),--val $(VAL_DATA)) \
		$(if $(EPOCHS),--epochs $(EPOCHS)) --out $(RUN) --resume

export: train
	$(BIN)/deepproduct export --checkpoint $(RUN)/model.pt --calib $(TRAIN_DATA) \
		$(if $(VAL_DATA),--val $(VAL_DATA)) --out $(DIST)

# JUnit and Gson from Debian for the Android core's tests (no Gradle here). Without root
# or apt the Java tests skip with a message saying so.
JAVA_JARS = /usr/share/java/junit-platform-console-standalone.jar /usr/share/java/gson.jar
java-deps:
	@if ls $(JAVA_JARS) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q junit5 libgoogle-gson-java >/dev/null || \
		echo "java-deps: apt-get install junit5 libgoogle-gson-java failed; Java tests will skip"; \
	else echo "java-deps: need junit5 and libgoogle-gson-java (apt); Java tests will skip"; fi

test: lint java-deps
	$(BIN)/python -m pytest -q

# lint-imports: the layer contract in pyproject.toml (mobile_sdk <- trainer <- export <-
# benchmarks, and no torch in the runtime)
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The issue-2 ablation on the grocery data (hours on 2 cores; resumable, skips finished runs).
ablation: venv
	$(BIN)/python benchmarks/ablation.py --data $(or $(DATA),../shared/data/grocery/train) \
		--val $(or $(VAL),../shared/data/grocery/val) --out runs/ablation

# The issue-17 yardstick: seen / catalog-only / unseen products, every query ranked against
# the whole catalog, 2 folds per recipe (hours on 2 cores; resumable, reuses finished runs).
RECIPES ?= pretrained head-only robust+distill plain plain+memory plain+memory+catalog-views \
	plain+memory+catalog-views+288
FOLDS   ?= 0 1
yardstick: venv
	$(BIN)/python benchmarks/yardstick.py --data $(or $(DATA),../shared/data/grocery/train) \
		--val $(or $(VAL),../shared/data/grocery/val) --out runs/yardstick \
		--recipes $(RECIPES) --folds $(FOLDS)

# The shipped export, made by 'make export' when it is not there yet.
$(DIST)/model.tflite:
	$(MAKE) export

# Benchmarks (benchmarks/README.md): latency of every export and the checkpoint, end to
# end, accuracy, plots -> benchmarks/report/ (not committed).
CHECKPOINT ?= $(wildcard $(RUN)/model.pt)
bench: venv $(DIST)/model.tflite
	$(BIN)/deepproduct bench report --dist $(DIST) $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) \
		$(if $(VAL_DATA),--data $(VAL_DATA)) --out benchmarks/report

# mobile_sdk on arm64 under qemu-user against x86 (needs root; the arm64 root is cached
# in ~/.cache/deepproduct after the first run).
arm-parity: venv $(DIST)/model.tflite
	$(BIN)/python -m benchmarks.arm_parity --dist $(DIST) --out benchmarks/report

# Long fuzz runs, FUZZ_SECONDS per target (make test runs a short one). Crashes, hangs
# and memory blow-ups land in runs/fuzz/<target>/ as crash-*, timeout-*, oom-*.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= index metadata image
fuzz: venv
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p runs/fuzz/$$t/corpus && \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s" && \
		$(BIN)/python fuzz/fuzz_$$t.py -max_total_time=$(FUZZ_SECONDS) -restart_every=120 \
			-timeout=20 -rss_limit_mb=2048 -artifact_prefix=runs/fuzz/$$t/ \
			runs/fuzz/$$t/corpus 2>runs/fuzz/$$t/log.txt; rc=$$?; \
		tail -1 runs/fuzz/$$t/log.txt; \
		if [ $$rc -ne 0 ]; then echo "fuzz_$$t FAILED (exit $$rc): see runs/fuzz/$$t/"; exit 1; fi; \
	done

clean:
	rm -rf $(DIST) runs data build *.egg-info
