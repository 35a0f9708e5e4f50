"""Page elements on scans: table accuracy, what the two models cost, the batching gain, retrieval.

    python benchmarks/page_elements.py [--sections 12] [--json build/bench/page_elements.json] [--smoke]

Test set: the sections of ``tests/support/tables.py`` (seed 11), one ruled table per A4 page,
rendered at 150 dpi, as a clean scan and as a noisy one (grey, 3x3 blur, noise of sigma 12 grey
levels, contrast 0.92): no text layer, so every cell is read by OCR.

- **Accuracy**: the served ``ocr`` with ``tables: "auto"``: tables found, and the share of true
  cells found with the same text at the same row and column. Then a PDF whose tables have no row
  rules (the same tables as HTML, rendered by fpdf2): served ``ingest`` with ``tables: "models"``,
  which fills the predicted cells with the text layer's own words, against ``"auto"`` (no table
  found there: read as lines).
- **Cost**: ``page_elements`` per page and ``table_structure`` per table, one request at a time
  (batch 1) and from 4 concurrent clients (the dynamic batcher merges them); ``ocr`` per page with
  tables on and off; served ``ingest`` of the scanned PDF with tables on and off, and of the
  unruled PDF with ``"models"`` and ``"auto"``.
- **Retrieval**: questions whose answer is a cell ("Which port does NAME use?") against each PDF's
  chunks in a Milvus Lite index: recall@5 of the scans with ``tables: "off"`` and ``"auto"``, of
  the unruled PDF with ``"auto"`` and ``"models"``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from report import cpu_features, write_json  # noqa: E402
from structure_accuracy import recall_at_5  # noqa: E402

from support.scans import encoded, render, scanned_pdf  # noqa: E402
from support.tables import cell_accuracy, generated_sections, html_rendered_pdf, markdown_cells, table_pdf  # noqa: E402
from triton_ingest.contracts import PAGE_ELEMENTS, TABLE_STRUCTURE  # noqa: E402
from triton_ingest.models import page_elements as detector  # noqa: E402
from triton_ingest.models import table_structure as structure  # noqa: E402
from triton_ingest.serving.server import TritonServer  # noqa: E402

A4 = (210, 297)
DPI = 150


def noisy(image, seed: int):
    """A worse scan: grey, blurred, noisy, flatter."""
    import cv2
    from PIL import Image

    grey = cv2.GaussianBlur(np.asarray(image.convert("L"), np.float32), (3, 3), 0.6)
    grey = grey + np.random.default_rng(seed).normal(0, 12, grey.shape)
    return Image.fromarray(np.clip(grey * 0.92 + 10, 0, 255).astype(np.uint8)).convert("RGB")


def bgr(image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def model_call(client, spec, batch: np.ndarray) -> np.ndarray:
    import tritonclient.grpc as grpcclient

    tensor = grpcclient.InferInput(spec.inputs[0].name, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    return client.infer(spec.name, [tensor]).as_numpy(spec.outputs[0].name)


def ocr_accuracy(client, sections, images, options: dict) -> tuple[dict, float]:
    """Cells right through the served ``ocr`` (tables found, cell accuracy) and seconds per page."""
    import tritonclient.grpc as grpcclient

    hits = cells = found = 0
    started = time.perf_counter()
    for section, image in zip(sections, images):
        tensors = []
        for name, value in (("IMAGE", encoded(image)), ("OPTIONS", json.dumps(options).encode())):
            tensor = grpcclient.InferInput(name, [1], "BYTES")
            tensor.set_data_from_numpy(np.array([value], dtype=object))
            tensors.append(tensor)
        elements = [json.loads(e) for e in client.infer("ocr", tensors).as_numpy("ELEMENTS")]
        tables = [e["rows"] for e in elements if e["kind"] == "table"]
        found += bool(tables)
        size = sum(len(row) for row in section.rows)
        cells += size
        hits += cell_accuracy(section.rows, tables[0]) * size if tables else 0
    seconds = (time.perf_counter() - started) / len(images)
    return {"tables_true": len(sections), "tables_found": found, "cell_accuracy": round(hits / cells, 4)}, seconds


def ingested_accuracy(sections, result) -> dict:
    """Cells right in the table chunks of a served ``ingest`` (one table a page, in order)."""
    tables = {c["pages"][0]: markdown_cells(c["text"]) for c in result.chunks if c["content_type"] == "table"}
    cells = sum(len(row) for s in sections for row in s.rows)
    hits = sum(cell_accuracy(s.rows, tables[n]) * sum(len(r) for r in s.rows)
               for n, s in enumerate(sections, 1) if n in tables)
    return {"tables_true": len(sections), "tables_found": len(tables), "cell_accuracy": round(hits / cells, 4)}


def model_rates(server: TritonServer, spec, batch: np.ndarray, requests: int) -> dict:
    """Milliseconds per request one at a time, and requests/s from 1 and from 4 concurrent clients
    (connected before the clock starts)."""
    import tritonclient.grpc as grpcclient

    clients = [grpcclient.InferenceServerClient(server.grpc_url) for _ in range(4)]
    try:
        for client in clients:
            model_call(client, spec, batch)  # connected and warm
        started = time.perf_counter()
        for _ in range(requests):
            model_call(clients[0], spec, batch)
        alone = (time.perf_counter() - started) / requests
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda client: [model_call(client, spec, batch) for _ in range(requests // 4)], clients))
        together = (time.perf_counter() - started) / (requests // 4 * 4)
    finally:
        for client in clients:
            client.close()
    return {"ms_per_request_alone": round(alone * 1000, 1), "per_s_alone": round(1 / alone, 2),
            "per_s_4_clients": round(1 / together, 2), "batching_gain": round(alone / together, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=12)
    parser.add_argument("--json", type=Path, default=Path("build/bench/page_elements.json"))
    parser.add_argument("--smoke", action="store_true", help="2 sections, few requests: checks that it runs")
    args = parser.parse_args()
    import tritonclient.grpc as grpcclient
    from triton_ingest_client import Client

    count = 2 if args.smoke else args.sections
    sections = generated_sections(seed=11, count=count)
    pdf = table_pdf(sections)
    scans = [render(pdf, n, DPI) for n in range(count)]
    dirty = [noisy(image, n) for n, image in enumerate(scans)]
    print(f"CPU: {cpu_features()}\ntest set: {count} scanned tables (A4, {DPI} dpi), "
          f"{sum(len(r) for s in sections for r in s.rows)} cells")
    results: dict = {"cpu": cpu_features(), "sections": count, "dpi": DPI}
    unruled = html_rendered_pdf(sections)
    questions = [(f"Which port does {row[0]} use?", row[0], row[1]) for s in sections for row in s.rows[1:]]
    with TritonServer.on_free_ports() as server, grpcclient.InferenceServerClient(server.grpc_url) as client, \
            Client(server.grpc_url, "grpc") as sdk, tempfile.TemporaryDirectory() as scratch:
        clean, ocr_on = ocr_accuracy(client, sections, scans, {"tables": "auto"})
        results["accuracy"] = {"scan": clean, "noisy scan": ocr_accuracy(client, sections, dirty, {"tables": "auto"})[0]}
        got, served = {}, {}
        for name, document, mode in (("scan", scanned_pdf(scans, page_size=A4), "auto"),
                                     ("scan", scanned_pdf(scans, page_size=A4), "off"),
                                     ("unruled", unruled, "models"), ("unruled", unruled, "auto")):
            started = time.perf_counter()
            got[name, mode] = sdk.ingest(document, {"tables": mode}, filename=f"{name}.pdf")
            served[f"{name} pages, tables {mode}"] = round(count / (time.perf_counter() - started), 3)
        for mode in ("models", "auto"):
            results["accuracy"][f"text layer without row rules, tables {mode}"] = \
                ingested_accuracy(sections, got["unruled", mode])
        for name, row in results["accuracy"].items():
            print(f"  accuracy {name:42} {row['tables_found']:>3}/{row['tables_true']} tables, "
                  f"cells {100 * row['cell_accuracy']:.1f}%")
        _, ocr_off = ocr_accuracy(client, sections, scans, {"tables": "off"})
        page = detector.detector_input(bgr(scans[0]))[None]
        crop = structure.structure_input(bgr(scans[0])[200:700, 40:1200])[0][None]
        requests = 8 if args.smoke else 32
        results["cost"] = {
            "page_elements": model_rates(server, PAGE_ELEMENTS, page, requests),
            "table_structure": model_rates(server, TABLE_STRUCTURE, crop, requests),
            "ocr_s_per_page": {"tables auto": round(ocr_on, 2), "tables off": round(ocr_off, 2)},
            "served_ingest_pages_per_s": served}
        for name in ("page_elements", "table_structure"):
            row = results["cost"][name]
            print(f"  cost {name}: {row['ms_per_request_alone']} ms a request alone; {row['per_s_alone']}/s from 1 "
                  f"client, {row['per_s_4_clients']}/s from 4 (dynamic batching: {row['batching_gain']}x)")
        print(f"  cost ocr: {ocr_on:.2f} s a page with tables vs {ocr_off:.2f} s without ({ocr_on / ocr_off:.2f}x)")
        for name, on, off in (("scan", "auto", "off"), ("unruled", "models", "auto")):
            fast, slow = served[f"{name} pages, tables {off}"], served[f"{name} pages, tables {on}"]
            print(f"  served ingest, {name} PDF: {slow} pages/s with tables {on} vs {fast} with {off} "
                  f"({slow / fast:.2f}x)")
        recall = {key: recall_at_5(server, result.chunks, questions, Path(scratch, "-".join(key)), result.embeddings)
                  for key, result in got.items()}
    results["retrieval"] = {"questions": len(questions), **{f"recall_at_5_{name}_tables_{mode}": value
                                                            for (name, mode), value in recall.items()}}
    for name, before, after in (("scan", "off", "auto"), ("unruled", "auto", "models")):
        for mode in ("dense", "hybrid"):
            print(f"  retrieval ({mode}), {name} PDF: {len(questions)} questions on table cells, recall@5 "
                  f"{recall[name, before][mode]:.3f} with tables {before} -> {recall[name, after][mode]:.3f} with {after}")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
