"""What happens to a document: bytes -> pages -> token chunks -> embeddings, with progress.

``documents`` (type detection, extraction), ``chunking`` (token windows with provenance),
``options`` (the ``OPTIONS`` of ``ingest``), ``ingest`` (the pipeline), ``progress`` (NVCF
progress and result files) and ``metrics`` (ingest counters).

Pure Python/numpy, testable without Triton: models are called through injected functions
(``ingest.EmbedFn``). May import ``triton_ingest.errors``, ``contracts``, ``paths`` and
``triton_ingest.models``; never ``serving`` or ``gateway``.
"""
