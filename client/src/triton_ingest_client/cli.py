"""``triton-ingest``: embed, ingest (optionally into a Milvus index), search, submit, fetch and health.

Common options go before the subcommand: ``--url``, ``--protocol``, ``--nvcf-function-id``,
``--json``. The NVCF API key is read from $NVCF_API_KEY or $NGC_API_KEY only (a gateway's, for
``submit``/``fetch --gateway``, from $TRITON_INGEST_API_KEY), never from a flag, and is never printed. ``serve`` and ``nvcf-local`` run the server package's
commands when it is installed.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import _cli_index, _jobstore
from ._client import Client
from ._errors import TritonIngestClientError
from ._results import IngestResult, JobResult
from .contracts import EMBED_MODELS
from .jobs import GatewayJobs

SERVER_COMMANDS = ("serve", "gateway", "nvcf-local", "demo")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triton-ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="Triton address (default localhost:8000 http / localhost:8001 grpc)")
    parser.add_argument("--protocol", choices=("http", "grpc"),
                        help="default http; grpc for ingest --index without --url (rows stream into the index)")
    parser.add_argument("--nvcf-function-id", help="call this NVCF function instead of Triton directly")
    parser.add_argument("--nvcf-version-id")
    parser.add_argument("--nvcf-base-url", default="https://api.nvcf.nvidia.com",
                        help="NVCF API (or a local `triton-ingest nvcf-local`)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)
    embed = commands.add_parser("embed", help="embed texts")
    embed.add_argument("texts", nargs="+")
    embed.add_argument("--model", choices=EMBED_MODELS, default=EMBED_MODELS[0], help="fp32 embed (default) or embed_int8")
    ingest = commands.add_parser("ingest", help="ingest files, directories or globs")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--out", type=Path, help="write every chunk with its embedding as JSON lines "
                                                  "(without --out or --json, the chunks' text is printed)")
    ingest.add_argument("--options", type=json.loads, help='OPTIONS as JSON, e.g. \'{"chunk_size": 128}\'')
    ingest.add_argument("--fail-fast", action="store_true", help="stop at the first failed document")
    _cli_index.add_index_options(ingest, required=False)
    submit = commands.add_parser("submit", help="submit ingest jobs (files, directories, globs, or a JSON list in "
                                                "--file); prints their ids")
    submit.add_argument("paths", nargs="*", help="documents to submit (files, directories or globs)")
    submit.add_argument("--file", type=Path, help="a JSON list of jobs (paths, or {data|path, filename, options})")
    submit.add_argument("--options", type=json.loads, help="OPTIONS as JSON for the documents in PATHS")
    submit.add_argument("--index", metavar="URI", help="with --gateway: its workers write the chunks into this Milvus "
                                                        "(a URI the gateway allows with --index-uri)")
    submit.add_argument("--collection", help="with --index: the collection (default: the server's, triton_ingest)")
    submit.add_argument("--wait", action="store_true", help="with --gateway: wait for every job with a progress bar; "
                                                             "exit 1 when any failed")
    fetch = commands.add_parser("fetch", help="fetch job results by id")
    fetch.add_argument("--ids", required=True, help="comma-separated job ids")
    fetch.add_argument("--wait", type=float, default=600.0, help="seconds to wait for unfinished gateway or NVCF jobs")
    for command in (submit, fetch):
        command.add_argument("--gateway", metavar="URL", help="a triton-ingest gateway: its job API runs and keeps "
                                                               "the jobs (key: $TRITON_INGEST_API_KEY)")
        command.add_argument("--jobs-dir", type=Path, default=Path(".triton-ingest-jobs"),
                             help="where results are kept without a gateway or NVCF (default .triton-ingest-jobs)")
    fetch.add_argument("--out", type=Path, help="write the chunks of successful jobs as JSON lines")
    commands.add_parser("health", help="liveness and readiness of the server and models")
    _cli_index.add_commands(commands)
    return parser


def _protocol(args: argparse.Namespace) -> str:
    """gRPC where ``ingest --index`` can stream (no --url or --protocol given), else HTTP."""
    if args.protocol:
        return args.protocol
    streams = args.command == "ingest" and args.index and not args.url and not args.nvcf_function_id
    return "grpc" if streams else "http"


def _client(args: argparse.Namespace) -> Client:
    if args.nvcf_function_id:
        return Client.nvcf(args.nvcf_function_id, version_id=args.nvcf_version_id, base_url=args.nvcf_base_url,
                           protocol=_protocol(args), timeout=args.timeout, retries=args.retries)
    return Client(args.url, _protocol(args), timeout=args.timeout, retries=args.retries)


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))] or [Path(raw)]
        for match in matches:
            files += sorted(p for p in match.rglob("*") if p.is_file()) if match.is_dir() else [match]
    return files


def _write_chunks(handle, result: IngestResult) -> None:
    for chunk, vector in zip(result.chunks, result.embeddings):
        handle.write(json.dumps({**chunk, "embedding": [round(float(x), 7) for x in vector]}, ensure_ascii=False) + "\n")


def _print_chunks(source: str, result: IngestResult) -> None:
    """Each chunk's pages, how they were read (text layer or OCR) and its text."""
    if "index" in result.summary:
        index = result.summary["index"]
        print(f"== {source}: {index['rows']} chunks indexed into {index['collection']} "
              f"({index['replaced']} rows of an older version replaced)")
        return
    print(f"== {source}: {len(result.chunks)} chunks")
    for chunk in result.chunks:
        pages = ",".join(map(str, chunk["pages"]))
        print(f"[{chunk['chunk_index']}] page {pages} ({chunk.get('method', 'text')}): " + " ".join(chunk["text"].split()))


