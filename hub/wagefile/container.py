"""What an uploaded file really is, checked before any spreadsheet parser sees it.

The type is decided by content, never by the file name: an OOXML or ODF zip, or an OLE compound
file (xls, or an encrypted OOXML package). Then, in this order and without decompressing anything
first:

* zip: entry count and the *declared* uncompressed sizes from the central directory (total and
  per-entry compression ratio), encrypted entries, macro parts (``vbaProject.bin``, a
  ``macroEnabled`` content type, Excel 4.0 macro sheets, ODF ``Basic/`` and ``Scripts/``), ODF
  encryption in the manifest. Then every XML part is streamed through defusedxml's expat reader
  with DTDs, entity declarations and external references forbidden (billion laughs, XXE), reading
  at most the declared size (Python's zipfile stops there and checks the CRC). The same pass
  records, per worksheet, the extent of the cells that hold data and every formula cell.
* OLE: an ``EncryptedPackage`` stream means a password-protected xlsx; a VBA storage means macros;
  the BIFF records of the ``Workbook`` stream give FILEPASS (password), the extent of each sheet's
  value cells and every FORMULA cell.

Formulas are never evaluated: calamine would only hand back the value cached by the last program
that saved the file, which the clerk may never have seen, so formula cells are reported to the
clerk instead (see ``hub.wagefile.declaration``).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.sax import SAXException

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from defusedxml.expatreader import DefusedExpatParser

from hub.wagefile.config import WagefileSettings
from hub.wagefile.errors import (
    EncryptedWorkbook,
    FileTooLarge,
    MacroWorkbook,
    MalformedWorkbook,
    NotASpreadsheet,
    UnsafeXml,
    ZipBomb,
)

Kind = Literal["xlsx", "xls", "ods"]

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# "Strict Open XML" (ISO/IEC 29500 strict), which Excel offers under "Save as".
_NS_MAIN_STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
_NS_REL_STRICT = "http://purl.oclc.org/ooxml/officeDocument/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_NS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_NS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_NS_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_CHUNK = 64 * 1024
_SMALL_PART_LIMIT = 4 * 1024 * 1024
_BROKEN = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    struct.error,
    UnicodeDecodeError,
    SAXException,
    SyntaxError,
)


@dataclass(slots=True)
class SheetScan:
    """What the pre-scan saw of one worksheet: the extent of its data and its formula cells.

    ``max_row`` and ``max_col`` are 1-based (0 when the sheet holds nothing); ``formulas`` are
    1-based (row, column) pairs.
    """

    name: str
    max_row: int = 0
    max_col: int = 0
    formulas: list[tuple[int, int]] = field(default_factory=list)

    def see(self, row: int, col: int) -> None:
        self.max_row = max(self.max_row, row)
        self.max_col = max(self.max_col, col)


@dataclass(slots=True)
class ContainerScan:
    """The outcome of ``inspect``: the format and, per sheet name, what the pre-scan saw.

    ``unnamed`` holds xlsx worksheet parts that no sheet name of the workbook points at.
    """

    kind: Kind
    sheets: dict[str, SheetScan]
    unnamed: list[SheetScan] = field(default_factory=list)

    def all_sheets(self) -> list[SheetScan]:
        return [*self.sheets.values(), *self.unnamed]

    def formulas_of(self, sheet: str) -> list[tuple[int, int]]:
        """Formula cells of ``sheet``; of every unnamed part too when the name was not matched."""
        scan = self.sheets.get(sheet)
        if scan is not None:
            return scan.formulas
        return [cell for unnamed in self.unnamed for cell in unnamed.formulas]


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} 字节"


def inspect(data: bytes, settings: WagefileSettings) -> ContainerScan:
    """Decide what ``data`` is and refuse anything unsafe; raise a ``WagefileError`` subclass.

    Raises ``FileTooLarge``, ``NotASpreadsheet``, ``EncryptedWorkbook``, ``MacroWorkbook``,
    ``ZipBomb``, ``UnsafeXml`` or ``MalformedWorkbook``. Nothing is decompressed before the zip
    central directory has been checked.
    """
    if len(data) > settings.max_file_bytes:
        raise FileTooLarge(f"文件大小超过上限 {_mib(settings.max_file_bytes)}，请拆分后分批上传")
    if not data:
        raise NotASpreadsheet("文件为空，请选择填写好的申报表")
    if not data.startswith((OLE_MAGIC, *ZIP_MAGICS)):
        raise NotASpreadsheet(_what_else(data))
    try:
        return _inspect_ole(data, settings) if data.startswith(OLE_MAGIC) else _inspect_zip(data, settings)
    except _BROKEN:
        # Whatever a damaged container makes the zip, zlib, OLE or BIFF readers raise: the refusals
        # above (WagefileError) are not among these types and pass through unchanged.
        raise MalformedWorkbook() from None


def _what_else(data: bytes) -> str:
    """A friendlier refusal for the usual wrong files."""
    head = data[:8]
    if head.startswith(b"MZ") or head.startswith(b"\x7fELF"):
        what = "可执行程序"
    elif head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or head[:4] in (b"GIF8", b"RIFF"):
        what = "图片"
    elif head.startswith(b"%PDF"):
        what = "PDF 文档"
    elif head.startswith((b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b")):
        what = "压缩包"
    else:
        what = ""
    base = "文件内容不是 Excel（xlsx、xls）或 ODS 电子表格"
    if what:
        return f"{base}（实际是{what}，仅修改扩展名无效），请上传用模板填写的电子表格"
    return f"{base}，请上传用模板填写的电子表格（不受理 CSV 等文本文件）"


# zip containers (xlsx, ods) ----------------------------------------------------------------------


def _inspect_zip(data: bytes, settings: WagefileSettings) -> ContainerScan:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise MalformedWorkbook() from None
    with zf:
        infos = zf.infolist()
        _check_sizes(infos, settings)
        if any(info.flag_bits & 0x1 for info in infos):
            raise EncryptedWorkbook()
        names = {info.filename for info in infos}
        if len(names) != len(infos):
            # Two entries of one name: which one a reader takes differs between zip libraries, so
            # the part scanned here might not be the part calamine reads.
            raise MalformedWorkbook()
        lower = {name.lower() for name in names}
        if "mimetype" in names:
            return _inspect_ods(zf, names, settings)
        if "[Content_Types].xml" in names:
            return _inspect_xlsx(zf, names, lower, settings)
        raise NotASpreadsheet("文件是普通压缩包，不是电子表格，请上传用模板填写的电子表格")


def _check_sizes(infos: list[zipfile.ZipInfo], settings: WagefileSettings) -> None:
    if len(infos) > settings.max_zip_entries:
        raise ZipBomb(f"文件内部条目数为 {len(infos)}，超过上限 {settings.max_zip_entries}，疑似压缩炸弹，已拒绝")
    total = 0
    for info in infos:
        total += info.file_size
        big = info.file_size >= settings.ratio_check_min_bytes and info.file_size > 0
        if big and (info.compress_size <= 0 or info.file_size / info.compress_size > settings.max_compression_ratio):
            raise ZipBomb("文件内部某部分的压缩比异常，疑似压缩炸弹，已拒绝")
    if total > settings.max_uncompressed_bytes:
        raise ZipBomb(
            f"文件解压后约 {_mib(total)}，超过上限 {_mib(settings.max_uncompressed_bytes)}，疑似压缩炸弹，已拒绝"
        )


def _read_small(zf: zipfile.ZipFile, name: str) -> bytes:
    """A small structural part read whole (content types, workbook, relationships, manifest)."""
    try:
        if zf.getinfo(name).file_size > _SMALL_PART_LIMIT:
            raise MalformedWorkbook()
        return zf.read(name)
    except _BROKEN:
        raise MalformedWorkbook() from None


def _safe_tree(raw: bytes) -> Any:
    try:
        return defused_fromstring(raw, forbid_dtd=True)
    except DefusedXmlException:
        raise UnsafeXml() from None
    except SyntaxError:  # xml.etree.ElementTree.ParseError
        raise MalformedWorkbook() from None


def _inspect_xlsx(zf: zipfile.ZipFile, names: set[str], lower: set[str], settings: WagefileSettings) -> ContainerScan:
    types = _safe_tree(_read_small(zf, "[Content_Types].xml"))
    content_types = [el.get("ContentType", "") for el in types.iter() if el.get("ContentType")]
    if (
        any(n.endswith("vbaproject.bin") or n.startswith("xl/macrosheets/") for n in lower)
        or any("macroenabled" in ct.lower() or "vbaproject" in ct.lower() for ct in content_types)
        or any("macrosheet" in ct.lower() for ct in content_types)
    ):
        raise MacroWorkbook()
    if "xl/workbook.xml" not in names:
        if "xl/workbook.bin" in names:
            raise NotASpreadsheet("不受理 Excel 二进制工作簿（.xlsb），请另存为 .xlsx 后重新上传")
        if "word/document.xml" in names or "ppt/presentation.xml" in names:
            raise NotASpreadsheet("文件是 Word 或 PowerPoint 文档，不是电子表格，请上传用模板填写的电子表格")
        raise MalformedWorkbook()
    sheet_parts = _xlsx_sheet_parts(zf, names)
    sheets: dict[str, SheetScan] = {}
    unnamed: list[SheetScan] = []
    for info in zf.infolist():
        name = info.filename
        if not name.lower().endswith((".xml", ".rels", ".vml")):
            continue
        if name in sheet_parts:
            scan = SheetScan(sheet_parts[name])
            _scan_xml(zf, info, _XlsxSheetHandler(scan))
            sheets[scan.name] = scan
        elif name.lower().startswith("xl/worksheets/") and name.lower().endswith(".xml"):
            # A worksheet part the workbook does not name (or names in a way not understood here):
            # still scanned as a sheet, so that its extent and formulas are not missed.
            scan = SheetScan(name)
            _scan_xml(zf, info, _XlsxSheetHandler(scan))
            unnamed.append(scan)
        else:
            _scan_xml(zf, info, _Handler())
    return ContainerScan("xlsx", sheets, unnamed)


def _xlsx_sheet_parts(zf: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    """Zip part name → sheet name, from xl/workbook.xml and its relationships."""
    workbook = _safe_tree(_read_small(zf, "xl/workbook.xml"))
    rels_name = "xl/_rels/workbook.xml.rels"
    targets: dict[str, str] = {}
    if rels_name in names:
        for rel in _safe_tree(_read_small(zf, rels_name)).iter(f"{{{_NS_PKG_REL}}}Relationship"):
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rel.get("Id", "")] = target
    parts: dict[str, str] = {}
    for main, rel in ((_NS_MAIN, _NS_REL), (_NS_MAIN_STRICT, _NS_REL_STRICT)):
        for sheet in workbook.iter(f"{{{main}}}sheet"):
            rid = sheet.get(f"{{{rel}}}id", "")
            if rid in targets:
                parts[targets[rid]] = sheet.get("name", "")
    return parts


def _inspect_ods(zf: zipfile.ZipFile, names: set[str], settings: WagefileSettings) -> ContainerScan:
    mimetype = _read_small(zf, "mimetype")[:200].decode("ascii", "replace").strip()
    if mimetype != ODS_MIMETYPE:
        raise NotASpreadsheet("文件是 OpenDocument 文本或演示文稿，不是电子表格，请上传用模板填写的电子表格")
    if any(n.startswith(("Basic/", "Scripts/")) for n in names):
        raise MacroWorkbook()
    if "META-INF/manifest.xml" in names:
        manifest = _safe_tree(_read_small(zf, "META-INF/manifest.xml"))
        if any(el.tag == f"{{{_NS_MANIFEST}}}encryption-data" for el in manifest.iter()):
            raise EncryptedWorkbook()
    if "content.xml" not in names:
        raise MalformedWorkbook()
    handler = _OdsContentHandler()
    for info in zf.infolist():
        if info.filename.lower().endswith((".xml", ".rdf")):
            if info.filename == "content.xml":
                _scan_xml(zf, info, handler, wants_end=True)
            else:
                _scan_xml(zf, info, _Handler())
    return ContainerScan("ods", {s.name: s for s in handler.sheets})


class _Handler:
    """Element callbacks of a scan; the base does nothing (the parse alone checks the XML)."""

    def start(self, name: str, attrs: dict[str, str]) -> None:
        return None

    def end(self, name: str) -> None:
        return None


class _ScanParser(DefusedExpatParser):
    """defusedxml's expat reader with the element callbacks wired straight to pyexpat.

    The SAX layer would build an attributes object and make three Python calls per element, which
    triples the cost on a 10,000-row sheet. The defused handlers (DTD, entity declarations,
    external references) are installed by the base ``reset`` and kept; only the element and
    character callbacks are replaced. Names arrive as "namespace-uri local [prefix]".
    """

    def __init__(self, handler: _Handler, *, wants_end: bool) -> None:
        super().__init__(namespaceHandling=1, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        self._handler = handler
        self._wants_end = wants_end

    def reset(self) -> None:
        super().reset()
        parser = self._parser  # type: ignore[attr-defined]  # xml.sax.expatreader's pyexpat parser
        parser.StartElementHandler = self._handler.start
        parser.EndElementHandler = self._handler.end if self._wants_end else None
        parser.CharacterDataHandler = None
        parser.ProcessingInstructionHandler = None


def _scan_xml(zf: zipfile.ZipFile, info: zipfile.ZipInfo, handler: _Handler, *, wants_end: bool = False) -> None:
    """Stream one part through defusedxml's expat reader (no DTD, no entities, no external refs)."""
    parser = _ScanParser(handler, wants_end=wants_end)
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                parser.feed(chunk)
        parser.close()
    except DefusedXmlException:
        raise UnsafeXml() from None
    except _BROKEN:
        raise MalformedWorkbook() from None


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _split(name: str) -> tuple[str, str]:
    uri, _, rest = name.partition(" ")
    if not rest:
        return "", uri
    return uri, rest.partition(" ")[0]


