"""triton-ingest client: embed and ingest over Triton HTTP/gRPC or NVIDIA Cloud Functions, and
index and search the chunks in Milvus (the ``milvus`` extra).

    from triton_ingest_client import Client
    with Client("localhost:8001", protocol="grpc") as client:
        vectors = client.embed(["hello", "world"])                 # (2, 384) float32
        result = client.ingest("manual.pdf", on_progress=print)    # chunks, embeddings, summary
        ids = client.submit(["a.pdf", "b.docx"])
        for job in client.fetch(ids):
            print(job.id, job.ok, job.error)
        index = Index("./kb.db")                                    # Milvus Lite, or http://host:19530
        client.ingest("manual.pdf", index=index)
        hits = client.search("how is progress reported?", index=index, top_k=5, hybrid=True)
    jobs = GatewayJobs("http://localhost:9000")                     # a gateway's job API (see .jobs)
    async with AsyncClient("localhost:8001", "grpc") as client:    # asyncio, no thread per call
        vectors = await client.embed(["hello"])
"""

from ._async import AsyncClient
from ._client import Client
from ._errors import (
                      AuthenticationError,
                      CancelledError,
                      DeadlineExceededError,
                      InvalidInputError,
                      NotFoundError,
                      NotServedError,
                      ServerError,
                      TritonIngestClientError,
                      UnavailableError,
)
from ._index_schema import SearchHit
from ._results import IngestResult, JobResult, Progress
from .index import Index
from .jobs import GatewayJobs

__all__ = [
    "AsyncClient", "AuthenticationError", "CancelledError", "Client", "DeadlineExceededError", "GatewayJobs", "Index",
    "IngestResult", "InvalidInputError", "JobResult", "NotFoundError", "NotServedError", "Progress", "SearchHit", "ServerError",
    "TritonIngestClientError", "UnavailableError",
]
