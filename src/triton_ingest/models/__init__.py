"""The models and how they are built: what runs inside Triton's model instances.

``tokenization`` (UTF-8 policy, truncation, bucket padding), ``batching`` (length-aware packing
of ragged rows), ``embedding`` (the ONNX Runtime embedder), ``ocr`` (pre- and post-processing of
the OCR detector and recognizer), ``image_models`` (those two on ONNX Runtime), ``artifacts``
(where the built model files live), ``export`` (all-MiniLM-L6-v2 -> ONNX and its int8 variants,
checked against sentence-transformers on the texts of ``check_texts`` with ``int8_check``; the int8
models are smoothed by ``smoothing``, calibrated on ``corpus``), ``int8_choice`` (which int8 variant
is accurate on the CPU that loads it, cached in the manifest), ``ocr_export`` (the OCR models, taken from their wheels),
``page_elements`` and ``table_structure`` (pre- and post-processing of the layout detector and the
table-structure model), ``structure_export`` (those two, taken from their wheels), ``engine``
(TensorRT engines for the ``gpu`` target) and ``engine_specs`` (what each engine is built for and
how it is checked).

May import ``triton_ingest.errors``, ``contracts`` and ``paths`` only: never ``pipeline``,
``serving`` or ``gateway``.
"""
