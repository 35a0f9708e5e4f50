"""``triton-ingest demo`` (``make run``): start Triton, embed example texts, show similarities.

Talks to the server over the standard KServe v2 HTTP protocol with tritonclient.
"""

from __future__ import annotations

import numpy as np
import tritonclient.http as httpclient

from .contracts import EMBED
from .server import TritonServer

QUERIES = ["How do I run Triton without a GPU?", "Which animal purrs?"]
DOCUMENTS = [
    "Triton Inference Server can serve models on CPU-only machines.",
    "Cats purr when they are content.",
    "The stock market fell sharply on Tuesday.",
    "Le serveur Triton fonctionne aussi sans carte graphique.",
]


def embed_http(url: str, texts: list[str]) -> np.ndarray:
    """Embed texts through the `embed` ensemble over HTTP."""
    text = EMBED.input("TEXT")
    client = httpclient.InferenceServerClient(url)
    try:
        tensor = httpclient.InferInput(text.name, [len(texts), 1], text.wire_dtype)
        tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=object))
        return client.infer(EMBED.name, [tensor]).as_numpy("EMBEDDING")
    finally:
        client.close()


def similarity_table(queries: list[str], docs: list[str], q: np.ndarray, d: np.ndarray) -> str:
    """Each query with the documents ranked by cosine similarity."""
    lines = []
    for query, row in zip(queries, q @ d.T):
        lines.append(f"\nquery: {query}")
        for j in np.argsort(-row):
            lines.append(f"  {row[j]:+.3f}  {docs[j]}")
    return "\n".join(lines)


def main() -> int:
    with TritonServer.on_free_ports() as server:
        print(f"tritonserver ready on HTTP {server.http_url} / gRPC {server.grpc_url}")
        embeddings = embed_http(server.http_url, QUERIES + DOCUMENTS)
        q, d = embeddings[: len(QUERIES)], embeddings[len(QUERIES) :]
        print(f"embedded {len(embeddings)} texts -> {embeddings.shape[1]}-d vectors, "
              f"norms {np.linalg.norm(embeddings, axis=1).min():.4f}..{np.linalg.norm(embeddings, axis=1).max():.4f}")
        print(similarity_table(QUERIES, DOCUMENTS, q, d))
    print("\ntritonserver stopped cleanly")
    return 0