def _table(rows: list[JobResult]) -> str:
    lines = [f"{'document':40} {'status':7} {'pages':>5} {'ocr':>4} {'chunks':>6}  error"]
    for row in rows:
        summary = row.result.summary if row.ok else {}
        error = "" if row.ok else f"{type(row.error).__name__}: {row.error}"
        lines.append(f"{row.source[-40:]:40} {'ok' if row.ok else 'FAILED':7} {summary.get('pages', ''):>5} "
                     f"{summary.get('ocr_pages', ''):>4} {summary.get('chunks', ''):>6}  {error}")
    ok = sum(r.ok for r in rows)
    lines.append(f"{ok} of {len(rows)} documents ingested, {len(rows) - ok} failed")
    return "\n".join(lines)


def _job_json(row: JobResult) -> dict:
    if row.ok:
        return {"id": row.id, "source": row.source, "ok": True, "summary": row.result.summary}
    return {"id": row.id, "source": row.source, "ok": False,
            "error": {"type": type(row.error).__name__, "message": str(row.error)}}


def cmd_embed(client: Client, args) -> int:
    vectors = client.embed(args.texts, args.model)
    if args.json:
        print(json.dumps({"embeddings": vectors.round(7).tolist()}))
    else:
        for text, vector in zip(args.texts, vectors):
            print(f"{text[:40]:40} dim={len(vector)} norm={np.linalg.norm(vector):.4f} [{vector[0]:+.4f} {vector[1]:+.4f} ...]")
    return 0


def cmd_ingest(client: Client, args) -> int:
    if args.out and args.index:
        raise SystemExit("triton-ingest: --out and --index cannot be combined (indexed chunks stay in the index)")
    index = _cli_index.open_index(args) if args.index else None
    files = _expand(args.paths)
    sources = _cli_index.source_names(files) if index else {f: None for f in files}
    rows: list[JobResult] = []
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    try:
        for path in files:
            rows.append(_ingest_one(client, args, path, sources[path], index))
            if out and rows[-1].ok:
                _write_chunks(out, rows[-1].result)
            if args.fail_fast and not rows[-1].ok:
                break
    finally:
        if out:
            out.close()
        if index:
            index.close()
    print(json.dumps([_job_json(r) for r in rows]) if args.json else _table(rows))
    return 0 if rows and all(r.ok for r in rows) else 1


def _ingest_one(client: Client, args, path: Path, source: str | None, index) -> JobResult:
    """One document, with a progress bar (pages/s) while it runs."""
    bar = tqdm(total=100, desc=path.name[:30], unit="%", disable=args.json, leave=False,
               bar_format="{desc} {bar} {n:.0f}% {postfix}")
    started = time.monotonic()

    def progress(p):
        bar.update(p.percent - bar.n)
        if p.pages_done:
            bar.set_postfix_str(f"{p.pages_done / max(time.monotonic() - started, 1e-6):.1f} pages/s")

    try:
        result = client.ingest(path, args.options, on_progress=progress, filename=source, index=index)
    except TritonIngestClientError as exc:
        return JobResult(str(path), str(path), error=exc)
    finally:
        bar.close()
    if not args.out and not args.json:
        _print_chunks(str(path), result)
    return JobResult(str(path), str(path), result=result)


