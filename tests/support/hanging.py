"""A worker initializer for extraction tests: any PDF page whose text says HANG-THE-EXTRACTOR
hangs the worker inside page extraction, as a pathological page can hang pdfium. The hanging
worker first writes its process id to ``$HANGING_PID_FILE``, so a test can watch it die."""

from __future__ import annotations

import os
import time
from pathlib import Path

MARKER = "HANG-THE-EXTRACTOR"
PID_FILE = "HANGING_PID_FILE"


def hang_on_marked_pages() -> None:
    from triton_ingest.pipeline import pdf

    real = pdf.page_content

    def page_content(document, index, *args, **kwargs):
        content = real(document, index, *args, **kwargs)
        if any(MARKER in element.text for element in content.elements or ()):
            Path(os.environ[PID_FILE]).write_text(str(os.getpid()))
            time.sleep(3600)
        return content

    pdf.page_content = page_content
