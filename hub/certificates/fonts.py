"""Fonts for certificates: an embedded font that covers rare characters (CJK Ext-B, e.g. 𠮷) where the
machine has one, the built-in CID font ``STSong-Light`` otherwise.

reportlab embeds TrueType outlines only, while Noto CJK ships CFF outlines in a collection (.ttc).
So for each document the chosen face is cut down with fontTools to the characters the document
uses, its cubic CFF outlines are converted to quadratic TrueType ones, and the result (a few dozen
kilobytes) is registered with reportlab under a name unique to that character set. Faces are tried
in order, so a character missing in the first face (Hanazono splits its coverage over two files)
comes from the next one; characters no face covers fall back to ``STSong-Light``.

``STSong-Light`` needs no file but lacks CJK Ext-B: a certificate rendered with it shows a blank for
such a character, so using it logs a warning.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fontTools import subset  # type: ignore[import-untyped]
from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped]
from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]
from fontTools.ttLib import TTCollection, TTFont, newTable  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont as ReportlabTTFont  # type: ignore[import-untyped]

log = logging.getLogger(__name__)
# fontTools logs every table it reads or writes at DEBUG; keep it quiet whatever the root level is.
logging.getLogger("fontTools").setLevel(logging.WARNING)

BUILTIN_CID_FONT = "STSong-Light"

# Debian's fonts-noto-cjk (one collection per style), older split .otf packaging, fonts-hanazono.
DEFAULT_FONT_PATHS: tuple[Path, ...] = (
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJKsc-Regular.otf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
    Path("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf"),
    Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf"),
)

# Within a collection, the simplified-Chinese face first (the glyph shapes readers expect).
_PREFERRED_FACE_TAGS = (" SC", " CN", "GB", " TC", " HK", " JP", " KR")

# Always kept, so digits, Latin letters and punctuation come from the same face as the text.
_BASE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "，。、：；（）《》“”·—"

_lock = threading.Lock()


@dataclass(frozen=True)
class Face:
    """One font face on disk: a file and, for a collection, the index of the face inside it."""

    path: Path
    number: int
    label: str


def _face_rank(label: str) -> int:
    for rank, tag in enumerate(_PREFERRED_FACE_TAGS):
        if tag in label:
            return rank
    return len(_PREFERRED_FACE_TAGS)


def _faces_in(path: Path) -> list[Face]:
    """The faces of one file; for a collection the best face (SC first, not Mono) only."""
    if path.suffix.lower() == ".ttc":
        collection = TTCollection(str(path), lazy=True)
        candidates = []
        for number, font in enumerate(collection.fonts):
            label = str(font["name"].getDebugName(4) or font["name"].getDebugName(1) or path.name)
            candidates.append(Face(path, number, label))
        proportional = [f for f in candidates if "Mono" not in f.label] or candidates
        return sorted(proportional, key=lambda f: (_face_rank(f.label), f.number))[:1]
    font = TTFont(str(path), lazy=True)
    return [Face(path, -1, str(font["name"].getDebugName(4) or path.name))]


def find_faces(extra: Iterable[Path] = ()) -> tuple[Face, ...]:
    """Usable faces, configured paths first, then the defaults that exist on this machine."""
    faces: list[Face] = []
    seen: set[Path] = set()
    for path in (*extra, *DEFAULT_FONT_PATHS):
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        try:
            faces.extend(_faces_in(path))
        except Exception as exc:  # a broken or unsupported file is skipped, not fatal
            log.warning("font %s skipped: %s", path, type(exc).__name__)
    return tuple(faces)


@lru_cache(maxsize=8)
def faces_for(paths: tuple[Path, ...] = ()) -> tuple[Face, ...]:
    """``find_faces`` once per process for a configuration (fonts do not change while it runs)."""
    faces = find_faces(paths)
    if not faces:
        log.warning("no embeddable CJK font found; certificates will use %s", BUILTIN_CID_FONT)
    return faces


@lru_cache(maxsize=16)
def _cmap(face: Face) -> frozenset[int]:
    return frozenset(_open(face).getBestCmap())


def _open(face: Face) -> Any:
    if face.number >= 0:
        return TTFont(str(face.path), fontNumber=face.number, lazy=True)
    return TTFont(str(face.path), lazy=True)


def _to_truetype(font: Any) -> None:
    """Replace CFF outlines by quadratic TrueType outlines in place (after subsetting: few glyphs)."""
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        # PostScript outlines run counter-clockwise, TrueType ones clockwise.
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for tag in ("CFF ", "CFF2", "VORG"):
        if tag in font:
            del font[tag]
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    font["maxp"] = maxp
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"


def _subset_bytes(face: Face, chars: str, postscript_name: str) -> bytes:
    font = _open(face)
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.desubroutinize = True
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "vhea", "vmtx", "VORG", "DSIG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    if "CFF " in font or "CFF2" in font:
        _to_truetype(font)
    # reportlab shares one font object per PostScript name: each subset needs a name of its own.
    for record in font["name"].names:
        if record.nameID == 6:
            record.string = postscript_name
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


class _ReportlabFont(ReportlabTTFont):  # type: ignore[misc]
    """reportlab's TrueType font with a correct ToUnicode map for characters beyond the BMP.

    reportlab writes ``<20BB7>`` for 𠮷, which is not valid UTF-16BE, so text extraction and search
    lose the character; the map is rewritten with surrogate pairs once reportlab has built it.
    """

    def addObjects(self, doc: Any) -> None:
        # reportlab drops the per-document state at the end of addObjects: read the subsets first.
        subsets = [
            (self.getSubsetInternalName(n, doc)[1:], list(chars)) for n, chars in enumerate(self.state[doc].subsets)
        ]
        super().addObjects(doc)
        for internal, chars in subsets:
            base = doc.idToObject[internal].BaseFont
            stream = doc.idToObject.get("toUnicodeCMap:" + base)
            if stream is not None:
                stream.content = _to_unicode_cmap(base, chars)


def _to_unicode_cmap(name: str, chars: Sequence[int]) -> str:
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({name})",
        f"/Ordering ({name})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{name} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(chars) - 1:02X}>",
        "endcodespacerange",
        f"{len(chars)} beginbfchar",
        *(f"<{i:02X}> <{chr(c).encode('utf-16-be').hex().upper()}>" for i, c in enumerate(chars)),
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class DocumentFonts:
    """The reportlab font names prepared for one document, each with the characters it covers."""

    fonts: tuple[tuple[str, frozenset[int]], ...]
    fallback: str
    registered: tuple[Any, ...]

    def font_for(self, char: str) -> str:
        code = ord(char)
        for name, covered in self.fonts:
            if code in covered:
                return name
        return self.fallback

    def runs(self, text: str) -> Iterator[tuple[str, str]]:
        """(font name, text) runs of ``text``, each drawn in one font."""
        current, start = None, 0
        for i, char in enumerate(text):
            name = self.font_for(char)
            if name != current:
                if current is not None:
                    yield current, text[start:i]
                current, start = name, i
        if current is not None:
            yield current, text[start:]

    def width(self, text: str, size: float) -> float:
        return float(sum(pdfmetrics.stringWidth(part, name, size) for name, part in self.runs(text)))

    def release(self) -> None:
        """Drop this document's fonts from reportlab's registry, so it does not grow with every document."""
        with _lock:
            for font in self.registered:
                font.unregister()


def _ensure_builtin() -> str:
    with _lock:
        if BUILTIN_CID_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(BUILTIN_CID_FONT))
    return BUILTIN_CID_FONT


def prepare(text: str, faces: Sequence[Face]) -> DocumentFonts:
    """Subset and register the faces needed for ``text``; call ``release`` after rendering."""
    needed = {ord(c) for c in set(text + _BASE_CHARS) if not c.isspace() or c == " "}
    fonts: list[tuple[str, frozenset[int]]] = []
    registered: list[Any] = []
    remaining = set(needed)
    for face in faces:
        if not remaining:
            break
        covered = remaining & _cmap(face)
        if not covered or (fonts and not covered - {ord(c) for c in _BASE_CHARS}):
            continue  # the face adds nothing the text needs beyond ASCII and punctuation
        chars = "".join(sorted(map(chr, covered)))
        digest = hashlib.sha256(f"{face.path}\x00{face.number}\x00{chars}".encode()).hexdigest()[:16]
        name = f"HubCJK-{digest}"
        font = _ReportlabFont(name, io.BytesIO(_subset_bytes(face, chars, name)))
        with _lock:
            pdfmetrics.registerFont(font)
        fonts.append((name, frozenset(covered)))
        registered.append(font)
        remaining -= covered
    fallback = _ensure_builtin()
    missing = {c for c in remaining if c > 0x7F}
    if not fonts:
        log.warning(
            "no embeddable CJK font found (install fonts-noto-cjk or fonts-hanazono); using %s, "
            "which lacks CJK Ext-B characters",
            BUILTIN_CID_FONT,
        )
    elif missing:
        log.warning(
            "%d character(s) not covered by any embedded font; using %s for them", len(missing), BUILTIN_CID_FONT
        )
    return DocumentFonts(tuple(fonts), fallback, tuple(registered))
