# `make demo` and `make test` set everything up from a fresh clone: they create .venv when it is
# missing and install the package (editable) with its pinned dependencies.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo_output

.PHONY: install demo test clean-demo

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,ray,tfds]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/zoo-train --model_dir=$(DEMO_DIR)/beta_vae --gin_config=gin_configs/demo.gin
	$(VENV)/bin/zoo-export --model_dir=$(DEMO_DIR)/beta_vae --export_dir=$(DEMO_DIR)/export \
	    --overwrite
	$(VENV)/bin/zoo-evaluate --saved_model=$(DEMO_DIR)/export --output_dir=$(DEMO_DIR)/evaluation \
	    --metrics=all --gin_config=gin_configs/demo_evaluation.gin
	$(VENV)/bin/zoo-visualize --saved_model=$(DEMO_DIR)/export --output_dir=$(DEMO_DIR)/pictures
	@echo
	@echo "Demo finished. Results:"
	@echo "  checkpoints:          $(DEMO_DIR)/beta_vae/checkpoints"
	@echo "  TensorBoard:          tensorboard --logdir $(DEMO_DIR)/beta_vae/summaries"
	@echo "  training results:     $(DEMO_DIR)/beta_vae/train_results.json"
	@echo "  operative gin config: $(DEMO_DIR)/beta_vae/operative_config.gin"
	@echo "  SavedModel export:    $(DEMO_DIR)/export"
	@echo "  metrics:              $(DEMO_DIR)/evaluation/results.json"
	@echo "  pictures:             $(DEMO_DIR)/pictures"

test: install
	$(PY) -m pytest -q tests

clean-demo:
	rm -rf $(DEMO_DIR)
