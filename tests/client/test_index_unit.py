"""The index against a real Milvus Lite, without Triton: schema, profiles, idempotent writes,
replacement, aborts, listing and bad arguments. Vectors here are made up; the served model's
vectors are tested in test_index.py."""

from __future__ import annotations

import numpy as np
import pytest
from triton_ingest_client import Index, InvalidInputError, NotFoundError, UnavailableError
from triton_ingest_client._cli_index import source_names
from triton_ingest_client._index_schema import PROBE_MIN_COSINE, IndexProfile, SearchHit, literal
from triton_ingest_client.index import _fit

RNG = np.random.default_rng(2026)


def unit(rows: int, dim: int = 384) -> np.ndarray:
    vectors = RNG.standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


PROFILE = IndexProfile.served("embed", unit(1)[0])


def chunks(texts: list[str]) -> list[dict]:
    return [{"chunk_index": i, "text": t, "pages": [i + 1], "char_start": 0, "char_end": len(t), "method": "text"}
            for i, t in enumerate(texts)]


def write(index: Index, source: str, document_id: str, texts: list[str]) -> int:
    document = index.document(source, document_id)
    document.add(chunks(texts), unit(len(texts)))
    return document.commit()


@pytest.fixture
def index(tmp_path):
    with Index(tmp_path / "kb.db") as made:
        made.prepare(PROFILE)
        yield made


def test_profile_round_trips_through_collection_properties(index):
    recorded = index.profile()
    assert recorded.public() == PROFILE.public()
    assert recorded.same_model(PROFILE) is None  # the probe survives float16 storage
    assert np.allclose(recorded.probe, PROFILE.probe, atol=1e-3)


def test_another_model_or_chunking_is_named_in_the_error(index):
    other = IndexProfile.served("embed_other", unit(1)[0])
    assert "embeds with 'embed_other', and vectors of two models never mix" in PROFILE.same_model(other)
    assert "embeds differently" in PROFILE.same_model(IndexProfile.served("embed", unit(1)[0]))  # the same name
    assert "gives 768-d vectors" in PROFILE.same_model(IndexProfile.served("wide", unit(1, 768)[0]))
    noisy = PROFILE.probe + 0.02 * unit(1)[0]  # the same model at lower precision
    assert PROFILE.same_model(IndexProfile.served("embed", noisy)) is None
    with pytest.raises(InvalidInputError, match="never mix. Use the model it was built with"):
        Index(index.uri).check_model(other)
    with pytest.raises(InvalidInputError, match="chunk_size 254, chunk_overlap 32, text_depth page, not chunk_size 64"):
        Index(index.uri).prepare(IndexProfile.served("embed", np.asarray(PROFILE.probe), {"chunk_size": 64}))
    assert 0.9 < PROBE_MIN_COSINE < 1


def test_same_document_twice_is_one_copy_and_a_changed_one_replaces_the_old(index):
    assert write(index, "a.pdf", "d1" * 32, ["alpha", "beta", "gamma"]) == 0
    assert write(index, "a.pdf", "d1" * 32, ["alpha", "beta", "gamma"]) == 0
    assert write(index, "b.pdf", "d9" * 32, ["other"]) == 0
    assert index.stats()["rows"] == 4
    assert write(index, "a.pdf", "d2" * 32, ["alpha v2", "beta v2"]) == 3  # the old version's rows
    listed = {d["source"]: d for d in index.documents()}
    assert listed["a.pdf"]["document_id"] == "d2" * 32 and listed["a.pdf"]["chunks"] == 2
    assert listed["b.pdf"]["chunks"] == 1 and index.stats() | {"profile": None} == {
        "uri": index.uri, "collection": "triton_ingest", "rows": 3, "documents": 2, "sources": 2, "profile": None}


def test_abort_removes_a_new_documents_rows_but_keeps_a_complete_older_copy(index):
    write(index, "kept.pdf", "k" * 64, ["one", "two", "three"])
    rewrite = index.document("kept.pdf", "k" * 64)
    rewrite.add(chunks(["one"]), unit(1))
    rewrite.abort()  # a failed re-ingest of the same document: its rows were only rewritten
    fresh = index.document("new.pdf", "n" * 64)
    fresh.add(chunks(["partial", "rows"]), unit(2))
    fresh.abort()
    assert {d["source"]: d["chunks"] for d in index.documents()} == {"kept.pdf": 3}


