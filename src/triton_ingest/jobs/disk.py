"""The embedded job store: one gateway, jobs on its disk, an in-process queue.

Under ``<root>/<id>/``: ``job.json`` (filename, options, path, state ``queued`` or ``running``),
``document`` (the bytes, until the job ends) and, once it ends, ``result.json``: the exact item
``fetch_job`` answers. Every file is written to a temporary name, synced and renamed, so a reader
never sees half of one. ``result.json``'s modification time starts its TTL. At start, a job left
``running`` (its gateway was killed) fails with reason ``interrupted``; a ``queued`` one runs. A job
handed back by a stopping gateway is ``queued`` again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .store import (INTERRUPTED, Claim, JobStore, NewJob, QueueFull, Stats, as_json, failed_item, is_job_id, new_id,
                    not_found_item, pending_item, with_embeddings)

log = logging.getLogger("triton_ingest.jobs")


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, all or nothing: a synced temporary file renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JobFiles:
    """Jobs on disk under ``root`` (one directory each)."""

    def __init__(self, root: Path):
        self.root = root

    def dir(self, job_id: str) -> Path:
        return self.root / job_id

    def create(self, job_id: str, job: NewJob) -> None:
        directory = self.dir(job_id)
        directory.mkdir(parents=True)
        if job.data is not None:
            write_atomically(directory / "document", job.data)
        meta = {"path": job.path, "filename": job.filename, "options": job.options, "state": "queued"}
        write_atomically(directory / "job.json", json.dumps(meta).encode())

    def meta(self, job_id: str) -> dict:
        return json.loads((self.dir(job_id) / "job.json").read_text())

    def mark(self, job_id: str, state: str) -> dict:
        """Set the job's state (``queued``, ``running``); its ``job.json``."""
        return self.update(job_id, state=state)

    def update(self, job_id: str, **fields) -> dict:
        """``job.json`` with ``fields`` set, written atomically; the new contents."""
        meta = {**self.meta(job_id), **fields}
        write_atomically(self.dir(job_id) / "job.json", json.dumps(meta).encode())
        return meta

    def finish(self, job_id: str, item: bytes) -> None:
        """Store the job's final ``fetch_job`` item; its document is no longer needed."""
        write_atomically(self.dir(job_id) / "result.json", item)
        (self.dir(job_id) / "document").unlink(missing_ok=True)

    def result(self, job_id: str) -> bytes | None:
        try:
            return (self.dir(job_id) / "result.json").read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def unfinished(self) -> Iterator[tuple[str, dict]]:
        """Jobs without a result, oldest first, with their ``job.json``."""
        if not self.root.is_dir():
            return
        jobs = []
        for directory in self.root.iterdir():
            meta_file = directory / "job.json"
            if (directory / "result.json").exists() or not meta_file.exists():
                continue
            jobs.append((meta_file.stat().st_mtime, directory.name, json.loads(meta_file.read_text())))
        for _, job_id, meta in sorted(jobs):
            yield job_id, meta

    def expire(self, ttl: float, now: float | None = None) -> list[str]:
        """Delete jobs whose result is older than ``ttl`` seconds, and leftovers of failed creates."""
        now = time.time() if now is None else now
        removed = []
        for directory in self.root.iterdir() if self.root.is_dir() else ():
            result, meta = directory / "result.json", directory / "job.json"
            stale = result.exists() and now - result.stat().st_mtime > ttl
            orphan = not meta.exists() and now - directory.stat().st_mtime > ttl
            if stale or orphan:
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory.name)
        return removed