_XLSX_KINDS = {
    f"{ns} {local}": kind
    for ns in (_NS_MAIN, _NS_MAIN_STRICT)
    for local, kind in (("c", 1), ("v", 2), ("is", 2), ("row", 3), ("f", 4))
}
_MAIN_PREFIXES = (_NS_MAIN + " ", _NS_MAIN_STRICT + " ")
_DIGITS = "0123456789"


class _XlsxSheetHandler(_Handler):
    """Extent of the cells with content and the formula cells of one worksheet part.

    This runs once per element of the sheet (about 16 per row of a declaration), so it works on
    the raw "uri local" names and keeps column numbers of the letters it has seen.
    """

    def __init__(self, scan: SheetScan) -> None:
        self.scan = scan
        self.row = 0
        self.col = 0
        self.ref = ""
        self.letters: dict[str, int] = {}

    def _position(self) -> tuple[int, int]:
        """(row, column) of the current cell; calamine places a cell by its own reference."""
        ref = self.ref
        if not ref:
            return self.row, self.col
        letters = ref.rstrip(_DIGITS)
        col = self.letters.get(letters)
        if col is None:
            if not letters or not letters.isascii() or not letters.isupper() or len(letters) > 3:
                raise MalformedWorkbook()
            col = self.letters[letters] = _column_number(letters)
        digits = ref[len(letters) :]
        row = int(digits) if digits else self.row
        self.col = col
        return row, col

    def start(self, name: str, attrs: dict[str, str]) -> None:
        kind = _XLSX_KINDS.get(name)
        if kind is None:
            if not name.startswith(_MAIN_PREFIXES):
                return
            kind = _XLSX_KINDS.get(name.rsplit(" ", 1)[0])  # a prefixed name: "uri local prefix"
            if kind is None:
                return
        if kind == 1:
            ref = attrs.get("r")
            if ref:
                self.ref = ref
            else:  # no reference: the cell after the previous one
                self.ref = ""
                self.col += 1
        elif kind == 2:
            # Only cells with content count: Excel writes styled empty cells far down a sheet.
            row, col = self._position()
            scan = self.scan
            scan.max_row = max(scan.max_row, row)
            scan.max_col = max(scan.max_col, col)
        elif kind == 3:
            r = attrs.get("r")
            self.row = int(r) if r and r.isdigit() else self.row + 1
            self.col = 0
            self.ref = ""
        else:
            row, col = self._position()
            self.scan.see(row, col)
            self.scan.formulas.append((row, col))