def rows_by_document(index: Index, source: str) -> dict[str, int]:
    return {d["document_id"][:2]: d["chunks"] for d in index.documents() if d["source"] == source}


def test_two_writes_of_one_source_at_once_leave_the_later_one_whole(index):
    """Issue 21: two ingests of one source at once deleted each other's rows. Interleaved here
    batch by batch: the later start wins whole, whichever commits first."""
    write(index, "s.pdf", "o" * 64, ["old one", "old two"])
    early, late = index.document("s.pdf", "a" * 64), index.document("s.pdf", "b" * 64)
    early.add(chunks(["a0", "a1"]), unit(2))
    late.add(chunks(["b0", "b1"]), unit(2))
    assert early.commit() == 0 and early.superseded  # its rows go; the old version is left to the later write
    assert rows_by_document(index, "s.pdf") == {"oo": 2, "bb": 2}
    late.add(chunks(["b0", "b1", "b2"])[2:], unit(1))
    assert late.commit() == 2 and not late.superseded
    assert rows_by_document(index, "s.pdf") == {"bb": 3}


def test_an_earlier_write_that_commits_after_a_later_one_removes_itself(index):
    early, late = index.document("s.pdf", "a" * 64), index.document("s.pdf", "b" * 64)
    early.add(chunks(["a0"]), unit(1))
    late.add(chunks(["b0", "b1"]), unit(2))
    assert late.commit() == 1  # the earlier write's rows so far
    early.add(chunks(["a0", "a1"])[1:], unit(1))  # still writing after it lost
    early.commit()
    assert early.superseded and early.summary(0)["superseded"] is True
    assert rows_by_document(index, "s.pdf") == {"bb": 2}


def test_a_write_that_fails_beside_another_leaves_the_others_rows(index):
    write(index, "s.pdf", "o" * 64, ["old one"])
    early, late = index.document("s.pdf", "a" * 64), index.document("s.pdf", "b" * 64)
    early.add(chunks(["a0"]), unit(1))
    late.add(chunks(["b0", "b1"]), unit(2))
    early.abort()
    assert late.commit() == 1 and rows_by_document(index, "s.pdf") == {"bb": 2}
    early, late = index.document("s.pdf", "c" * 64), index.document("s.pdf", "d" * 64)
    early.add(chunks(["c0"]), unit(1))
    late.add(chunks(["d0", "d1"]), unit(2))
    late.abort()  # the later write fails: the earlier one is whole and replaces the old version
    assert early.commit() == 2 and rows_by_document(index, "s.pdf") == {"cc": 1}


def test_each_index_has_a_connection_of_its_own(index):
    """A job worker writes several documents at once, each through its own Index on one URI. A
    connection shared between them (pymilvus's default) is recovered after an UNAVAILABLE by
    closing its channel under every other writer's calls in flight."""
    with Index(index.uri, index.collection) as other:
        other.prepare(PROFILE)
        assert other.milvus._handler is not index.milvus._handler
        write(other, "other.txt", "e" * 64, ["its row"])
    assert write(index, "mine.txt", "f" * 64, ["still writes"]) == 0 and index.stats()["rows"] == 2


def test_search_returns_provenance_best_first_and_hybrid_fuses_keywords(index):
    texts = ["the relay listens on port 7443", "error TRX-4417 means the disk is full", "cats purr when content"]
    document = index.document("notes.txt", "e" * 64)
    vectors = unit(3)
    document.add(chunks(texts), vectors)
    document.commit()
    hits = index.search(vectors[2], top_k=2)
    assert [h.text for h in hits][0] == texts[2] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].to_json() == {"score": hits[0].score, "text": texts[2], "source": "notes.txt", "pages": [3],
                                 "chunk_index": 2, "document_id": "e" * 64, "method": "text",
                                 "char_start": 0, "char_end": len(texts[2]), "content_type": "text", "section": []}
    fused = index.search(vectors[0], top_k=3, text="TRX-4417")
    assert {h.text for h in fused[:2]} == {texts[0], texts[1]}  # dense's best and BM25's only match


