"""``make perf``: Triton's perf_analyzer against `embed` (HTTP, gRPC) and `ingest`, CSV out.

    python benchmarks/perf.py [--url localhost:8000 --grpc-url localhost:8001] [--out build/perf]

Without ``--url`` it starts tritonserver on free ports. Inputs are real: chunk-sized prose for
`embed` (``--input-data`` JSON) and a generated 10-page PDF for `ingest` (base64). perf_analyzer
comes from ``scripts/get_perf_analyzer.sh`` (see there for why it needs a newer glibc here).
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import struct
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_throughput import make_prose_pdf  # noqa: E402

from triton_ingest.models.corpus import chunk_texts  # noqa: E402
from triton_ingest.paths import BUILD, REPO_ROOT  # noqa: E402
from triton_ingest.serving.server import TritonServer  # noqa: E402

PERF = BUILD / "perf-tools" / "perf_analyzer"
def window(batch: int) -> list[str]:
    """Measurement windows long enough for several requests even at 16 texts per request."""
    interval = "2000" if batch == 1 else "6000"
    return ["--measurement-interval", interval, "--max-trials", "8", "--stability-percentage", "40"]


def input_files(out: Path) -> dict[str, Path]:
    texts = chunk_texts()[:256]
    embed = {"data": [{"TEXT": {"content": [t], "shape": [1]}} for t in texts]}
    pdf_bytes = make_prose_pdf(10)  # b64 BYTES data is Triton's serialised form: <u32 length><bytes>
    pdf = base64.b64encode(struct.pack("<I", len(pdf_bytes)) + pdf_bytes).decode()
    ingest = {"data": [{"DOCUMENT": {"b64": pdf, "shape": [1]}}]}
    paths = {"embed": out / "embed_input.json", "ingest": out / "ingest_input.json"}
    paths["embed"].write_text(json.dumps(embed))
    paths["ingest"].write_text(json.dumps(ingest))
    return paths


def run(model: str, url: str, protocol: str, data: Path, batch: int, concurrency: int, csv_path: Path) -> dict:
    command = [str(PERF), "-m", model, "-u", url, "-i", protocol, "--input-data", str(data), "-b", str(batch),
               "--concurrency-range", f"{concurrency}:{concurrency}", "-f", str(csv_path), *window(batch)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    result = {"model": model, "protocol": protocol, "batch": batch, "concurrency": concurrency}
    if done.returncode != 0 or not csv_path.exists():
        reason = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        print(f"perf_analyzer: {model} {protocol} b={batch} c={concurrency}: {reason[0]}", file=sys.stderr)
        return {**result, "infer_per_s": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan")}
    with open(csv_path) as handle:
        row = next(csv.DictReader(handle))
    return {**result, "infer_per_s": float(row["Inferences/Second"]),
            "p50_ms": float(row["p50 latency"]) / 1000, "p99_ms": float(row["p99 latency"]) / 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="HTTP address of a running server (default: start one)")
    parser.add_argument("--grpc-url", help="gRPC address of that server")
    parser.add_argument("--out", type=Path, default=Path("build/perf"))
    parser.add_argument("--quick", action="store_true", help="two concurrency levels only")
    args = parser.parse_args()
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "get_perf_analyzer.sh")], check=True)
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = input_files(args.out)
    rows = []
    with (nullcontext() if args.url else TritonServer.on_free_ports()) as server:
        urls = {"http": args.url or server.http_url, "grpc": args.grpc_url or server.grpc_url}
        for protocol in ("http", "grpc"):
            for batch, levels in ((1, (1, 4, 8, 16)), (16, (1, 4, 8))):
                for concurrency in levels if not args.quick else levels[:2]:
                    csv_path = args.out / f"embed_{protocol}_b{batch}_c{concurrency}.csv"
                    rows.append(run("embed", urls[protocol], protocol, inputs["embed"], batch, concurrency, csv_path))
        for concurrency in (1, 2):
            csv_path = args.out / f"ingest_grpc_c{concurrency}.csv"
            rows.append(run("ingest", urls["grpc"], "grpc", inputs["ingest"], 1, concurrency, csv_path))
    with open(args.out / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # perf_analyzer counts a request of batch b as b inferences: for embed, infer/s = texts/s
    print(f"\n{'model':7} {'protocol':8} {'batch':>5} {'conc.':>5} {'infer/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for r in rows:
        print(f"{r['model']:7} {r['protocol']:8} {r['batch']:>5} {r['concurrency']:>5} {r['infer_per_s']:9.1f} "
              f"{r['p50_ms']:8.1f} {r['p99_ms']:8.1f}")
    print(f"\nwrote {args.out / 'summary.csv'} and one perf_analyzer CSV per run")


if __name__ == "__main__":
    main()
