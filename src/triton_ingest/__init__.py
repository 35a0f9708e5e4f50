"""triton-ingest: document ingestion and text embeddings served by NVIDIA Triton Inference Server.

Subpackages, by concern:

    pipeline/  what happens to a document: extraction, chunking, options, progress, metrics
    models/    the models and how they are built: tokenizer, ONNX embedder, export, TensorRT engine
    serving/   running Triton: the Python-backend adapter, the launcher, watchdog, container start-up
    gateway/   what stands in front of Triton: the local NVCF API, NVCF deployment commands

At the top, only what every subpackage shares (``errors``, ``contracts``, ``paths``) and the
entry points that compose them (``cli``, ``demo``). The shared modules import no subpackage;
``tests/test_layout.py`` checks these rules and each subpackage's own.
"""
