"""Table, target ratios and plots for ``embed_throughput.py`` results; ``write_json`` for every benchmark."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def write_json(path: Path, results) -> None:
    """A benchmark's results as indented JSON at ``path`` (its folder made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")


SIMD_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")
"""What int8 speed depends on: VNNI (AVX-512 or AVX) runs int8 dot products in one instruction, AMX
in tiles; without either, int8 GEMMs gain several times less."""


def cpu_features() -> str:
    """The CPU model and which of :data:`SIMD_FLAGS` it has, from /proc/cpuinfo."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU (no /proc/cpuinfo)"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = set(info.split())
    return f"{model}; " + " ".join(f"{flag}{'' if flag in flags else ' (no)'}" for flag in SIMD_FLAGS)


def _best(rows: list[dict], **match) -> dict:
    chosen = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    return max(chosen, key=lambda r: r["texts_per_s"])


def targets(results: dict) -> list[tuple[str, float, float]]:
    """(what, measured ratio, target) for each target of the benchmark issue."""
    rows = results["rows"]
    fp32 = _best(rows, kind="served", model="embed", per_request=16)
    in_proc = _best(rows, kind="in-process", precision="fp32", per_call=16)
    st = _best(rows, kind="reference")
    single = {r["concurrency"]: r for r in rows if r.get("per_request") == 1 and r.get("protocol") == "grpc"}
    most = max(single)  # 16 in a full run; the largest level in a smoke run
    found = [
        (f"served fp32 best ({fp32['name']}) / in-process ORT 16/call", fp32["texts_per_s"] / in_proc["texts_per_s"], 0.9),
        ("served fp32 best / sentence-transformers", fp32["texts_per_s"] / st["texts_per_s"], 1.5),
        (f"1 text/request gRPC: c={most} / c=1", single[most]["texts_per_s"] / single[1]["texts_per_s"], 4.0),
    ]
    if "int8" not in results["check_set"]:
        return found  # int8 is not served on this CPU (results["int8_served"] says why)
    check = results["check_set"]["int8"]
    return found[:2] + [
        ("served int8 best / served fp32 best, paired rounds (median)", paired_speedup(results["paired"]), 1.6),
        ("int8 mean cosine vs sentence-transformers, check set", check["mean_cosine"], 0.995),
        ("int8 min cosine vs sentence-transformers, check set", check["min_cosine"], 0.98),
        ("int8 top-10 neighbour agreement, check set", check["top10_agreement"], 0.9),
    ] + found[2:]


def paired_speedup(paired: dict) -> float:
    """int8 / fp32 texts/s, each at its best concurrency, from the medians of the paired rounds."""
    def best(model: str) -> float:
        return max(statistics.median(by_model[model]) for by_model in paired.values())

    return best("embed_int8") / best("embed")


def print_report(results: dict) -> None:
    print(f"\n{'run':48} {'texts/s':>8} {'tokens/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for row in results["rows"]:
        print(f"{row['name']:48} {row['texts_per_s']:8.1f} {row['tokens_per_s']:9d} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f}")
    for concurrency, by_model in results.get("paired", {}).items():
        print(f"paired rounds, gRPC c={concurrency}, 16/request: " + ", ".join(
            f"{model} {' '.join(f'{rate:.1f}' for rate in rates)} texts/s" for model, rates in by_model.items()))
    if results["int8_accuracy"]:
        print(f"\nint8 vs fp32 on {results['int8_accuracy']['texts']} bench texts: {results['int8_accuracy']}")
    print(f"fp32 min cosine vs sentence-transformers: {results['fp32_min_cosine_vs_sentence_transformers']}")
    for precision, measured in results["check_set"].items():
        print(f"{precision} vs sentence-transformers on the check set: mean {measured['mean_cosine']:.4f}, min "
              f"{measured['min_cosine']:.4f} ({measured['worst']}), top-10 {measured['top10_agreement']:.3f}")
    print(f"CPU (int8 speed depends on VNNI/AMX): {results['cpu']}")
    print(results["int8_served"])
    print(f"\n{'target':78} {'measured':>9} {'target':>7}")
    for what, measured, target in targets(results):
        print(f"{what:78} {measured:9.3f} {'>= ' + str(target):>7} {'ok' if measured >= target else 'MISSED'}")


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    served = [r for r in results["rows"] if r["kind"] == "served"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for key in sorted({(r["model"], r["protocol"], r["per_request"]) for r in served}):
        line = sorted((r for r in served if (r["model"], r["protocol"], r["per_request"]) == key),
                      key=lambda r: r["concurrency"])
        ax.plot([r["concurrency"] for r in line], [r["texts_per_s"] for r in line], marker="o",
                label=f"{key[0]} {key[1]}, {key[2]}/request")
    for r in results["rows"]:
        if r["kind"] in ("in-process", "reference") and r.get("per_call", 16) == 16 or r["kind"] == "reference":
            ax.axhline(r["texts_per_s"], linestyle="--", linewidth=1, color="grey")
            ax.annotate(r["name"], (1, r["texts_per_s"]), fontsize=7, color="grey")
    ax.set(xscale="log", xlabel="concurrency (requests in flight)", ylabel="texts/s",
           title=f"embed throughput ({results['machine']})")
    ax.set_xticks([1, 4, 8, 16, 32], labels=["1", "4", "8", "16", "32"])
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=120)

    fig, ax = plt.subplots(figsize=(9, 5))
    names = [r["name"].replace("served ", "") for r in served]
    x = range(len(served))
    ax.bar([i - 0.2 for i in x], [r["p50_ms"] for r in served], width=0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [r["p99_ms"] for r in served], width=0.4, label="p99")
    ax.set_xticks(list(x), labels=names, rotation=75, fontsize=6)
    ax.set(ylabel="latency per request (ms)", yscale="log", title="embed latency percentiles")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=120)
