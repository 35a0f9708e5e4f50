"""triton-ingest: document ingestion and embeddings on Triton."""
