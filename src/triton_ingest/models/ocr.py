"""Pre- and post-processing of the PaddleOCR models (PP-OCRv4 detection, PP-OCRv4 recognition).

What the ONNX models expect, exactly as RapidOCR 1.4.4 prepares it (its code is the reference;
``tests/models/test_ocr.py`` compares the two):

- detection: a BGR page, its longer side scaled down to 2000 px, a very wide or short image padded
  with black above and below, then scaled so its shorter side is at least 736 px (unless that takes
  the longer side past 2048, the largest input the TensorRT profile takes: only images more than
  2.8 times as wide as high differ from RapidOCR there), both sides rounded to multiples of 32,
  normalised to ``(x / 255 - 0.5) / 0.5``, CHW;
- DB post-processing: the probability map thresholded at 0.3 and dilated, one box per contour
  (minimum-area rectangle), kept if its mean probability is at least 0.5, grown by the unclip
  ratio 1.6 with pyclipper, then mapped back to page pixels;
- recognition: each box cropped and rectified with a perspective warp (turned upright when it is
  tall), resized to height 48 and padded on the right to a bucket width, normalised like detection;
- CTC greedy decoding: per time step the best class; repeats and blanks (class 0) dropped.

Crops are padded to a few bucket widths so that requests from different pages and documents have
equal shapes and batch together, in Triton's dynamic batcher and in a TensorRT engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import pyclipper

REC_HEIGHT = 48
REC_BUCKETS = tuple(range(160, 3201, 160))
"""Widths crops are padded to (steps of 160 px: at most 159 px of padding, which costs compute in
proportion); wider crops are squeezed into the last one."""


@dataclass(frozen=True)
class DetectionSettings:
    limit_side_len: int = 736  # the shorter side is scaled up to this
    max_side_len: int = 2000  # the longer side is scaled down to this first
    min_side_len: int = 30
    min_height: int = 30  # shorter images, or wider than 8:1, get a letterbox
    max_aspect: float = 8.0
    max_input_side: int = 2048  # the detector's largest input (the gpu engine's profile)
    thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    max_candidates: int = 1000


@dataclass(frozen=True)
class DetectionInput:
    """The detector's input for one page, the image its boxes refer to, and how to map them back."""

    tensor: np.ndarray  # [3, H, W] float32
    image: np.ndarray  # the page rescaled and letterboxed: boxes and crops are in its pixels
    pad_top: int  # letterbox rows above the page
    ratio_h: float  # page pixels per rescaled pixel
    ratio_w: float


def _round32(value: float) -> int:
    return int(round(int(value) / 32) * 32)


def _rescale(image: np.ndarray, ratio: float) -> tuple[np.ndarray, float, float]:
    h, w = image.shape[:2]
    new_h, new_w = _round32(h * ratio), _round32(w * ratio)
    if new_h <= 0 or new_w <= 0:
        raise ValueError(f"an image of {w}x{h} pixels is too small to read")
    return cv2.resize(image, (new_w, new_h)), h / new_h, w / new_w