_A_NAME = f"{_NS_TABLE} name"
_A_FORMULA = f"{_NS_TABLE} formula"
_A_VALUE_TYPE = f"{_NS_OFFICE} value-type"
_A_ROWS_REPEATED = f"{_NS_TABLE} number-rows-repeated"
_A_COLS_REPEATED = f"{_NS_TABLE} number-columns-repeated"


def _attr(attrs: dict[str, str], full: str) -> str | None:
    """An attribute by namespace and local name, whatever prefix the file uses."""
    value = attrs.get(full)
    if value is not None:
        return value
    for key, v in attrs.items():
        if key.startswith(full + " "):
            return v
    return None


class _OdsContentHandler(_Handler):
    """Per table of content.xml: extent of the cells holding a value, and the formula cells."""

    def __init__(self) -> None:
        self.sheets: list[SheetScan] = []
        self.row = 0
        self.col = 0
        self.row_repeat = 1

    def start(self, name: str, attrs: dict[str, str]) -> None:
        uri, local = _split(name)
        if uri != _NS_TABLE:
            return
        if local == "table":
            self.sheets.append(SheetScan(_attr(attrs, _A_NAME) or ""))
            self.row = 0
        elif local == "table-row":
            self.row_repeat = _repeat(_attr(attrs, _A_ROWS_REPEATED))
            self.row += 1
            self.col = 0
        elif local in ("table-cell", "covered-table-cell") and self.sheets:
            first = self.col + 1
            self.col += _repeat(_attr(attrs, _A_COLS_REPEATED))
            has_formula = _attr(attrs, _A_FORMULA) is not None
            if has_formula or _attr(attrs, _A_VALUE_TYPE) is not None:
                scan = self.sheets[-1]
                # A repeated row or cell with a value really repeats it: count its whole extent.
                scan.see(self.row + self.row_repeat - 1, self.col)
                if has_formula:
                    scan.formulas.extend((self.row, c) for c in range(first, min(self.col, first + 100) + 1))

    def end(self, name: str) -> None:
        if _split(name) == (_NS_TABLE, "table-row"):
            self.row += self.row_repeat - 1
            self.row_repeat = 1


