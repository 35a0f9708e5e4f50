"""Hostile inputs: mutated PDF/DOCX/HTML/Markdown/PNG/PPTX seeds (hypothesis strategies and a seeded
generator for server tests), DOCX and PPTX decompression bombs, a PDF with a huge page count, an
image bomb and a TIFF with thousands of frames."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

from hypothesis import strategies as st

from support.documents import make_docx, make_html, make_pdf, page_text
from support.scans import PROSE, encoded, multipage_tiff, pptx_deck, render, text_pdf

SEEDS = {
    "pdf": make_pdf(2),
    "docx": make_docx([page_text(1), page_text(2)]),
    "html": make_html(page_text(1)),
    "markdown": ("# Title\n\n" + page_text(1) + "\n\n- item\n- item\n").encode(),
    "png": encoded(render(text_pdf([PROSE[0]]), 0, dpi=100)),
    "pptx": pptx_deck([{"title": "Roadmap", "body": page_text(1), "notes": "notes"}]),
    # shapes that hurt before (issue 21): frames of different sizes, and long runs of em spaces
    # around newlines (quadratic in html_text once)
    "tiff": multipage_tiff([render(text_pdf([PROSE[1]]), 0, dpi=100), render(text_pdf([PROSE[2]]), 0, dpi=60)]),
    "htm": ("<html><body><p>" + page_text(1) + "\u2003" * 4000 + "\n" + "\u2003" * 4000 + "end.</p></body></html>")
    .encode(),
}


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random structural mutation: flips, truncation, insertion, duplication or splicing."""
    if len(data) < 2:  # earlier mutations may leave almost nothing: grow it again
        return data + rng.randbytes(rng.randint(1, 64))
    data = bytearray(data)
    kind = rng.choice(["flip", "truncate", "insert", "duplicate", "splice", "zero"])
    if kind == "flip":
        for _ in range(rng.randint(1, 32)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "truncate":
        del data[rng.randrange(1, len(data)):]
    elif kind == "insert":
        at = rng.randrange(len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 512))
    elif kind == "duplicate":
        start = rng.randrange(len(data))
        data[start:start] = data[start:start + rng.randint(1, 4096)]
    elif kind == "splice":
        other = SEEDS[rng.choice(sorted(SEEDS))]
        data[rng.randrange(len(data)):] = other[rng.randrange(len(other)):]
    else:
        start = rng.randrange(len(data))
        data[start:start + rng.randint(1, 2048)] = bytes(min(2048, len(data) - start))
    return bytes(data)


@st.composite
def hostile_documents(draw) -> bytes:
    """Random bytes, or a seed document after 1-4 mutations."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(min_size=1, max_size=4096))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    data = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    for _ in range(draw(st.integers(1, 4))):
        data = mutate(data, rng)
    return data


def seeded_corpus(count: int, seed: int = 8) -> list[tuple[str, bytes]]:
    """``count`` (name, bytes) hostile documents, the same on every run."""
    rng = random.Random(seed)
    corpus = []
    for index in range(count):
        if index % 5 == 0:
            corpus.append((f"random-{index}.bin", rng.randbytes(rng.randint(1, 4096))))
            continue
        kind = sorted(SEEDS)[index % len(SEEDS)]
        data = SEEDS[kind]
        for _ in range(rng.randint(1, 4)):
            data = mutate(data, rng)
        corpus.append((f"mutated-{index}.{kind}", data))
    return corpus


def docx_bomb(unzipped: int = 300 * 1024 * 1024) -> bytes:
    """A valid DOCX plus a part of ``unzipped`` zero bytes that deflates to well under 1 MB."""
    buffer = io.BytesIO(SEEDS["docx"])
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/media/bomb.bin", "w", force_zip64=True) as part:
            block = bytes(1 << 20)
            for _ in range(unzipped >> 20):
                part.write(block)
    return buffer.getvalue()


def pdf_with_pages(count: int) -> bytes:
    """A tiny hand-written PDF whose page tree lists ``count`` pages (the same page object)."""
    kids = " ".join(["3 0 R"] * count)
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in 200 bytes: an image bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def pptx_bomb() -> bytes:
    """A valid deck plus a part of 300 MiB of zeros that deflates to well under 1 MB."""
    buffer = io.BytesIO(pptx_deck([{"title": "x"}]))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("ppt/media/bomb.bin", "w", force_zip64=True) as part:
            for _ in range(300):
                part.write(bytes(1 << 20))
    return buffer.getvalue()


def tiff_bomb_behind_a_small_frame(width: int, height: int) -> bytes:
    """A TIFF whose first frame is 1x1 and whose second is ``width`` x ``height`` grey pixels of
    deflated zeros (a few hundred KB that decode to ``width * height`` bytes, three times that as RGB)."""
    squeeze, row = zlib.compressobj(9), bytes(width)
    strip = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    frames = [(1, 1, 1, 8, 1), (width, height, 8, 12, len(strip))]  # width, height, compression, strip at, bytes
    out = bytearray(b"II*\x00" + struct.pack("<I", 12 + len(strip)) + b"\xff\x00\x00\x00" + strip)
    for index, (w, h, compression, offset, size) in enumerate(frames):
        tags = [(256, w), (257, h), (258, 8), (259, compression), (262, 1), (273, offset), (278, h), (279, size)]
        out += struct.pack("<H", len(tags))
        out += b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in tags)
        out += struct.pack("<I", len(out) + 4 if index == 0 else 0)
    return bytes(out)


def tiff_with_frames(count: int) -> bytes:
    """A TIFF of ``count`` 1x1 grey frames, written by hand (Pillow takes minutes to append thousands):
    every image file directory points at the same one-byte strip."""
    tags = [(256, 1), (257, 1), (258, 8), (259, 1), (262, 1), (273, 8), (278, 1), (279, 1)]  # 273: the strip at 8
    out = bytearray(b"II*\x00" + struct.pack("<I", 12) + b"\xff\x00\x00\x00")  # header, first IFD at 12, strip
    for index in range(count):
        start = len(out)
        following = start + 2 + 12 * len(tags) + 4
        out += struct.pack("<H", len(tags))
        for tag, value in tags:
            out += struct.pack("<HHII", tag, 3 if tag != 273 else 4, 1, value)
        out += struct.pack("<I", following if index < count - 1 else 0)
    return bytes(out)