def normalize(image: np.ndarray) -> np.ndarray:
    """HWC uint8 BGR -> CHW float32 in [-1, 1]."""
    return ((image.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


def detection_input(image: np.ndarray, settings: DetectionSettings = DetectionSettings()) -> DetectionInput:
    """Scale and normalise a BGR page (``[H, W, 3]`` uint8) for the detector."""
    h, w = image.shape[:2]
    ratio_h = ratio_w = 1.0
    if max(h, w) > settings.max_side_len:
        image, ratio_h, ratio_w = _rescale(image, settings.max_side_len / max(h, w))
    elif min(h, w) < settings.min_side_len:
        image, ratio_h, ratio_w = _rescale(image, settings.min_side_len / min(h, w))
    h, w = image.shape[:2]
    pad_top = 0
    if h <= settings.min_height or w / h > settings.max_aspect:
        pad_top = abs(max(int(w / settings.max_aspect), settings.min_height) * 2 - h) // 2
        image = cv2.copyMakeBorder(image, pad_top, pad_top, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    short, long = min(image.shape[:2]), max(image.shape[:2])
    ratio = settings.limit_side_len / short if short < settings.limit_side_len else 1.0
    ratio = min(ratio, settings.max_input_side / long)
    resized = cv2.resize(image, (_round32(image.shape[1] * ratio), _round32(image.shape[0] * ratio)))
    return DetectionInput(normalize(resized), image, pad_top, ratio_h, ratio_w)


def _mini_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """The contour's minimum-area rectangle, corners ordered tl, tr, br, bl, and its short side."""
    rect = cv2.minAreaRect(contour)
    points = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(points[:2], key=lambda p: p[1])
    right = sorted(points[2:], key=lambda p: p[1])
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32), min(rect[1])


def _box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside ``box`` (RapidOCR's "fast" score)."""
    h, w = prob.shape
    xmin, xmax = np.clip([math.floor(box[:, 0].min()), math.ceil(box[:, 0].max())], 0, w - 1)
    ymin, ymax = np.clip([math.floor(box[:, 1].min()), math.ceil(box[:, 1].max())], 0, h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    cv2.fillPoly(mask, (box - [xmin, ymin]).reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(prob[ymin:ymax + 1, xmin:xmax + 1], mask)[0]


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray:
    """``box`` grown by ``area * ratio / perimeter`` (round joins), as PaddleOCR's DB does."""
    distance = cv2.contourArea(box) * ratio / cv2.arcLength(box, True)
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return np.array(offset.Execute(distance), dtype=np.float32).reshape(-1, 1, 2)


def _order_clockwise(box: np.ndarray) -> np.ndarray:
    by_x = box[np.argsort(box[:, 0])]
    (tl, bl), (tr, br) = by_x[:2][np.argsort(by_x[:2, 1])], by_x[2:][np.argsort(by_x[2:, 1])]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def detected_boxes(probability: np.ndarray, detection: DetectionInput,
                   settings: DetectionSettings = DetectionSettings()) -> list[np.ndarray]:
    """Text boxes (``[4, 2]`` float32, tl tr br bl, page pixels) from the detector's ``[H, W]`` map."""
    height, width = probability.shape
    dest_h, dest_w = detection.image.shape[:2]
    bitmap = cv2.dilate((probability > settings.thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour in contours[: settings.max_candidates]:
        points, short_side = _mini_box(contour)
        if short_side < 3 or _box_score(probability, points) < settings.box_thresh:
            continue
        box, short_side = _mini_box(_unclip(points, settings.unclip_ratio))
        if short_side < 5:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / width * dest_w), 0, dest_w)
        box[:, 1] = np.clip(np.round(box[:, 1] / height * dest_h), 0, dest_h)
        box = _order_clockwise(box.astype(np.int32).astype(np.float32))
        box[:, 0] = np.clip(box[:, 0], 0, dest_w - 1).astype(np.int32)
        box[:, 1] = np.clip(box[:, 1], 0, dest_h - 1).astype(np.int32)
        if int(np.linalg.norm(box[0] - box[1])) <= 3 or int(np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        boxes.append(box)
    return boxes


def to_page(boxes: Iterable[np.ndarray], detection: DetectionInput, page_shape: tuple[int, int]) -> list[np.ndarray]:
    """Boxes from the detection image's pixels to the page's, clipped to the page."""
    h, w = page_shape
    mapped = []
    for box in boxes:
        out = (box - [0, detection.pad_top]) * np.array([detection.ratio_w, detection.ratio_h], dtype=np.float32)
        out[:, 0] = np.clip(out[:, 0], 0, w)
        out[:, 1] = np.clip(out[:, 1], 0, h)
        mapped.append(out)
    return mapped


def crop_line(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The text line inside ``box``, rectified; a tall crop is turned to lie horizontally."""
    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                               flags=cv2.INTER_CUBIC)
    return np.rot90(crop) if crop.shape[0] >= 1.5 * crop.shape[1] else crop


def rec_width(crop: np.ndarray) -> int:
    """The crop's width once scaled to height 48."""
    h, w = crop.shape[:2]
    return max(1, math.ceil(REC_HEIGHT * w / h))


def bucket_of(width: int, buckets: Sequence[int] = REC_BUCKETS) -> int:
    return next((b for b in buckets if width <= b), buckets[-1])


def recognition_input(crops: Sequence[np.ndarray], width: int) -> np.ndarray:
    """``[n, 3, 48, width]`` float32: each crop scaled to height 48 (at most ``width`` wide) and
    padded on the right with zeros, which is mid-grey after normalisation."""
    batch = np.zeros((len(crops), 3, REC_HEIGHT, width), dtype=np.float32)
    for row, crop in enumerate(crops):
        resized = cv2.resize(crop, (min(width, rec_width(crop)), REC_HEIGHT))
        batch[row, :, :, : resized.shape[1]] = normalize(resized)
    return batch


def by_bucket(crops: Sequence[np.ndarray]) -> dict[int, list[int]]:
    """Crop indices grouped by the bucket width they are padded to."""
    groups: dict[int, list[int]] = {}
    for index, crop in enumerate(crops):
        groups.setdefault(bucket_of(rec_width(crop)), []).append(index)
    return groups


def load_charset(path: Path | str) -> list[str]:
    """The recognizer's classes: CTC blank, the dictionary's characters, then a space."""
    return ["", *Path(path).read_text(encoding="utf-8").splitlines(), " "]


def ctc_decode(probabilities: np.ndarray, charset: Sequence[str]) -> tuple[str, float]:
    """Greedy CTC over ``[T, C]`` probabilities: (text, mean probability of its characters)."""
    best, score = probabilities.argmax(axis=1), probabilities.max(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != 0
    if not keep.any():
        return "", 0.0
    return "".join(charset[i] for i in best[keep]), float(score[keep].mean())