def _repeat(value: str | None) -> int:
    if value is None:
        return 1
    try:
        return max(1, int(value))
    except ValueError:
        raise MalformedWorkbook() from None


# OLE compound files (xls, encrypted OOXML) -------------------------------------------------------

_BIFF_FORMULA = 0x0006
_BIFF_FILEPASS = 0x002F
_BIFF_BOUNDSHEET = 0x0085
_BIFF_MULRK = 0x00BD
# Records of one cell holding a value, each starting with its row and column (BLANK and MULBLANK,
# written for formatted empty cells, are not read by calamine and do not count).
_BIFF_VALUE_CELLS = frozenset({0x0203, 0x00FD, 0x027E, 0x0204, 0x0205, 0x00D6})


def _inspect_ole(data: bytes, settings: WagefileSettings) -> ContainerScan:
    import olefile

    try:
        ole = olefile.OleFileIO(data)
    except (OSError, ValueError, IndexError, struct.error):
        raise MalformedWorkbook() from None
    try:
        entries = {"/".join(path) for path in ole.listdir(streams=True, storages=True)}
        tops = {entry.split("/")[0] for entry in entries}
        if "EncryptedPackage" in tops or "EncryptionInfo" in tops:
            raise EncryptedWorkbook()
        if "_VBA_PROJECT_CUR" in tops or "_VBA_PROJECT" in tops or "Macros" in tops:
            raise MacroWorkbook()
        stream = "Workbook" if "Workbook" in tops else "Book" if "Book" in tops else None
        if stream is None:
            if "WordDocument" in tops or "PowerPoint Document" in tops:
                raise NotASpreadsheet("文件是 Word 或 PowerPoint 文档，不是电子表格，请上传用模板填写的电子表格")
            raise NotASpreadsheet()
        if ole.get_size(stream) > settings.max_uncompressed_bytes:
            raise ZipBomb(f"工作簿数据超过上限 {_mib(settings.max_uncompressed_bytes)}，已拒绝")
        biff = ole.openstream(stream).read()
    except (OSError, ValueError, IndexError, struct.error):
        raise MalformedWorkbook() from None
    finally:
        ole.close()
    return ContainerScan("xls", _scan_biff(biff))


