"""The CLI's index commands: ``search`` and ``index stats|list|delete|drop`` (and the ``--index``
options that ``ingest`` shares). The Milvus URI is a Milvus Lite file (``./kb.db``) or a server
(``http://host:19530``, token from $MILVUS_TOKEN, never from a flag)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ._client import Client
from ._index_schema import MAX_TOP_K
from .index import DEFAULT_COLLECTION, Index

SNIPPET = 100


def add_index_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--index", required=required, metavar="URI",
                        help="Milvus: a Milvus Lite file (./kb.db) or http(s)://host:19530 ($MILVUS_TOKEN)")
    parser.add_argument("--collection", default=DEFAULT_COLLECTION, help=f"default {DEFAULT_COLLECTION}")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")


def _top_k(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--top-k must be an integer, got {value!r}") from None
    if not 1 <= number <= MAX_TOP_K:
        raise argparse.ArgumentTypeError(f"--top-k must be in [1, {MAX_TOP_K}], got {number}")
    return number


def add_commands(commands) -> None:
    search = commands.add_parser("search", help="search an index for the chunks nearest to a question")
    search.add_argument("query")
    add_index_options(search, required=True)
    search.add_argument("--top-k", type=_top_k, default=5, help=f"results, 1..{MAX_TOP_K} (default 5)")
    search.add_argument("--hybrid", action="store_true", help="fuse dense and BM25 keyword search (RRF)")
    index = commands.add_parser("index", help="an index's stats, documents, deletion by source, or drop")
    index.add_argument("action", choices=("stats", "list", "delete", "drop"))
    add_index_options(index, required=True)
    index.add_argument("--source", help="with delete: the source (file name) whose rows go")


def open_index(args: argparse.Namespace) -> Index:
    index = Index(args.index, args.collection)
    try:
        import pymilvus  # noqa: F401 - it configures its loggers on import; quiet them after that
    except ImportError:
        return index  # Index says what to install
    for name in ("pymilvus", "pymilvus.milvus_client", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # failures are reported as client errors
    return index


def source_names(files: list[Path]) -> dict[Path, str]:
    """Each file's source in the index: its name, or its path where two files share a name."""
    names = [f.name for f in files]
    return {f: f.name if names.count(f.name) == 1 else str(f) for f in files}


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 3] + "..."


def cmd_search(client: Client, args: argparse.Namespace) -> int:
    with open_index(args) as index:
        hits = client.search(args.query, index=index, top_k=args.top_k, hybrid=args.hybrid)
    if args.json:
        print(json.dumps({"results": [h.to_json() for h in hits]}, ensure_ascii=False))
        return 0
    print(f"{'score':>7}  {'source':30} {'pages':8} text")
    for hit in hits:
        pages = ",".join(map(str, hit.pages))
        print(f"{hit.score:7.4f}  {hit.source[-30:]:30} {pages[:8]:8} {_snippet(hit.text)}")
    if not hits:
        print("(no results)")
    return 0


def cmd_index(client: Client, args: argparse.Namespace) -> int:
    if args.action == "delete" and not args.source:
        raise SystemExit("triton-ingest: index delete needs --source NAME")
    with open_index(args) as index:
        if args.action == "stats":
            payload = index.stats()
            text = "\n".join(f"{k}: {v}" for k, v in payload.items())
        elif args.action == "list":
            payload = {"documents": index.documents()}
            text = "\n".join(f"{d['ingested_at']}  {d['chunks']:>6}  {d['document_id'][:12]}  {d['source']}"
                             for d in payload["documents"]) or "(empty)"
        elif args.action == "delete":
            payload = {"source": args.source, "deleted": index.delete_source(args.source)}
            text = f"deleted {payload['deleted']} rows of {args.source}"
        else:
            payload = {"collection": args.collection, "dropped": index.drop()}
            text = f"dropped {args.collection}" if payload["dropped"] else f"no collection {args.collection}"
    print(json.dumps(payload, ensure_ascii=False) if args.json else text)
    return 0
