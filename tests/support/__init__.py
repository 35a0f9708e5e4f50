"""Helpers shared by the tests (importable as ``support``; ``pythonpath`` in pyproject.toml).

    clients    tritonclient helpers: tensors, embed and ingest calls, concurrency, NVCF headers
    documents  real test documents generated on the spot (fpdf2, python-docx, HTML)
    hostile    mutated documents, a DOCX bomb, a PDF with a huge page count
    load       load-test workloads, latency percentiles, process-tree RSS, readiness sampling
    pytriton   ``python -m pytriton_app`` as a subprocess with TritonServer's interface
    configs    ``config.pbtxt`` tensors as contract specs
    waiting    waiting for observable server state instead of sleeping

Fixtures live in ``tests/conftest.py``; nothing here is a test.
"""