def _scan_biff(biff: bytes) -> dict[str, SheetScan]:
    """Walk the BIFF records: FILEPASS, sheet names and offsets, value and FORMULA cells."""
    unpack = struct.unpack_from
    size = len(biff)
    pos = 0
    bounds: list[tuple[int, SheetScan]] = []
    current: SheetScan | None = None
    next_bound = 0
    while pos + 4 <= size:
        rtype, length = unpack("<HH", biff, pos)
        body = pos + 4
        # A sheet's substream starts at the offset its BOUNDSHEET record names; charts embedded in
        # a sheet have their own BOF records, so the offsets, not BOF counting, tell the sheet.
        while next_bound < len(bounds) and bounds[next_bound][0] <= pos:
            current = bounds[next_bound][1]
            next_bound += 1
        if rtype == _BIFF_FILEPASS:
            raise EncryptedWorkbook()
        if rtype == _BIFF_BOUNDSHEET and length >= 8:
            offset = unpack("<I", biff, body)[0]
            bounds.append((offset, SheetScan(_biff_sheet_name(biff[body + 6 : body + length]))))
            bounds.sort(key=lambda b: b[0])
        elif rtype in _BIFF_VALUE_CELLS and current is not None and length >= 4:
            row0, col0 = unpack("<HH", biff, body)
            current.see(row0 + 1, col0 + 1)
        elif rtype == _BIFF_MULRK and current is not None and length >= 6:
            row0 = unpack("<H", biff, body)[0]
            last_col0 = unpack("<H", biff, body + length - 2)[0]
            current.see(row0 + 1, last_col0 + 1)
        elif rtype == _BIFF_FORMULA and current is not None and length >= 4:
            row0, col0 = unpack("<HH", biff, body)
            current.see(row0 + 1, col0 + 1)
            current.formulas.append((row0 + 1, col0 + 1))
        pos = body + length
    return {scan.name: scan for _, scan in bounds}


def _biff_sheet_name(raw: bytes) -> str:
    """ShortXLUnicodeString: length, flags (bit 0: UTF-16LE, else compressed Latin-1), characters."""
    if len(raw) < 2:
        return ""
    n, flags = raw[0], raw[1]
    if flags & 0x1:
        return raw[2 : 2 + 2 * n].decode("utf-16-le", "replace")
    # BIFF5 names have no flags byte; the byte string is in the workbook's code page (GBK here).
    if len(raw) == n + 1:
        return raw[1 : 1 + n].decode("gbk", "replace")
    return raw[2 : 2 + n].decode("latin-1")