def _read_jobs(path: Path) -> list:
    try:
        jobs = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"triton-ingest: cannot read jobs file {path}: {exc}")
    if not isinstance(jobs, list):
        raise SystemExit(f"triton-ingest: {path} must hold a JSON list of jobs")
    return jobs


def _submitted_jobs(args) -> list:
    """The jobs of ``submit``: ``--file``'s list, then PATHS with ``--options`` (and ``--index``)."""
    if not args.file and not args.paths:
        raise SystemExit("triton-ingest submit: give documents (PATHS) or --file JOBS.json")
    if (args.index or args.collection or args.wait) and not args.gateway:
        raise SystemExit("triton-ingest submit: --index, --collection and --wait need --gateway")
    options = dict(args.options or {})
    if args.index or args.collection:
        options["index"] = {k: v for k, v in (("uri", args.index), ("collection", args.collection)) if v}
    jobs = _read_jobs(args.file) if args.file else []
    return jobs + [{"path": str(path), "options": options} for path in _expand(args.paths)]


def cmd_submit(client: Client, args) -> int:
    jobs = _submitted_jobs(args)
    if args.gateway:
        gateway = GatewayJobs(args.gateway, timeout=args.timeout)
        ids = gateway.submit(jobs)
        if not args.wait:
            print(json.dumps({"ids": ids}) if args.json else "\n".join(ids))
            return 0
        bar = tqdm(total=100 * len(ids), desc=f"{len(ids)} jobs", disable=args.json, unit="%",
                   bar_format="{desc} {bar} {percentage:.0f}% {postfix}")
        with bar:
            rows = gateway.fetch(ids, timeout=None, on_status=lambda items: _show_jobs(bar, items))
        print(json.dumps([_job_json(r) for r in rows]) if args.json else _table(rows))
        return 0 if all(r.ok for r in rows) else 1
    ids = client.submit(jobs)
    if not args.nvcf_function_id:  # no server-side job store: keep results in --jobs-dir
        for row in client.fetch(ids):
            _jobstore.save(args.jobs_dir, row)
    print(json.dumps({"ids": ids}) if args.json else "\n".join(ids))
    return 0


def _show_jobs(bar, items: dict) -> None:
    """The bar at the sum of every job's progress (a finished one counts 100)."""
    done = sum(1 for item in items.values() if item["status"] != "pending")
    bar.update(sum(100 if item["status"] != "pending" else item.get("progress", 0) for item in items.values()) - bar.n)
    bar.set_postfix_str(f"{done} of {len(items)} finished")


def cmd_fetch(client: Client, args) -> int:
    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    if args.gateway:
        rows = GatewayJobs(args.gateway, timeout=args.timeout).fetch(ids, timeout=args.wait)
    elif args.nvcf_function_id:
        rows = client.fetch(ids, timeout=args.wait)
    else:
        rows = [_jobstore.load(args.jobs_dir, i) for i in ids]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            for row in rows:
                if row.ok:
                    _write_chunks(handle, row.result)
    print(json.dumps([_job_json(r) for r in rows]) if args.json else _table(rows))
    return 0 if all(r.ok for r in rows) else 1


def cmd_health(client: Client, args) -> int:
    health = client.health()
    print(json.dumps(health) if args.json else
          f"live={health['live']} ready={health['ready']} models={health['models']}" +
          (f" error={health['error']}" if "error" in health else ""))
    return 0 if health["ready"] else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SERVER_COMMANDS:
        try:
            from triton_ingest.cli import main as server_main
        except ImportError:
            print(f"triton-ingest: '{argv[0]}' needs the server package (pip install triton-ingest)", file=sys.stderr)
            return 2
        return server_main(argv)
    args = _parser().parse_args(argv)
    handler = {"embed": cmd_embed, "ingest": cmd_ingest, "submit": cmd_submit, "fetch": cmd_fetch,
               "health": cmd_health, "search": _cli_index.cmd_search, "index": _cli_index.cmd_index}[args.command]
    with _client(args) as client:
        try:
            return handler(client, args)
        except TritonIngestClientError as exc:
            print(f"triton-ingest: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
