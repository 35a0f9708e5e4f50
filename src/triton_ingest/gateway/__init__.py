"""What stands in front of Triton: HTTP front doors that talk to a running server.

``nvcf_local`` (``gateway``, alias ``nvcf-local``: NVCF's invocation API in front of a Triton, plus
the routes of ``openai_api``: OpenAI-compatible ``/v1/embeddings`` and ``/v1/models``, and of
``jobs_api``: NV-Ingest's ``/v1/submit_job`` and ``/v1/fetch_job``, with the job parsing in
``jobs``; ``limits`` holds the ceilings every route enforces and the refusal to serve off loopback
without a key), ``job_worker`` (what runs a store's jobs on Triton, in the gateway or as the
``worker`` command; large PDFs split into sub-jobs by ``job_split``; its Prometheus metrics are in
``job_metrics``) and ``nvcf_deploy`` (the ``ngc``/curl commands for ``deploy/nvcf``).

May import the shared top-level modules, ``jobs`` (the job stores), ``models`` and ``pipeline``
(to count tokens or read progress files, say), and the client package; never ``serving``: the gateway reaches Triton
only over the network, as any client does.
"""
