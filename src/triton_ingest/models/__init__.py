"""The models and how they are built: what runs inside Triton's model instances.

``tokenization`` (UTF-8 policy, truncation, bucket padding), ``batching`` (length-aware packing
of ragged rows), ``embedding`` (the ONNX Runtime embedder), ``artifacts`` (where the built
model files live), ``export`` (all-MiniLM-L6-v2 -> ONNX, checked against sentence-transformers)
and ``engine`` (the TensorRT engine for the ``gpu`` target).

May import ``triton_ingest.errors``, ``contracts`` and ``paths`` only: never ``pipeline``,
``serving`` or ``gateway``.
"""
