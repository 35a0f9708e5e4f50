"""Hostile inputs: mutated PDF/DOCX/HTML/Markdown seeds (hypothesis strategies and a seeded
generator for server tests), a DOCX decompression bomb and a PDF with a huge page count."""

from __future__ import annotations

import io
import random
import zipfile

from hypothesis import strategies as st

from support.documents import make_docx, make_html, make_pdf, page_text

SEEDS = {
    "pdf": make_pdf(2),
    "docx": make_docx([page_text(1), page_text(2)]),
    "html": make_html(page_text(1)),
    "markdown": ("# Title\n\n" + page_text(1) + "\n\n- item\n- item\n").encode(),
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
