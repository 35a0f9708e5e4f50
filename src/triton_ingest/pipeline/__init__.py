"""What happens to a document: bytes -> pages of elements -> token chunks -> embeddings, with progress.

``documents`` (type detection, page ranges) over the formats ``pdf`` (text layer, rendering for
OCR) with ``pdf_structure`` (furniture, outline, ruled tables), ``office`` (DOCX, PPTX), ``text``
(HTML, Markdown, text) and ``images`` (PNG, JPEG, TIFF, WebP), which make ``elements`` (the typed
document model: headings, paragraphs, tables as Markdown); ``extraction`` (worker processes,
hard time limit), ``ocr`` (one image through the OCR models), ``regions`` (tables and figures on
page images, through the page-element and table-structure models), ``layout`` (reading order, and
an OCR'd page's elements),
``chunking`` (token windows with provenance, sections and tables), ``options`` (the ``OPTIONS`` of ``ingest`` and ``ocr``, and the operator's ceilings on them), ``ingest`` (the
pipeline), ``nvcf`` (the NVCF request parameters that are trusted, and where), ``progress`` (NVCF
progress and result files) and ``metrics`` (ingest counters).

Pure Python/numpy, testable without Triton: models are called through injected functions
(``ingest.EmbedFn``, ``ocr.ModelFn``). May import ``triton_ingest.errors``, ``contracts``,
``paths`` and ``triton_ingest.models``; never ``serving`` or ``gateway``.
"""
