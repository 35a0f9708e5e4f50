"""The NVCF trust boundary (no server): which request parameters are used, and where."""

from __future__ import annotations

import os

import pytest

from triton_ingest.errors import InvalidInputError
from triton_ingest.pipeline.nvcf import ASSET_ROOTS_ENV, NVCF_ROOTS, OUTPUT_ROOTS_ENV, NvcfRequest, local_roots


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """An operator's configuration: assets under ``tmp/assets``, outputs under ``tmp/out``."""
    (tmp_path / "assets" / "req").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    monkeypatch.setenv(ASSET_ROOTS_ENV, str(tmp_path / "assets"))
    monkeypatch.setenv(OUTPUT_ROOTS_ENV, os.pathsep.join(["/nonexistent-root", str(tmp_path / "out")]))
    return tmp_path


def test_values_under_the_roots_are_taken_in_any_case(roots):
    got = NvcfRequest.from_parameters({"NVCF-REQID": "a-1_b.c", "Nvcf-Large-Output-Dir": str(roots / "out" / "r"),
                                       "nvcf-asset-dir": str(roots / "assets" / "req"), "other": 1})
    assert got == NvcfRequest("a-1_b.c", roots / "out" / "r", roots / "assets" / "req")
    assert NvcfRequest.from_parameters({}) == NvcfRequest()


def test_nvcf_layout_is_the_default(monkeypatch):
    monkeypatch.delenv(ASSET_ROOTS_ENV, raising=False)
    monkeypatch.delenv(OUTPUT_ROOTS_ENV, raising=False)
    got = NvcfRequest.from_parameters({"NVCF-LARGE-OUTPUT-DIR": "/var/inf/response/abc"})
    assert got.output_dir.as_posix() == "/var/inf/response/abc"
    with pytest.raises(InvalidInputError, match="outside the directories"):
        NvcfRequest.from_parameters({"NVCF-LARGE-OUTPUT-DIR": "/tmp/anything"})
    with pytest.raises(InvalidInputError, match="NVCF-ASSET-DIR '/etc' is outside"):
        NvcfRequest.from_parameters({"NVCF-ASSET-DIR": "/etc"})


@pytest.mark.parametrize("key, value, message", [
    ("NVCF-LARGE-OUTPUT-DIR", "/tmp/anything", "outside the directories"),
    ("NVCF-LARGE-OUTPUT-DIR", "relative/dir", "absolute path"),
    ("NVCF-LARGE-OUTPUT-DIR", "{root}/out/../../escape", "without '..'"),
    ("NVCF-ASSET-DIR", "/", "outside the directories"),
    ("NVCF-ASSET-DIR", "{root}/out", "outside the directories"),  # another root's kind
    ("NVCF-REQID", "../x", "NVCF-REQID must be"),
    ("NVCF-REQID", ".hidden", "NVCF-REQID must be"),
    ("NVCF-REQID", "a/b", "NVCF-REQID must be"),
    ("NVCF-REQID", "x" * 129, "NVCF-REQID must be"),
    ("NVCF-REQID", "", "NVCF-REQID must be"),
])
def test_values_outside_the_boundary_are_invalid(roots, key, value, message):
    with pytest.raises(InvalidInputError, match=message):
        NvcfRequest.from_parameters({key: value.format(root=roots)})


def test_a_symlink_out_of_a_root_is_outside(roots, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (roots / "out" / "link").symlink_to(elsewhere)
    with pytest.raises(InvalidInputError, match="outside the directories"):
        NvcfRequest.from_parameters({"NVCF-LARGE-OUTPUT-DIR": str(roots / "out" / "link" / "sub")})


def test_assets_are_plain_names_inside_the_asset_dir_within_the_size_limit(roots):
    asset_dir = roots / "assets" / "req"
    (asset_dir / "doc.txt").write_bytes(b"hello")
    (roots / "secret.txt").write_bytes(b"secret")
    (asset_dir / "leak").symlink_to(roots / "secret.txt")
    (asset_dir / "sub").mkdir()
    request = NvcfRequest.from_parameters({"NVCF-ASSET-DIR": str(asset_dir)})
    assert request.read_asset("doc.txt", 5) == b"hello"
    for name, message in [("../secret.txt", "plain asset name"), ("..", "plain asset name"),
                          ("leak", "is not in NVCF-ASSET-DIR"), ("sub", "is not in NVCF-ASSET-DIR"),
                          ("missing", "is not in NVCF-ASSET-DIR")]:
        with pytest.raises(InvalidInputError, match=message):
            request.read_asset(name, 100)
    with pytest.raises(InvalidInputError, match=r"larger than OPTIONS.max_bytes \(4 bytes\)"):
        request.read_asset("doc.txt", 4)
    with pytest.raises(InvalidInputError, match="no NVCF-ASSET-DIR header"):
        NvcfRequest().read_asset("doc.txt", 100)


def test_local_launchers_add_the_local_directory_unless_the_operator_set_roots():
    defaults = local_roots({})
    assert set(defaults) == set(NVCF_ROOTS)
    for name, value in defaults.items():
        assert value.split(os.pathsep)[0] == NVCF_ROOTS[name] and value.endswith("triton-ingest-nvcf-local")
    assert local_roots({ASSET_ROOTS_ENV: "/srv/a"})[ASSET_ROOTS_ENV] == "/srv/a"
