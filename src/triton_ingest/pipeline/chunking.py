"""Token-window chunking with the model's own tokenizer, streaming page by page.

Windows hold at most ``chunk_size`` content tokens (``[CLS]``/``[SEP]`` are
added at embedding time, so the maximum is 254) and consecutive windows
share ``chunk_overlap`` tokens. Boundaries are moved back to word starts so a
chunk's text re-tokenizes to the same tokens; a single word longer than a
window is the only thing ever split. No token is dropped, and none repeats
except in the overlap. With ``text_depth="page"`` windows never cross pages;
with ``"document"`` pages are joined by a blank line and offsets are in that text.
A chunk's ``method`` is ``"ocr"`` when any of its pages was read by OCR, else ``"text"``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

from tokenizers import Tokenizer

from .documents import Page

PAGE_SEPARATOR = "\n\n"


@dataclass
class Chunk:
    """One window of text and where it came from."""

    chunk_index: int
    text: str
    pages: list[int]
    char_start: int  # offset in the page text (page depth) or the joined document text
    char_end: int
    token_start: int  # first token's index in the same stream
    token_count: int
    source: str
    method: str = "text"  # "ocr" when any of its pages was read by OCR
    embed_model: str = ""  # the model that embedded it (ingest's OPTIONS.embed_model)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class _Stream:
    """Tokens not yet fully emitted, with the text they came from."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.words: list[tuple[int, int]] = []
        self.pages: list[int] = []
        self.text = ""  # stream text from char ``base`` on
        self.base = 0
        self.first_token = 0  # stream index of starts[0]
        self.length = 0  # chars of stream text seen so far

    def add(self, page: Page, encoding, page_base: int, segment: int) -> None:
        for (start, end), word in zip(encoding.offsets, encoding.word_ids):
            self.starts.append(page_base + start)
            self.ends.append(page_base + end)
            self.words.append((segment, word if word is not None else -1))
            self.pages.append(page.number)

    def drop(self, count: int) -> None:
        del self.starts[:count], self.ends[:count], self.words[:count], self.pages[:count]
        self.first_token += count
        keep_from = self.starts[0] if self.starts else self.length
        self.text = self.text[keep_from - self.base :]
        self.base = keep_from


class TokenChunker:
    """Splits pages into overlapping token windows (see module docstring)."""

    def __init__(self, tokenizer_json: str, chunk_size: int = 254, chunk_overlap: int = 32):
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError("need 0 <= chunk_overlap < chunk_size")
        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()
        self._tok.no_padding()
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap

    def with_sizes(self, chunk_size: int, chunk_overlap: int) -> "TokenChunker":
        """The same tokenizer with other window sizes (no reload)."""
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError("need 0 <= chunk_overlap < chunk_size")
        other = object.__new__(TokenChunker)
        other._tok, other.chunk_size, other.chunk_overlap = self._tok, chunk_size, chunk_overlap
        return other

    def chunks(self, pages: Iterable[Page], text_depth: str = "page", source: str = "") -> Iterator[Chunk]:
        """Chunks in order; ``chunk_index`` counts across the whole document."""
        feed = self.feed(text_depth, source)
        for page in pages:
            yield from feed.add(page)
        yield from feed.finish()

    def feed(self, text_depth: str = "page", source: str = "") -> "ChunkFeed":
        """A chunker that takes pages one at a time, as they are extracted."""
        return ChunkFeed(self, text_depth, source)

    def _emit(self, s: _Stream, source: str, index: int, final: bool) -> Iterator[Chunk]:
        while len(s.starts) > self.chunk_size or (final and s.starts):
            end = self._window_end(s)
            start_char, end_char = s.starts[0], s.ends[end - 1]
            yield Chunk(
                chunk_index=index,
                text=s.text[start_char - s.base : end_char - s.base],
                pages=sorted(set(s.pages[:end])),
                char_start=start_char,
                char_end=end_char,
                token_start=s.first_token,
                token_count=end,
                source=source,
            )
            index += 1
            s.drop(len(s.starts) if end == len(s.starts) else self._next_start(s, end))

    def _window_end(self, s: _Stream) -> int:
        if len(s.starts) <= self.chunk_size:
            return len(s.starts)
        end = self.chunk_size
        while end > 1 and s.words[end] == s.words[end - 1]:
            end -= 1
        return end if end > 1 or s.words[1] != s.words[0] else self.chunk_size

    def _next_start(self, s: _Stream, end: int) -> int:
        start = end - self.chunk_overlap
        while 0 < start < end and s.words[start] == s.words[start - 1]:
            start -= 1
        return start if start > 0 else end


class ChunkFeed:
    """Pages in, chunks out (``add`` then ``finish``); see :meth:`TokenChunker.chunks`."""

    def __init__(self, chunker: TokenChunker, text_depth: str, source: str):
        self.chunker, self.text_depth, self.source = chunker, text_depth, source
        self.stream, self.index, self.segment = _Stream(), 0, 0
        self.ocr_pages: set[int] = set()

    def add(self, page: Page) -> list[Chunk]:
        """The chunks that ``page`` completes."""
        stream = self.stream
        if self.text_depth == "page":
            stream = self.stream = _Stream()
            page_base = 0
        else:
            if self.segment:
                stream.text += PAGE_SEPARATOR
                stream.length += len(PAGE_SEPARATOR)
            page_base = stream.length
        if page.method == "ocr":
            self.ocr_pages.add(page.number)
        stream.text += page.text
        stream.length += len(page.text)
        stream.add(page, self.chunker._tok.encode(page.text, add_special_tokens=False), page_base, self.segment)
        self.segment += 1
        return self._take(final=self.text_depth == "page")

    def finish(self) -> list[Chunk]:
        """The rest, once the last page is in."""
        return self._take(final=True) if self.text_depth != "page" else []

    def _take(self, final: bool) -> list[Chunk]:
        chunks = list(self.chunker._emit(self.stream, self.source, self.index, final))
        self.index += len(chunks)
        for chunk in chunks:
            chunk.method = "ocr" if self.ocr_pages.intersection(chunk.pages) else "text"
        return chunks
