"""OCR pre- and post-processing against RapidOCR 1.4.4, the reference for what the models expect.

The engine runs the same ONNX models in-process here (``OnnxImageModel``, as the served models
do); RapidOCR is configured with the same detector and recognizer and no direction classifier."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import numpy as np
import pytest

from support.scans import FONTS, PROSE, assert_same_lines, encoded, render, text_pdf, word_recall
from triton_ingest.models import ocr
from triton_ingest.models.artifacts import OCR_DETECTOR_FILE, OCR_RECOGNIZER_FILES, artifact
from triton_ingest.models.image_models import OnnxImageModel
from triton_ingest.pipeline.images import decode_bgr
from triton_ingest.pipeline.ocr import OcrEngine


@pytest.fixture(scope="module")
def engine():
    detector = OnnxImageModel(artifact(OCR_DETECTOR_FILE), "IMAGE")
    recognizer = OnnxImageModel(artifact(OCR_RECOGNIZER_FILES["en"][0]), "CROPS", fixed_height=48)

    async def detect(batch):
        return detector.run(batch)

    async def recognize(batch):
        return recognizer.run(batch)

    return OcrEngine(detect, recognize, ocr.load_charset(artifact(OCR_RECOGNIZER_FILES["en"][1])))


@pytest.fixture(scope="module")
def page_png():
    return encoded(render(text_pdf([" ".join(PROSE[:3])], FONTS[1]), 0, dpi=150))


def test_detection_input_is_what_rapidocr_feeds_the_detector(rapidocr, page_png):
    image = decode_bgr(page_png, 40_000_000)
    ours = ocr.detection_input(image)
    prepared, _, _ = rapidocr.preprocess(image)
    reference = rapidocr.text_det.get_preprocess(max(prepared.shape[:2]))(prepared)[0]
    assert ours.tensor.shape == reference.shape and ours.tensor.dtype == np.float32
    np.testing.assert_allclose(ours.tensor, reference, atol=1e-6)


def test_served_pipeline_reads_the_same_lines_as_rapidocr(rapidocr, engine, page_png):
    result = asyncio.run(engine.read_bytes(page_png, 40_000_000))
    assert_same_lines([asdict(line) for line in result.lines], rapidocr(page_png)[0])
    assert word_recall(" ".join(PROSE[:3]), result.text) >= 0.95


def test_ctc_drops_blanks_and_repeats_and_scores_the_kept_steps():
    charset = ["", "a", "b", " "]
    steps = [1, 1, 0, 1, 2, 2, 3, 0]  # a a _ a b b ' ' _  ->  "aab "
    probabilities = np.full((len(steps), 4), 0.1, dtype=np.float32)
    probabilities[np.arange(len(steps)), steps] = [0.9, 0.8, 0.99, 0.7, 0.6, 0.5, 0.4, 0.99]
    text, score = ocr.ctc_decode(probabilities, charset)
    assert text == "aab " and score == pytest.approx(np.mean([0.9, 0.7, 0.6, 0.4]))
    assert ocr.ctc_decode(np.eye(4, dtype=np.float32)[[0, 0]], charset) == ("", 0.0)


@pytest.mark.parametrize("language, classes", [("en", 97), ("ch", 6625)])
def test_each_charset_has_one_entry_per_recognizer_class(language, classes):
    model, keys = OCR_RECOGNIZER_FILES[language]
    charset = ocr.load_charset(artifact(keys))
    output = OnnxImageModel(artifact(model), "CROPS", fixed_height=48).run(np.zeros((1, 3, 48, 160), np.float32))
    assert len(charset) == output.shape[-1] == classes
    assert charset[0] == "" and charset[-1] == " "


def test_crops_are_padded_to_bucket_widths_with_mid_grey():
    short, long = np.full((20, 60, 3), 255, np.uint8), np.full((24, 2400, 3), 255, np.uint8)
    groups = ocr.by_bucket([short, long])
    assert groups == {160: [0], 3200: [1]}  # 48 * 60 / 20 = 144 -> 160; 4800 -> squeezed into 3200
    batch = ocr.recognition_input([short], 160)
    assert batch.shape == (1, 3, 48, 160)
    assert np.allclose(batch[0, :, :, :144], 1.0) and np.allclose(batch[0, :, :, 144:], 0.0)


def test_a_tall_line_is_turned_to_lie_horizontally():
    image = np.zeros((200, 100, 3), np.uint8)
    box = np.array([[10, 10], [30, 10], [30, 190], [10, 190]], np.float32)
    assert ocr.crop_line(image, box).shape[:2] == (20, 180)


def test_an_empty_page_has_no_lines(engine):
    blank = encoded(render(text_pdf([""]), 0, dpi=100))
    assert asyncio.run(engine.read_bytes(blank, 40_000_000)).lines == []
