"""The int8 choice and its gate on an AVX2-only CPU (no AVX-512, no VNNI), emulated by
``qemu-x86_64 -cpu Haswell-v4``: ONNX Runtime inside picks its kernels from the emulated CPUID, so
its U8S8 GEMMs use ``VPMADDUBSW`` and saturate with 8-bit weights, as on a real AVX2 machine (the
cosines matched one to 4 decimals). About 70x slower than native: accuracy only, never speed.
TCG cannot emulate AVX-512, so the VNNI path is covered by the native tests."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys

import pytest

from support.artefacts import artefacts_copy
from triton_ingest.models.int8_check import INT8_GATE
from triton_ingest.models.int8_choice import CACHE_KEY, cache_key

QEMU = shutil.which("qemu-x86_64")
pytestmark = [
    pytest.mark.integration,  # minutes under emulation: `make test` runs it, `make test-fast` does not
    pytest.mark.skipif(platform.machine() != "x86_64", reason="emulates an x86 CPU; this machine is not x86_64"),
    pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 is missing (Debian package qemu-user, which .ci/run "
                                            "installs): cannot emulate an AVX2-only CPU"),
]
AVX2 = "x86_64 AVX2 FMA3"


def test_an_avx2_only_cpu_serves_the_7bit_variant_accurately_and_caches_it(tmp_path):
    artefacts = artefacts_copy(tmp_path)
    done = subprocess.run([QEMU, "-cpu", "Haswell-v4", sys.executable, "-m", "triton_ingest.models.int8_choice",
                           "--artifacts", str(artefacts)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    choice = json.loads(done.stdout)
    assert choice["cpu"] == AVX2  # the emulated CPUID, as ONNX Runtime sees it
    assert choice["variant"] == "u8s8_7bit" and list(choice["measured"]) == ["u8s8_7bit"]
    measured = choice["measured"]["u8s8_7bit"]
    assert measured["mean_cosine"] >= INT8_GATE.mean_cosine and measured["min_cosine"] >= INT8_GATE.min_cosine
    cached = json.loads((artefacts / "manifest.json").read_text())[CACHE_KEY]
    assert cached[cache_key(AVX2)]["variant"] == "u8s8_7bit"  # the native CPU's entry is made apart
