"""Real test documents generated in the tests themselves (fpdf2, python-docx, plain HTML)."""

from __future__ import annotations

import io

PARAGRAPH = (
    "Page {page}, paragraph {para}: Triton Inference Server runs models on CPUs and GPUs. "
    "Documents are extracted, split into token windows and embedded with a sentence model. "
    "Progress is reported while the work advances, so long documents stay observable."
)


def page_text(page: int, paragraphs: int = 3) -> str:
    return "\n".join(PARAGRAPH.format(page=page, para=p) for p in range(1, paragraphs + 1))


def make_pdf(pages: int, paragraphs: int = 3) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 6, page_text(page, paragraphs))
    return bytes(pdf.output())


def make_docx(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_html(body_text: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><title>T</title><style>body {color: red}</style>"
        "<script>var hidden = 'SCRIPT_TEXT';</script></head><body>"
        f"<h1>Heading</h1><p>{body_text}</p><script>alert('SCRIPT_TEXT')</script>"
        "<noscript>NOSCRIPT_TEXT</noscript></body></html>"
    ).encode()


def make_encrypted_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "secret text")
    pdf.set_encryption(owner_password="owner", user_password="user")
    return bytes(pdf.output())
