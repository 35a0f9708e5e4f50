"""How close an embedding model stays to its reference on the check set (:mod:`.check_texts`).

Pure numpy: the export compares the int8 model with sentence-transformers and refuses it below
:data:`INT8_GATE`; ``make bench`` prints the same figures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOP_K = 10


@dataclass(frozen=True)
class Gate:
    mean_cosine: float
    min_cosine: float


INT8_GATE = Gate(mean_cosine=0.995, min_cosine=0.98)


class AccuracyError(ValueError):
    """A model below its gate; the message says where."""


@dataclass(frozen=True)
class Agreement:
    """Cosines between a model's and the reference's vectors of the same texts, and how often
    their top-10 nearest neighbours within the set agree."""

    mean_cosine: float
    min_cosine: float
    top10_agreement: float
    worst: str  # the kind and text of the lowest cosine
    by_kind: dict[str, tuple[float, float]]  # kind -> (mean, min)

    def line(self) -> str:
        kinds = ", ".join(f"{kind} {mean:.4f}/{low:.4f}" for kind, (mean, low) in self.by_kind.items())
        return (f"mean cosine {self.mean_cosine:.4f}, min {self.min_cosine:.4f}, top-{TOP_K} agreement "
                f"{self.top10_agreement:.3f} (mean/min by kind: {kinds})")


def neighbour_agreement(reference: np.ndarray, candidate: np.ndarray, k: int = TOP_K) -> float:
    """Mean share of each text's ``k`` nearest neighbours (itself excluded) that both models find."""
    def neighbours(vectors: np.ndarray) -> np.ndarray:
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        return np.argsort(-similarity, axis=1, kind="stable")[:, :k]

    ours, theirs = neighbours(candidate), neighbours(reference)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, theirs)]))


def agreement(reference: np.ndarray, candidate: np.ndarray, texts: dict[str, list[str]]) -> Agreement:
    """``reference`` and ``candidate`` hold one unit-norm row per text of ``texts``, kind by kind."""
    cosines = np.sum(np.asarray(reference, np.float64) * np.asarray(candidate, np.float64), axis=1)
    labels = [(kind, text) for kind, items in texts.items() for text in items]
    if len(labels) != len(cosines):
        raise ValueError(f"{len(cosines)} vectors for {len(labels)} texts")
    by_kind, start = {}, 0
    for kind, items in texts.items():
        part = cosines[start : start + len(items)]
        by_kind[kind] = (float(part.mean()), float(part.min()))
        start += len(items)
    kind, text = labels[int(np.argmin(cosines))]
    return Agreement(float(cosines.mean()), float(cosines.min()), neighbour_agreement(reference, candidate),
                     f"{kind}: {text[:60]!r}", by_kind)


def require(measured: Agreement, gate: Gate, what: str) -> None:
    """Raise :class:`AccuracyError` unless ``measured`` passes ``gate``."""
    if measured.mean_cosine < gate.mean_cosine or measured.min_cosine < gate.min_cosine:
        raise AccuracyError(f"{what} refused: mean cosine {measured.mean_cosine:.4f} (needs ≥ {gate.mean_cosine}), "
                            f"min {measured.min_cosine:.4f} (needs ≥ {gate.min_cosine}, worst {measured.worst}); "
                            f"{measured.line()}")
