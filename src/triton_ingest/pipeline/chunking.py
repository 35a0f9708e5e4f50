"""Token-window chunking with the model's own tokenizer, streaming page by page.

Windows hold at most ``chunk_size`` content tokens (``[CLS]``/``[SEP]`` are
added at embedding time, so the maximum is 254) and consecutive windows
share ``chunk_overlap`` tokens. Boundaries are moved back to word starts so a
chunk's text re-tokenizes to the same tokens; a single word longer than a
window is the only thing ever split. No token is dropped, and none repeats
except in the overlap. With ``text_depth="page"`` windows never cross pages;
with ``"document"`` pages are joined by a blank line and offsets are in that text.
A chunk's ``method`` is ``"ocr"`` when any of its pages was read by OCR, else ``"text"``.

Pages with elements (``elements``) are chunked by structure: windows never cross a heading, every
chunk carries its ``section`` path, and tables become ``content_type: "table"`` chunks of whole
rows with their header (see :class:`ChunkFeed`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

from tokenizers import Tokenizer

from .documents import Page
from .elements import SEPARATOR, Element, SectionPath, table_header

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
    content_type: str = "text"  # "table": a table's Markdown (or a part of it, its header repeated); "figure"
    section: list[str] = field(default_factory=list)  # the headings it sits under, outermost first
    box: list[float] | None = None  # (left, top, right, bottom) of a table or figure: PDF points; pixels if OCR'd

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
    """Pages in, chunks out (``add`` then ``finish``); see :meth:`TokenChunker.chunks`.

    A page's elements are walked in order: a heading ends the chunk before it and opens a section
    (every chunk records its ``section`` path); a table ends the chunk before it and becomes
    chunks of its own (``content_type`` ``"table"``, see :meth:`_table`); a figure (its caption and
    the words read in it) is chunked alone (``"figure"``); text elements flow
    into token windows. A page without elements is one paragraph."""

    def __init__(self, chunker: TokenChunker, text_depth: str, source: str):
        self.chunker, self.text_depth, self.source = chunker, text_depth, source
        self.stream, self.index, self.segment = _Stream(), 0, 0
        self.ocr_pages: set[int] = set()
        self.sections = SectionPath()

    def add(self, page: Page) -> list[Chunk]:
        """The chunks that ``page`` completes."""
        if self.text_depth == "page":
            self.stream = _Stream()
        elif self.segment:
            self._extend(PAGE_SEPARATOR)
        if page.method == "ocr":
            self.ocr_pages.add(page.number)
        elements = page.elements if page.elements is not None else [Element("paragraph", page.text)]
        out: list[Chunk] = []
        for position, element in enumerate(elements):
            if position:
                self._extend(SEPARATOR)
            counts = self._line_tokens(element) if element.kind == "table" and element.rows else None
            if counts is not None and len(self.stream.starts) + sum(counts) <= self.chunker.chunk_size:
                # the table fits whole in one chunk with the text pending before it (its heading,
                # its introduction): they go together, and the table is read in its context
                self._extend(element.text, page)
                out += self._number(self._take(final=True), "table", element.box)
                continue
            if element.kind in ("heading", "table", "figure"):
                out += self._take(final=True)
            if element.kind == "figure":  # its caption and words, chunked alone
                self._extend(element.text, page)
                out += self._number(self._take(final=True), "figure", element.box)
                continue
            if element.kind == "heading":
                self.sections.enter(element)
            if counts is not None:
                out += self._number(self._table(element, page, counts), "table", element.box)
                self._extend(element.text, skip=True)
            else:
                self._extend(element.text, page)
        self.segment += 1
        return out + self._take(final=self.text_depth == "page")

    def finish(self) -> list[Chunk]:
        """The rest, once the last page is in."""
        return self._take(final=True) if self.text_depth != "page" else []

    def _extend(self, text: str, page: Page | None = None, skip: bool = False) -> None:
        """Append ``text`` to the stream; its tokens too when ``page`` is given. ``skip``: text
        chunked elsewhere (a table), passed over once nothing before it is pending."""
        stream, base = self.stream, self.stream.length
        stream.text += text
        stream.length += len(text)
        if skip:
            stream.text, stream.base = "", stream.length
        elif page is not None and text:
            stream.add(page, self.chunker._tok.encode(text, add_special_tokens=False), base, self.segment)

    def _line_tokens(self, table: Element) -> list[int]:
        """The tokens of each line of a table's Markdown (their sum is the whole text's: lines
        split on whitespace, as the tokenizer does)."""
        lines = table.text.split("\n")
        return [len(e.ids) for e in self.chunker._tok.encode_batch(lines, add_special_tokens=False)]

    def _take(self, final: bool) -> list[Chunk]:
        return self._number(list(self.chunker._emit(self.stream, self.source, self.index, final)), "text")

    def _number(self, chunks: list[Chunk], content_type: str,
                box: tuple[float, float, float, float] | None = None) -> list[Chunk]:
        for offset, chunk in enumerate(chunks):
            chunk.chunk_index = self.index + offset
            chunk.method = "ocr" if self.ocr_pages.intersection(chunk.pages) else "text"
            chunk.section, chunk.content_type = self.sections.titles, content_type
            if box is not None:
                chunk.box = list(box)
        self.index += len(chunks)
        return chunks

    def _table(self, table: Element, page: Page, counts: list[int]) -> list[Chunk]:
        """A table's chunks: whole when it fits ``chunk_size``, else split between rows, each part
        led by the caption, header and delimiter rows (unless those alone take over half of a
        chunk). A row too long for any chunk is cut into token windows of its own."""
        lines = table.text.split("\n")
        head = len(table_header(table.rows, table.caption))
        limit, header_tokens = self.chunker.chunk_size, sum(counts[:head])
        if header_tokens > limit // 2:  # a header too wide to repeat: its lines are rows
            head, header_tokens = 0, 0
        starts = [self.stream.length]  # each line's offset in the page (or document) text
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        parts: list[Chunk] = []
        part, used = [], 0  # rows of the part being made, and their tokens
        for row in range(head, len(lines) + 1):
            if part and (row == len(lines) or header_tokens + used + counts[row] > limit):
                first = starts[0] if not parts and head else starts[part[0]]
                parts.append(self._table_chunk("\n".join(lines[:head] + [lines[i] for i in part]), page, first,
                                               starts[part[-1] + 1] - 1, header_tokens + used))
                part, used = [], 0
            if row == len(lines):
                break
            if header_tokens + counts[row] > limit:  # one row longer than a chunk
                parts += self._windows(lines[row], page, starts[row])
            else:
                part.append(row)
                used += counts[row]
        return parts

    def _table_chunk(self, text: str, page: Page, start: int, end: int, tokens: int) -> Chunk:
        chunk = Chunk(0, text, [page.number], start, end, self.stream.first_token, tokens, self.source)
        self.stream.first_token += tokens
        return chunk

    def _windows(self, text: str, page: Page, start: int) -> list[Chunk]:
        """Token windows over ``text`` (one over-long table row), offsets from ``start``."""
        stream = _Stream()
        stream.text, stream.length, stream.base, stream.first_token = text, start + len(text), start, self.stream.first_token
        stream.add(page, self.chunker._tok.encode(text, add_special_tokens=False), start, self.segment)
        chunks = list(self.chunker._emit(stream, self.source, 0, final=True))
        self.stream.first_token = stream.first_token
        return chunks