class DiskJobStore(JobStore):
    """:class:`JobFiles` plus the queue of this process. A failure the disk refuses to store is
    kept in memory for ``ttl``, so a fetch still tells it."""

    def __init__(self, root: Path, ttl: float):
        self.files, self.ttl = JobFiles(root), ttl
        self.active: dict[str, Claim] = {}  # queued or running, in this process
        self.running: set[str] = set()
        self.unstored: dict[str, tuple[float, bytes]] = {}  # (when, item) of failures the disk refused

    async def open(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        for job_id, meta in await asyncio.to_thread(lambda: list(self.files.unfinished())):
            if meta["state"] == "running":
                message = "the gateway stopped while this job was running; submit it again"
                item = as_json(failed_item(job_id, meta["filename"], INTERRUPTED, message))
                await asyncio.to_thread(self.files.finish, job_id, item)
            else:
                self._enqueue(job_id, meta)

    def _enqueue(self, job_id: str, meta: dict) -> None:
        self.active[job_id] = Claim(job_id, meta["filename"], meta["options"], meta["path"], None,
                                    submitted=time.time())
        self.queue.put_nowait(job_id)

    async def submit(self, jobs: list[NewJob], max_unfinished: int) -> list[str]:
        if len(self.active) + len(jobs) > max_unfinished:
            raise QueueFull(len(self.active))
        ids = [new_id() for _ in jobs]
        await asyncio.to_thread(lambda: [self.files.create(i, job) for i, job in zip(ids, jobs)])
        for job_id, job in zip(ids, jobs):
            self._enqueue(job_id, {"filename": job.filename, "options": job.options, "path": job.path})
        return ids

    async def item(self, job_id: str) -> bytes:
        active = self.active.get(job_id)
        if active is not None:  # checked before the result: a job's result is written before it leaves
            return pending_item(job_id, active.filename, active.progress)
        if job_id in self.unstored:
            return self.unstored[job_id][1]
        stored = await asyncio.to_thread(self.files.result, job_id) if is_job_id(job_id) else None
        return stored if stored is not None else not_found_item(job_id, self.ttl)

    async def claim(self, consumer: str) -> Claim:
        while True:
            claim = self.active.get(await self.queue.get())
            if claim is None:
                continue
            try:
                meta = await asyncio.to_thread(self.files.mark, claim.job_id, "running")
            except (OSError, ValueError) as exc:
                await self.finish(claim, failed_item(claim.job_id, claim.filename, "server_error",
                                                     f"the gateway could not read this job: {exc}"))
                continue
            claim.path = meta["path"] or str(self.files.dir(claim.job_id) / "document")
            claim.children = meta.get("children")
            self.running.add(claim.job_id)
            return claim

    async def report(self, claim: Claim) -> None:  # progress lives in the Claim itself
        pass

    async def finish(self, claim: Claim, item: dict, embeddings: np.ndarray | None = None) -> None:
        try:
            await asyncio.to_thread(self.files.finish, claim.job_id, as_json(with_embeddings(item, embeddings)))
        except Exception:
            log.exception("job %s: its outcome could not be stored", claim.job_id)
            await self._salvage(claim)
        finally:
            self.active.pop(claim.job_id, None)
            self.running.discard(claim.job_id)

    async def _salvage(self, claim: Claim) -> None:
        """A job whose end the disk refused: failed on disk if possible, else in memory."""
        item = as_json(failed_item(claim.job_id, claim.filename, "server_error", "the gateway could not store this "
                                   "job's outcome; submit it again", claim.progress))
        try:
            if await asyncio.to_thread(self.files.result, claim.job_id) is None:
                await asyncio.to_thread(self.files.finish, claim.job_id, item)
        except Exception:
            log.exception("job %s: its failure is kept in memory only", claim.job_id)
            self.unstored[claim.job_id] = (time.monotonic(), item)

    async def submit_children(self, parent: Claim, jobs: list[NewJob]) -> list[str]:
        ids = [new_id() for _ in jobs]
        children = [NewJob(None, job.filename, job.options, parent.path) for job in jobs]  # the parent's file

        def create() -> None:
            for job_id, child in zip(ids, children):
                self.files.create(job_id, child)
            self.files.update(parent.job_id, children=ids)

        await asyncio.to_thread(create)
        for job_id, child in zip(ids, children):
            self._enqueue(job_id, {"filename": child.filename, "options": child.options, "path": child.path})
        parent.children = ids
        return ids

    async def discard(self, job_ids: list[str]) -> None:
        gone = [i for i in job_ids if is_job_id(i) and i not in self.active]
        await asyncio.to_thread(lambda: [shutil.rmtree(self.files.dir(i), ignore_errors=True) for i in gone])

    async def hand_back(self, claim: Claim) -> None:
        self.running.discard(claim.job_id)
        await asyncio.to_thread(self.files.mark, claim.job_id, "queued")  # run at the next start

    async def stats(self) -> Stats:
        oldest = min((claim.submitted for claim in self.active.values()), default=None)
        return Stats(len(self.active) - len(self.running), len(self.running),
                     0.0 if oldest is None else time.time() - oldest)

    async def housekeeping(self) -> None:
        try:
            await asyncio.to_thread(self.files.expire, self.ttl)
        except OSError:  # a directory that went away under it, say: the next round tries again
            log.exception("expiring job results")
        now = time.monotonic()
        self.unstored = {i: kept for i, kept in self.unstored.items() if now - kept[0] <= self.ttl}
