"""triton-ingest client: embed and ingest over Triton HTTP/gRPC or NVIDIA Cloud Functions.

    from triton_ingest_client import Client
    with Client("localhost:8001", protocol="grpc") as client:
        vectors = client.embed(["hello", "world"])                 # (2, 384) float32
        result = client.ingest("manual.pdf", on_progress=print)    # chunks, embeddings, summary
        ids = client.submit(["a.pdf", "b.docx"])
        for job in client.fetch(ids):
            print(job.id, job.ok, job.error)
"""

from ._client import AsyncClient, Client
from ._errors import (
                      AuthenticationError,
                      CancelledError,
                      DeadlineExceededError,
                      InvalidInputError,
                      NotFoundError,
                      ServerError,
                      TritonIngestClientError,
                      UnavailableError,
)
from ._results import IngestResult, JobResult, Progress

__all__ = [
    "AsyncClient", "AuthenticationError", "CancelledError", "Client", "DeadlineExceededError", "IngestResult",
    "InvalidInputError", "JobResult", "NotFoundError", "Progress", "ServerError", "TritonIngestClientError",
    "UnavailableError",
]
