"""The ingest pipeline served Python-natively with PyTriton (``python -m pytriton_app``).

PyTriton runs the same tritonserver on the rendered model repository (tokenizer, embedder,
embed) and binds ``ingest`` and ``ingest_stream`` as Python callables that reuse
``triton_ingest.pipeline.ingest`` unchanged; only the embed call differs (gRPC to the same server
instead of BLS).
"""
