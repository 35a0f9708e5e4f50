"""Running Triton: the Python-backend glue, the launcher and what keeps the server honest.

``triton_adapter`` (the only module that imports ``triton_python_backend_utils``),
``ingest_model`` (the shared ``ingest``/``ingest_stream`` model set-up), ``repository``
(per-target rendering of the model repository), ``server`` and ``serve`` (the tritonserver
launcher), ``watchdog`` and ``supervisor`` (stub restarts, drain on SIGTERM) and ``container``
(the container's ``prepare`` entrypoint).

May import the shared top-level modules, ``models`` and ``pipeline``; never ``gateway``.
"""
