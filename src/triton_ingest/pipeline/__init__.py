"""What happens to a document: bytes -> pages -> token chunks -> embeddings, with progress.

``documents`` (type detection, page ranges) over the formats ``pdf`` (text layer, rendering for
OCR), ``office`` (DOCX, PPTX), ``text`` (HTML, Markdown, text) and ``images`` (PNG, JPEG, TIFF,
WebP); ``extraction`` (worker processes, hard time limit), ``ocr`` (one image through the OCR
models), ``layout`` (reading order), ``chunking`` (token windows with provenance), ``options``
(the ``OPTIONS`` of ``ingest`` and ``ocr``, and the operator's ceilings on them), ``ingest`` (the
pipeline), ``nvcf`` (the NVCF request parameters that are trusted, and where), ``progress`` (NVCF
progress and result files) and ``metrics`` (ingest counters).

Pure Python/numpy, testable without Triton: models are called through injected functions
(``ingest.EmbedFn``, ``ocr.ModelFn``). May import ``triton_ingest.errors``, ``contracts``,
``paths`` and ``triton_ingest.models``; never ``serving`` or ``gateway``.
"""
