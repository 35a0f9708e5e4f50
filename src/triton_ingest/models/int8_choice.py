"""Which int8 embedder this CPU serves, checked on the CPU that loads it.

ONNX Runtime picks its int8 GEMM kernels from CPUID at run time, and their results differ: on x86
without VNNI the U8S8 kernels add pairs of u8 × s8 products in 16 bits (``VPMADDUBSW``), which
saturates with full 8-bit weights (mean cosine 0.9767, min 0.9288 on an AVX2-only EPYC, where a
VNNI CPU measured 0.9985 / 0.9915). ``make model`` therefore builds two variants (:data:`VARIANTS`):

- ``u8s8``: 8-bit weights, the most accurate; tried first where the U8S8 kernels cannot saturate
  (AVX-512 VNNI, AVX-VNNI, AMX, and every CPU that is not x86);
- ``u8s8_7bit``: 7-bit weights (``reduce_range``): 255 × 64 × 2 < 2^15, so no x86 kernel can
  saturate and every x86 CPU computes the same vectors; the only variant tried on x86 without VNNI.

:func:`choose` embeds the check set with each candidate in turn and compares it with the
sentence-transformers vectors the export stored (``check_reference.npz``); the first that passes
:data:`~.int8_check.INT8_GATE` serves. The outcome is cached in ``manifest.json`` under
``int8_by_cpu``, keyed by the machine, the CPU features that select the kernels and the ONNX
Runtime version. If no variant passes, ``embed_int8`` answers UNAVAILABLE, naming this CPU and
what was measured, and the fp32 ``embed`` is untouched.

``python -m triton_ingest.models.int8_choice [--artifacts DIR] [--recheck] [--all]`` prints the
choice as JSON (``--all`` measures every variant, candidate or not).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import time
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UnavailableError, not_served
from .artifacts import (CHECK_REFERENCE_FILE, INT8_7BIT_ONNX_FILE, INT8_ONNX_FILE, MANIFEST_FILE, TOKENIZER_FILE,
                        artifact_dir, recorded_sha256)
from .check_texts import check_set, check_set_digest
from .int8_check import INT8_GATE, Agreement, agreement

CACHE_KEY = "int8_by_cpu"
KERNEL_FEATURES = ("AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VNNI", "AVX_VNNI", "AMX_INT8",
                   "ASIMD", "ASIMDDP", "SVE")
"""The CPU features (numpy's names) that decide which int8 kernels ONNX Runtime runs."""
VNNI = frozenset({"AVX512VNNI", "AVX_VNNI", "AMX_INT8"})
X86 = frozenset({"x86_64", "amd64", "i386", "i686"})


@dataclass(frozen=True)
class Variant:
    name: str
    file: str
    reduce_range: bool  # 7-bit weights


VARIANTS = (Variant("u8s8", INT8_ONNX_FILE, False), Variant("u8s8_7bit", INT8_7BIT_ONNX_FILE, True))


def cpu_features() -> frozenset[str]:
    """The SIMD features this process's CPUID reports (numpy's runtime dispatch: under
    ``qemu-x86_64 -cpu Haswell-v4`` that is Haswell's), plus AVX-VNNI and AMX from /proc/cpuinfo."""
    try:
        from numpy.core._multiarray_umath import __cpu_features__  # numpy 1.x
    except ImportError:  # pragma: no cover - numpy 2
        from numpy._core._multiarray_umath import __cpu_features__
    found = {name for name, present in __cpu_features__.items() if present}
    try:
        flags = {word for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
                 for word in line.split(":", 1)[1].split()}
    except OSError:
        flags = set()
    return frozenset(found | {flag.upper() for flag in flags & {"avx_vnni", "amx_int8"}})


def cpu_class(features: frozenset[str] | None = None, machine: str | None = None) -> str:
    """``x86_64 AVX2 FMA3 AVX512F AVX512BW AVX512VNNI``: the machine and its int8-relevant features."""
    features = cpu_features() if features is None else features
    return " ".join([machine or platform.machine(), *(name for name in KERNEL_FEATURES if name in features)])


def candidates(cpu: str) -> tuple[Variant, ...]:
    """The variants worth trying on ``cpu`` (a :func:`cpu_class`), fastest-and-most-accurate first."""
    machine, *features = cpu.split()
    if machine.lower() in X86 and not VNNI & set(features):
        return tuple(v for v in VARIANTS if v.reduce_range)  # 8-bit weights saturate here
    return VARIANTS


@dataclass(frozen=True)
class Int8Choice:
    """What :func:`choose` found: the served ``variant`` (None: int8 is unavailable here) and why."""

    cpu: str
    variant: str | None
    file: str | None
    measured: dict[str, dict]  # variant -> Agreement fields
    check_seconds: float
    files: dict[str, str] = field(default_factory=dict)  # candidate file -> SHA-256 when measured
    note: str = ""  # "cached", or why it could not be

    def figures(self) -> str:
        """``u8s8 mean cosine 0.9977, min 0.9928; ...``: what each measured variant gave."""
        return "; ".join(f"{name} {m['error']}" if "error" in m else
                         f"{name} mean cosine {m['mean_cosine']:.4f}, min {m['min_cosine']:.4f}"
                         for name, m in self.measured.items()) or "no variant measured"

    def line(self) -> str:
        verdict = f"serving {self.variant} ({self.file})" if self.variant else "no variant passed: embed_int8 unavailable"
        return (f"int8 on {self.cpu}: {verdict}; check set vs sentence-transformers: {self.figures()} "
                f"(gate: mean ≥ {INT8_GATE.mean_cosine}, min ≥ {INT8_GATE.min_cosine}; {self.check_seconds:.1f} s"
                f"{', ' + self.note if self.note else ''})")

    def unavailable(self) -> UnavailableError:
        return not_served("embed_int8", f"on this CPU ({self.cpu}) no int8 variant matches sentence-transformers "
                          f"(needs mean cosine ≥ {INT8_GATE.mean_cosine}, min ≥ {INT8_GATE.min_cosine} on the "
                          f"check set; measured {self.figures()}); use embed (fp32)")


def measure(artifacts: Path, variant: Variant) -> Agreement:
    """``variant`` against the stored sentence-transformers vectors of the check set, one text per call."""
    from .embedding import EmbedderSettings, OnnxEmbedder
    from .tokenization import TextTokenizer

    texts = check_set()
    reference = np.load(artifacts / CHECK_REFERENCE_FILE)
    if str(reference["digest"]) != check_set_digest():
        raise ValueError(f"{CHECK_REFERENCE_FILE} was made for another check set; run `make model` again")
    embedder = OnnxEmbedder(artifacts / variant.file, EmbedderSettings(max_batch_rows=1))
    vectors = embedder.embed(*TextTokenizer(artifacts / TOKENIZER_FILE).encode([t for v in texts.values() for t in v]))
    return agreement(reference["vectors"], vectors, texts)


def check(artifacts: Path, cpu: str, every_variant: bool = False) -> Int8Choice:
    """Measure ``cpu``'s candidates in order until one passes (``every_variant``: measure all of
    :data:`VARIANTS`); the first candidate that passed is chosen."""
    started, measured, chosen = time.perf_counter(), {}, None
    for variant in VARIANTS if every_variant else candidates(cpu):
        try:
            result = measure(artifacts, variant)
        except Exception as exc:  # a missing or broken file makes the variant unusable, not the server
            measured[variant.name] = {"error": f"could not be measured: {exc}"}
            continue
        measured[variant.name] = json.loads(json.dumps(asdict(result)))  # as the cache holds it
        passed = result.mean_cosine >= INT8_GATE.mean_cosine and result.min_cosine >= INT8_GATE.min_cosine
        if passed and chosen is None and variant in candidates(cpu):
            chosen = variant
            if not every_variant:
                break
    return Int8Choice(cpu, chosen and chosen.name, chosen and chosen.file, measured,
                      round(time.perf_counter() - started, 2), _file_digests(artifacts, cpu))


def _file_digests(artifacts: Path, cpu: str) -> dict[str, str]:
    return {v.file: recorded_sha256(artifacts / v.file) for v in candidates(cpu) if (artifacts / v.file).is_file()}


def cache_key(cpu: str) -> str:
    import onnxruntime

    return f"{cpu}; onnxruntime {onnxruntime.__version__}"


def cached(artifacts: Path, cpu: str) -> Int8Choice | None:
    """The manifest's record for ``cpu``, if it was measured on the candidate files present now."""
    try:
        record = json.loads((artifacts / MANIFEST_FILE).read_text())[CACHE_KEY][cache_key(cpu)]
        choice = Int8Choice(**record, note="cached")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return choice if choice.files == _file_digests(artifacts, cpu) else None


def choose(artifacts: Path | None = None, recheck: bool = False) -> Int8Choice:
    """This CPU's int8 variant: from the manifest's cache, else measured and cached there. Under the
    manifest's lock, so model instances loading at once measure once."""
    artifacts = Path(artifacts or artifact_dir())
    cpu = cpu_class()
    with _manifest_lock(artifacts) as unlocked:
        found = None if recheck else cached(artifacts, cpu)
        if found is not None:
            return found
        choice = check(artifacts, cpu)
        return replace(choice, note=f"not cached: {unlocked}" if unlocked else _store(artifacts, cpu, choice))


@contextmanager
def _manifest_lock(artifacts: Path) -> Iterator[str]:
    """Hold the lock beside the manifest; yields "" or, when it cannot be had (a read-only mount), why."""
    try:
        lock = open(artifacts / f".{MANIFEST_FILE}.lock", "a")
    except OSError as exc:
        yield str(exc)
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield ""


def _store(artifacts: Path, cpu: str, choice: Int8Choice) -> str:
    """Add ``choice`` to the manifest (atomically; the caller holds the lock); what happened, for the log."""
    manifest = artifacts / MANIFEST_FILE
    staged = manifest.with_name(f".{MANIFEST_FILE}.{os.getpid()}")
    try:
        data = json.loads(manifest.read_text())
        data.setdefault(CACHE_KEY, {})[cache_key(cpu)] = {k: v for k, v in asdict(choice).items() if k != "note"}
        staged.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(staged, manifest)
    except (OSError, ValueError) as exc:
        with suppress(OSError):
            staged.unlink()  # a full disk leaves no half-written copy behind
        return f"not cached: {exc}"
    return f"cached in {manifest}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=None, help="default: $TRITON_INGEST_ARTIFACTS or build/artifacts")
    parser.add_argument("--recheck", action="store_true", help="measure again, ignoring the cache")
    parser.add_argument("--all", action="store_true", help="measure every variant (nothing is cached)")
    args = parser.parse_args(argv)
    artifacts = Path(args.artifacts or artifact_dir())
    if args.all:
        choice = check(artifacts, cpu_class(), every_variant=True)
    else:
        choice = choose(artifacts, recheck=args.recheck)
    print(json.dumps({**asdict(choice), "line": choice.line()}, indent=2))


if __name__ == "__main__":
    main()
