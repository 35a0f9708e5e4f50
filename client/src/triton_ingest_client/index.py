"""A Milvus index of ingested chunks: Milvus Lite embedded (a ``.db`` file) or a Milvus server or
cluster (``http(s)://host:19530``, token from ``$MILVUS_TOKEN``), through one ``MilvusClient``.

    from triton_ingest_client import Client, Index
    with Client() as client, Index("./kb.db") as index:         # collection "triton_ingest"
        client.ingest("manual.pdf", index=index)                 # chunks, vectors, provenance
        for hit in client.search("how is progress reported?", index=index, hybrid=True):
            print(f"{hit.score:.3f} {hit.source} {hit.pages} {hit.text[:60]}")

Semantics (see :class:`DocumentWrite`): one row per chunk, keyed by document (SHA-256), source and
chunk index, so ingesting the same file twice rewrites the same rows. A changed file is written
first and its old version deleted after. A document that fails leaves no rows of its own. Each
collection records its model and chunking (:class:`IndexProfile`); another model is an error.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Any, Callable

import numpy as np

from ._errors import InvalidInputError, NotFoundError, ServerError, TritonIngestClientError, UnavailableError
from ._index_schema import (
    MAX_PAGES_PER_CHUNK,
    MAX_SECTION_DEPTH,
    MAX_SOURCE_BYTES,
    MAX_TEXT_BYTES,
    MAX_TITLE_BYTES,
    MAX_TOP_K,
    OUTPUT_FIELDS,
    PROFILE_PROPERTY,
    STRUCTURE_FIELDS,
    IndexProfile,
    SearchHit,
    create_collection,
    literal,
    source_key,
)

DEFAULT_COLLECTION = "triton_ingest"
COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
__all__ = ["DEFAULT_COLLECTION", "MAX_TOP_K", "DocumentWrite", "Index", "IndexProfile", "SearchHit"]


class _QuietMvccWarning(logging.Filter):
    """Milvus Lite has no MVCC timestamp to give a query iterator; pymilvus warns at every listing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


_QUIET_MVCC = _QuietMvccWarning()