def test_delete_source_and_drop(index):
    write(index, "a.pdf", "a" * 64, ["x", "y"])
    write(index, 'we"ird\\name\n.pdf', "w" * 64, ["z"])
    assert index.delete_source('we"ird\\name\n.pdf') == 1 and index.delete_source("missing.pdf") == 0
    assert [d["source"] for d in index.documents()] == ["a.pdf"]
    assert index.drop() is True and index.drop() is False
    with pytest.raises(NotFoundError, match="no collection 'triton_ingest'"):
        index.stats()


def test_bad_uris_names_and_sources_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="must be a Milvus Lite file ending in .db"):
        Index("kb")
    with pytest.raises(InvalidInputError, match="collection name '1x'"):
        Index(tmp_path / "kb.db", "1x")
    with pytest.raises(InvalidInputError, match="dir: .*/missing not exists"):
        Index(tmp_path / "missing" / "kb.db").prepare(PROFILE)
    with pytest.raises(UnavailableError, match="cannot reach Milvus at http://127.0.0.1:9"):
        Index("http://127.0.0.1:9", timeout=5).prepare(PROFILE)
    absent = tmp_path / "absent.db"
    with pytest.raises(NotFoundError):
        Index(absent).documents()
    assert not absent.exists()  # reading an index that is not there creates nothing
    with Index(tmp_path / "kb.db") as index:
        index.prepare(PROFILE)
        with pytest.raises(InvalidInputError, match="longer than 1024 bytes"):
            index.document("x" * 1025, "d" * 64)


def test_a_foreign_collection_is_not_taken_over(tmp_path):
    with Index(tmp_path / "kb.db", "theirs") as index:
        index.milvus.create_collection("theirs", dimension=384)
        with pytest.raises(InvalidInputError, match="was not made by triton-ingest"):
            index.prepare(PROFILE)


def test_helpers():
    assert literal('a"b\\c\nd é') == '"a\\"b\\\\c\\nd é"'
    assert _fit("é" * 10, 5) == "éé" and _fit("short", 100) == "short"
    from pathlib import Path

    files = [Path("v1/README.md"), Path("v2/README.md"), Path("v1/a.txt")]
    assert source_names(files) == {files[0]: "v1/README.md", files[1]: "v2/README.md", files[2]: "a.txt"}
    hit = SearchHit.from_milvus({"distance": 0.5, "entity": {"text": "t", "source": "s", "pages": [1], "chunk_index": 0,
                                                             "char_start": 0, "char_end": 1, "document_id": "d",
                                                             "method": "ocr"}})
    assert hit.method == "ocr" and hit.score == 0.5


def test_a_milvus_lite_file_held_by_another_process_says_so(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "kb.db"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from pymilvus import MilvusClient; "
                               "client = MilvusClient(sys.argv[1]); client.list_collections(); "
                               "print('held', flush=True); sys.stdin.read()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # a real second client
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InvalidInputError, match="another process has it open"):
            Index(path).prepare(PROFILE)
    finally:
        holder.kill()
        holder.wait()
    # the lock went with the process: the index opens now
    with Index(path) as index:
        index.prepare(PROFILE)
        assert index.stats()["rows"] == 0


def test_chunks_keep_their_content_type_and_section_and_collections_of_before_still_work(tmp_path, monkeypatch):
    from triton_ingest_client import _index_schema

    table = {"chunk_index": 0, "text": "| Code | Meaning |\n|---|---|\n| 404 | Not Found |", "pages": [3],
             "char_start": 0, "char_end": 44, "method": "text", "content_type": "table",
             "section": ["4 Errors", "4.2 HTTP"]}
    with Index(tmp_path / "new.db") as index:
        index.prepare(PROFILE)
        document = index.document("spec.pdf", "a" * 64)
        document.add([table], unit(1))
        document.commit()
        [hit] = index.search(unit(1)[0], top_k=1, text="404 Not Found")
        assert (hit.content_type, hit.section) == ("table", ["4 Errors", "4.2 HTTP"])
    monkeypatch.setattr(_index_schema, "STRUCTURE_FIELDS", ())  # a collection made before these fields
    with Index(tmp_path / "old.db") as index:
        index.prepare(PROFILE)
    monkeypatch.undo()
    with Index(tmp_path / "old.db") as index:
        index.prepare(PROFILE)
        assert index.structure_fields == ()
        document = index.document("spec.pdf", "a" * 64)
        document.add([table], unit(1))
        document.commit()
        [hit] = index.search(unit(1)[0], top_k=1)
        assert (hit.text, hit.content_type, hit.section) == (table["text"], "text", [])
