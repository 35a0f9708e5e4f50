"""OCR on rendered pages: in-process RapidOCR, the served `ocr` model at several concurrencies, and
`ingest` of the same pages as an image-only PDF, in one run on the same machine.

    python benchmarks/ocr_throughput.py [--pages 8] [--json build/bench/ocr.json] [--smoke]

Pages are typeset with fpdf2 from real prose (the standard library's docstrings, two fonts),
rendered at 150 dpi with pdfium, like a scanner's output. RapidOCR runs the same detector and
English recognizer (no direction classifier), so the ratios compare serving, not models. Word
recall is measured against the typeset text.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from report import cpu_features, write_json  # noqa: E402

from support.scans import encoded, render, scanned_pdf, word_recall  # noqa: E402
from triton_ingest.contracts import INGEST, OCR  # noqa: E402
from triton_ingest.models.artifacts import OCR_DETECTOR_FILE, OCR_RECOGNIZER_FILES, artifact  # noqa: E402
from triton_ingest.models.corpus import chunk_texts  # noqa: E402
from triton_ingest.serving.server import TritonServer  # noqa: E402

CONCURRENCY = (1, 4, 8)
PAGE_SIZE = (148, 190)  # millimetres: a page of about 20 lines


def make_pages(count: int) -> list[tuple[str, bytes]]:
    """(text, PNG at 150 dpi) per page: prose typeset in two fonts."""
    from fpdf import FPDF

    texts, pages = chunk_texts(), []
    for index in range(count):
        body = "\n\n".join(texts[(3 * index + i) % len(texts)] for i in range(3))
        body = body.encode("latin-1", "replace").decode("latin-1")
        pdf = FPDF(format=PAGE_SIZE)
        pdf.set_margins(10, 10)
        pdf.add_page()
        font, size = (("helvetica", 10), ("times", 11))[index % 2]
        pdf.set_font(font, size=size)
        pdf.multi_cell(0, size * 0.5, body)
        pages.append((body, encoded(render(bytes(pdf.output()), 0, 150))))
    return pages


def in_process(pages: list[tuple[str, bytes]]) -> tuple[float, float]:
    """(pages/s, word recall) of RapidOCR on the same models, in this process."""
    from rapidocr_onnxruntime import RapidOCR

    model, keys = OCR_RECOGNIZER_FILES["en"]
    engine = RapidOCR(det_model_path=str(artifact(OCR_DETECTOR_FILE)), rec_model_path=str(artifact(model)),
                      rec_keys_path=str(artifact(keys)), use_cls=False)
    engine(pages[0][1])  # warm-up
    started, recalls = time.perf_counter(), []
    for text, png in pages:
        lines, _ = engine(png)
        recalls.append(word_recall(text, " ".join(line[1] for line in lines or [])))
    return len(pages) / (time.perf_counter() - started), float(np.mean(recalls))


def served(url: str, pages: list[tuple[str, bytes]], concurrency: int) -> tuple[float, float]:
    """(pages/s, word recall) of the served `ocr` model with ``concurrency`` clients."""
    clients = [grpcclient.InferenceServerClient(url) for _ in range(concurrency)]

    def one(index: int) -> float:
        text, png = pages[index]
        tensor = grpcclient.InferInput("IMAGE", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([png], dtype=object))
        summary = json.loads(clients[index % concurrency].infer(OCR.name, [tensor]).as_numpy("SUMMARY")[0])
        return word_recall(text, summary["text"])

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        recalls = list(pool.map(one, range(len(pages))))
    seconds = time.perf_counter() - started
    for client in clients:
        client.close()
    return len(pages) / seconds, float(np.mean(recalls))


def ingest_scan(url: str, pages: list[tuple[str, bytes]]) -> tuple[float, dict]:
    """(pages/s, SUMMARY) of `ingest` on the pages as one image-only PDF."""
    from PIL import Image

    pdf = scanned_pdf([Image.open(io.BytesIO(png)) for _, png in pages], PAGE_SIZE)
    client = grpcclient.InferenceServerClient(url)
    tensor = grpcclient.InferInput("DOCUMENT", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([pdf], dtype=object))
    started = time.perf_counter()
    summary = json.loads(client.infer(INGEST.name, [tensor]).as_numpy("SUMMARY")[0])
    seconds = time.perf_counter() - started
    client.close()
    return len(pages) / seconds, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--json", type=Path, default=Path("build/bench/ocr.json"))
    parser.add_argument("--smoke", action="store_true", help="2 pages, concurrency 1 and 2: checks that it runs")
    args = parser.parse_args()
    pages = make_pages(2 if args.smoke else args.pages)
    concurrency = (1, 2) if args.smoke else CONCURRENCY
    rows = {"pages": len(pages), "cpu": cpu_features()}
    rows["in_process_pages_per_s"], rows["in_process_recall"] = in_process(pages)
    with TritonServer.on_free_ports() as server:
        served(server.grpc_url, pages[:1], 1)  # warm-up: every stub has run once
        rows["served"] = {}
        for c in concurrency:
            rate, recall = served(server.grpc_url, pages, c)
            rows["served"][c] = {"pages_per_s": rate, "recall": recall}
        rows["ingest_pages_per_s"], summary = ingest_scan(server.grpc_url, pages)
        rows["ingest_ocr_pages"] = summary["ocr_pages"]
    best = max(rows["served"].values(), key=lambda r: r["pages_per_s"])["pages_per_s"]
    rows["served_best_vs_in_process"] = best / rows["in_process_pages_per_s"]
    print(f"\nOCR of {len(pages)} pages at 150 dpi (CPU: {rows['cpu']})")
    print(f"  in-process RapidOCR:        {rows['in_process_pages_per_s']:6.2f} pages/s  recall {rows['in_process_recall']:.3f}")
    for c, row in rows["served"].items():
        print(f"  served ocr, concurrency {c:>2}: {row['pages_per_s']:6.2f} pages/s  recall {row['recall']:.3f}")
    print(f"  served ingest (image-only PDF): {rows['ingest_pages_per_s']:6.2f} pages/s, "
          f"{rows['ingest_ocr_pages']} pages read by OCR")
    print(f"target: served at its best / in-process RapidOCR >= 1.5: {rows['served_best_vs_in_process']:.2f}")
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