class Index:
    """One collection in Milvus. Connects on first use; every failure is a client error:
    an unreachable URI is UnavailableError, a bad URI or another model InvalidInputError."""

    def __init__(self, uri: str | os.PathLike, collection: str = DEFAULT_COLLECTION, token: str | None = None,
                 timeout: float = 60.0):
        self.uri = os.fspath(uri)
        if not (self.uri.endswith(".db") or self.uri.startswith(("http://", "https://"))):
            raise InvalidInputError(f"index URI {self.uri!r} must be a Milvus Lite file ending in .db "
                                    "or a Milvus server as http(s)://host:19530")
        if not COLLECTION_NAME.fullmatch(collection or ""):
            raise InvalidInputError(f"collection name {collection!r} must start with a letter or _ and hold "
                                    "only letters, digits and _ (at most 255)")
        self.collection, self.timeout = collection, timeout
        self._token = os.environ.get("MILVUS_TOKEN", "") if token is None else token
        self._milvus = None
        self._checked: IndexProfile | None = None
        self._unflushed = False  # rows written to Milvus Lite since the last flush
        self.structure_fields: tuple[str, ...] = ()  # of STRUCTURE_FIELDS, those the collection has (profile())

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, fn: Callable, *args, **kwargs) -> Any:
        from pymilvus.exceptions import ConnectionConfigException, MilvusException

        try:
            return fn(*args, **kwargs)
        except ConnectionConfigException as exc:
            raise InvalidInputError(f"cannot open the index {self.uri}: {exc.message}{self._lock_hint()}") from None
        except MilvusException as exc:
            if exc.code == 2 or "connect" in exc.message.lower():
                raise UnavailableError(f"cannot reach Milvus at {self.uri}: {exc.message}") from None
            raise ServerError(f"Milvus ({self.uri}, collection {self.collection}): {exc.message}") from None

    def _lock_hint(self) -> str:
        """Why a Milvus Lite file would not open, when the reason is another process holding it."""
        lock = os.path.join(self.uri, "LOCK")
        if not os.path.exists(lock):
            return ""
        import fcntl

        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return (" (another process has it open: Milvus Lite serves a file to one process at a time; "
                        "use a Milvus server for concurrent writers)")
            fcntl.flock(handle, fcntl.LOCK_UN)
        return ""

    @property
    def milvus(self):
        """The ``pymilvus.MilvusClient`` (connected on first use)."""
        if self._milvus is None:
            try:
                from pymilvus import MilvusClient
            except ImportError:
                raise TritonIngestClientError("an index needs pymilvus and milvus-lite: "
                                              "pip install 'triton-ingest-client[milvus]'") from None
            # A connection of its own (pymilvus shares one per URI otherwise): when a shared one is
            # recovered after an UNAVAILABLE, its channel is closed under every other Index's
            # calls in flight, as under a job worker's concurrent index writes.
            self._milvus = self._call(MilvusClient, self.uri, token=self._token, timeout=self.timeout, dedicated=True)
        return self._milvus

    def _count(self, where: str = "") -> int:
        rows = self._call(self.milvus.query, self.collection, filter=where, output_fields=["count(*)"],
                          consistency_level="Strong")
        return int(rows[0]["count(*)"]) if rows else 0

    def _delete(self, where: str) -> int:
        before = self._count(where)
        if before:
            self._call(self.milvus.delete, self.collection, filter=where)
        return before

    # -- collection -------------------------------------------------------------------------
    def exists(self) -> bool:
        if self.uri.endswith(".db") and not os.path.exists(self.uri) and self._milvus is None:
            return False  # a Milvus Lite file that is not there: nothing to open (and none made)
        return bool(self._call(self.milvus.has_collection, self.collection))

    def profile(self) -> IndexProfile | None:
        """What the collection was built with (None if it does not exist)."""
        if not self.exists():
            return None
        described = self._call(self.milvus.describe_collection, self.collection)
        names = {f.get("name") for f in described.get("fields") or ()}
        self.structure_fields = tuple(name for name in STRUCTURE_FIELDS if name in names)
        profile = IndexProfile.from_properties(described.get("properties") or {})
        if profile is None:
            raise InvalidInputError(f"collection {self.collection!r} in {self.uri} was not made by triton-ingest "
                                    f"(no {PROFILE_PROPERTY} property); use another --collection")
        return profile

    def built_with(self) -> IndexProfile:
        """The profile the existing collection records (NotFoundError when there is none)."""
        if self._checked is not None:
            return self._checked
        return self._open()

    def _open(self) -> IndexProfile:
        profile = self.profile()
        if profile is None:
            raise NotFoundError(f"no collection {self.collection!r} in {self.uri}; ingest into it first "
                                "(triton-ingest ingest PATHS --index URI)")
        self._call(self.milvus.load_collection, self.collection)
        return profile

    def check_model(self, served: IndexProfile, recorded: IndexProfile | None = None) -> IndexProfile:
        """The collection's profile (``recorded``, when just read), after checking that ``served``
        embeds the same way."""
        if self._checked is not None and self._checked.same_model(served) is None:
            return self._checked
        recorded = recorded or self._open()
        problem = recorded.same_model(served)
        if problem:
            raise InvalidInputError(f"collection {self.collection!r} in {self.uri} was built with {recorded.describe()}; "
                                    f"{problem}. Use the model it was built with, or another --collection")
        self._checked = recorded
        return recorded

    def prepare(self, served: IndexProfile) -> None:
        """Create the collection for ``served`` if it is missing; otherwise check model and chunking.
        Once a collection has been checked, later documents skip the round trips."""
        if self._checked is None and not self.exists():
            try:
                self._call(create_collection, self.milvus, self.collection, served)
            except ServerError:
                if not self.exists():  # not a lost race with another writer: a real failure
                    raise
        recorded = self.check_model(served)
        differs = recorded.chunking_differs(served)
        if differs:
            raise InvalidInputError(f"collection {self.collection!r} was built with {differs}; ingest with the same "
                                    "chunking, or into another --collection")

    # -- documents --------------------------------------------------------------------------
    def document(self, source: str, document_id: str) -> "DocumentWrite":
        """Begin writing one document (call :meth:`prepare` first)."""
        return DocumentWrite(self, source, document_id)

    @property
    def _output_fields(self) -> list[str]:
        return OUTPUT_FIELDS + list(self.structure_fields)

    def search(self, vector: np.ndarray, top_k: int = 5, text: str | None = None) -> list[SearchHit]:
        """The ``top_k`` nearest chunks by cosine; with ``text``, fused with BM25 on ``text`` by
        reciprocal rank (RRF, k=60). Call :meth:`check_model` first."""
        dense = [np.asarray(vector, np.float32).tolist()]
        if text is None:
            found = self._call(self.milvus.search, self.collection, data=dense, anns_field="vector", limit=top_k,
                               output_fields=self._output_fields, search_params={"metric_type": "COSINE"})
        else:
            from pymilvus import AnnSearchRequest, RRFRanker

            candidates = min(max(4 * top_k, 50), 16_384)
            requests = [AnnSearchRequest(dense, "vector", {"metric_type": "COSINE"}, candidates),
                        AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, candidates)]
            found = self._call(self.milvus.hybrid_search, self.collection, requests, RRFRanker(60), limit=top_k,
                               output_fields=self._output_fields)
        return [SearchHit.from_milvus(hit) for hit in found[0]]

    def stats(self) -> dict:
        """Rows, documents and sources, and the profile the collection was built with."""
        profile = self._open()
        listed = self._list_documents()
        return {"uri": self.uri, "collection": self.collection, "rows": self._count(), "documents": len(listed),
                "sources": len({d["source"] for d in listed}), "profile": profile.public()}

    def documents(self) -> list[dict]:
        """One entry per (source, document): chunks, and when it was ingested (UTC, ISO 8601)."""
        self._open()
        return self._list_documents()

    def _list_documents(self) -> list[dict]:
        logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_QUIET_MVCC)
        found: dict[tuple[str, str], dict] = {}
        iterator = self._call(self.milvus.query_iterator, self.collection, batch_size=1000, filter="",
                              output_fields=["source", "document_id", "ingested_at"])
        try:
            while batch := self._call(iterator.next):
                for row in batch:
                    entry = found.setdefault((row["source"], row["document_id"]), {
                        "source": row["source"], "document_id": row["document_id"], "chunks": 0, "ingested_at": 0})
                    entry["chunks"] += 1
                    entry["ingested_at"] = max(entry["ingested_at"], row["ingested_at"])
        finally:
            iterator.close()
        for entry in found.values():
            entry["ingested_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry["ingested_at"] / 1000))
        return sorted(found.values(), key=lambda d: (d["source"], d["ingested_at"]))

    def delete_source(self, source: str) -> int:
        """Delete every row of ``source``; returns how many there were."""
        self._open()
        return self._delete(f"source == {literal(source)}")

    def drop(self) -> bool:
        """Drop the collection; False if there was none."""
        if not self.exists():
            return False
        self._call(self.milvus.drop_collection, self.collection)
        self._checked = None
        return True

    def flush(self) -> None:
        """Seal what was written. Milvus Lite searches unsealed rows by brute force in Python
        (240 ms over 2,000 rows, 18 ms once sealed and indexed), so :meth:`close` flushes it. A Milvus
        server seals on its own (and frequent flushes would hurt it), so there this does nothing."""
        if self._unflushed and self.uri.endswith(".db"):
            self._call(self.milvus.flush, self.collection)
        self._unflushed = False

    def close(self) -> None:
        """Flush (see :meth:`flush`) and disconnect."""
        if self._milvus is not None:
            try:
                self.flush()
            finally:
                self._milvus.close()
                self._milvus = None

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Index(uri={self.uri!r}, collection={self.collection!r})"


class DocumentWrite:
    """One document's rows on their way into the index.

    :meth:`add` upserts batches as they arrive. Keys are ``document_id:source_key:chunk_index``,
    so rewriting a document already present changes nothing but its ingest time. :meth:`commit`
    then deletes the source's other versions (written first, deleted after: a crash in between
    leaves the old version searchable beside a partial new one, never nothing, and the next
    ingest of that source tidies up). :meth:`abort` deletes this document's rows, unless the
    same document was already indexed at this source before, whose rows it only rewrote.

    Two writes of one source at once: every row carries its write's start (``ingested_at``, unique
    and rising within a process), and the later start wins. A commit deletes only other versions
    that started before it. One that finds rows of a later write (done or not) deletes its own rows
    instead and leaves the older versions to that write (``superseded`` in its summary): if that
    write fails, the older version is still there. No write deletes rows another is still writing.
    """

    _last_start = 0
    _start_lock = threading.Lock()

    def __init__(self, index: Index, source: str, document_id: str):
        if not source:
            raise InvalidInputError("indexing needs a source name (the document's file name)")
        if len(source.encode()) > MAX_SOURCE_BYTES:
            raise InvalidInputError(f"source name is longer than {MAX_SOURCE_BYTES} bytes")
        self.index, self.source, self.document_id = index, source, document_id
        self._mine = f"document_id == {literal(document_id)} and source == {literal(source)}"
        self._key = source_key(source)
        self.rows, self.seconds = 0, 0.0  # seconds: time spent in Milvus calls
        self.superseded = False
        self._existed = self._timed(index._count, self._mine) > 0
        self.started = self._start_stamp()

    @classmethod
    def _start_stamp(cls) -> int:
        """Milliseconds since the epoch, later than any earlier write's of this process."""
        with cls._start_lock:
            cls._last_start = max(int(time.time() * 1000), cls._last_start + 1)
            return cls._last_start

    def _timed(self, fn: Callable, *args) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - started

    def add(self, chunks: list[dict], vectors: np.ndarray) -> None:
        if not chunks:
            return
        rows = [{"id": f"{self.document_id}:{self._key}:{c['chunk_index']}", "vector": v.tolist(),
                 "text": _fit(c["text"], MAX_TEXT_BYTES), "source": self.source,
                 "pages": list(c["pages"])[:MAX_PAGES_PER_CHUNK], "chunk_index": c["chunk_index"],
                 "char_start": c["char_start"], "char_end": c["char_end"], "document_id": self.document_id,
                 "method": c.get("method", "text"), "ingested_at": self.started}
                for c, v in zip(chunks, np.asarray(vectors, np.float32))]
        if self.index.structure_fields:
            for row, chunk in zip(rows, chunks):
                row["content_type"] = str(chunk.get("content_type", "text"))[:16]
                row["section"] = [_fit(str(title), MAX_TITLE_BYTES) for title in chunk.get("section", [])][
                    :MAX_SECTION_DEPTH]
        self._timed(self.index._call, self.index.milvus.upsert, self.index.collection, rows)
        self.index._unflushed = True
        self.rows += len(rows)

    def commit(self) -> int:
        """Delete the source's older versions; returns how many rows they had. Where a later write
        of this source is already present, this one's rows go instead."""
        others = f"source == {literal(self.source)} and document_id != {literal(self.document_id)}"
        if self._timed(self.index._count, f"{others} and ingested_at > {self.started}"):
            self.superseded = True  # the later write replaces the older versions, or leaves them if it fails
            self._timed(self.index._delete, self._mine)
            return 0
        return self._timed(self.index._delete, f"{others} and ingested_at < {self.started}")

    def abort(self) -> None:
        if not self._existed:
            self.index._delete(self._mine)

    def summary(self, replaced: int) -> dict:
        return {"uri": self.index.uri, "collection": self.index.collection, "rows": self.rows,
                "replaced": replaced, "superseded": self.superseded, "document_id": self.document_id, "milvus_ms": round(self.seconds * 1000, 1)}

