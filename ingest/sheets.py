"""Tables: CSV files and Excel workbooks, read row by row.

Each row becomes one line that names its columns, "Header1: value1; Header2: value2",
and rows are separated by blank lines (so the chunker cuts between rows). Every chunk
then carries the headers of the values it holds, whichever rows it starts at: a
passage "Region: North; Sales: 4,200" answers "sales in the North" where the bare
"North, 4200" would not. The header is the first non-empty row; a column without a
header is named by its letter (A, B, ...). Empty cells are left out.

A workbook's page is its sheet (the section is the sheet's name); a CSV's pages are
blocks of `ROWS_PER_PAGE` rows (the section says which rows, as a spreadsheet
numbers them). Workbooks are opened read-only with cached values only: formulas are
never evaluated, macros and external links never loaded. openpyxl reads the sheets'
XML through defusedxml (it uses it when installed), which refuses entity declarations.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterable, Iterator, Sequence

from .errors import LoadError
from .loaders import clean_text, decode
from .types import Page

# A million cells is a big spreadsheet (50,000 rows of 20 columns) and about 20 MB of
# text: over what one collection of the web app holds, and minutes of embedding.
# Past it a file is refused whole, not cut (as a PDF over max_pages is).
MAX_CELLS = 1_000_000
MAX_FIELD_CHARS = 1_000_000  # one CSV field; the csv module's own default is 131,072
ROWS_PER_PAGE = 100
_DELIMITERS = ",;\t|"


def column_name(index: int) -> str:
    """The spreadsheet letter of a 0-based column index: 0 -> "A", 26 -> "AA"."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def cell_text(value: object) -> str:
    """A cell's value as text on one line: whole floats without ".0", dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(clean_text(str(value)).split())


def row_lines(rows: Iterable[Sequence[object]], name: str, *, max_cells: int = MAX_CELLS) -> Iterator[tuple[int, str]]:
    """(row number, "Header: value; ..." line) for each non-empty row after the header.

    Row numbers are 1-based positions in `rows`, as a spreadsheet shows them.

    Raises:
        LoadError: when the rows hold more than `max_cells` cells (empty ones count:
            they cost as much to read).
    """
    header: list[str] | None = None
    cells = 0
    for number, row in enumerate(rows, start=1):
        cells += len(row)
        if cells > max_cells:
            raise LoadError(name, f"the table has more than {max_cells:,} cells, the limit: split it into smaller files and upload those")
        values = [cell_text(v) for v in row]
        if not any(values):
            continue
        if header is None:
            header = [v or column_name(i) for i, v in enumerate(values)]
            continue
        line = "; ".join(f"{header[i] if i < len(header) else column_name(i)}: {v}" for i, v in enumerate(values) if v)
        yield number, line


def load_csv(data: bytes, name: str, *, max_pages: int = 0) -> list[Page]:
    """CSV (or TSV): pages of `ROWS_PER_PAGE` rows; the delimiter is the one of , ; tab |
    that the first line uses most (a .tsv always uses tabs)."""
    text = decode(data, name)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if name.lower().endswith(".tsv") else max(_DELIMITERS, key=first.count) if first else ","
    old_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        lines = list(row_lines(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), name))
    except csv.Error as e:
        if "field larger than field limit" in str(e):
            raise LoadError(name, f"a field of the CSV is over {MAX_FIELD_CHARS:,} characters long: not a table (is it the right file?)") from e
        raise LoadError(name, f"the CSV is malformed ({e})") from e
    finally:
        csv.field_size_limit(old_limit)
    pages = []
    for start in range(0, len(lines), ROWS_PER_PAGE):
        block = lines[start : start + ROWS_PER_PAGE]
        section = f"rows {block[0][0]}–{block[-1][0]}"
        pages.append(Page(name, len(pages) + 1, "\n\n".join(line for _, line in block), section))
    return pages


def load_xlsx(data: bytes, name: str, *, max_pages: int) -> list[Page]:
    """Excel: one page per worksheet (chart sheets hold no cells), the sheet's name as
    the section. A workbook with more sheets than `max_pages` is refused."""
    import openpyxl

    try:
        import defusedxml  # noqa: F401  (openpyxl uses it for the sheets' XML when it is installed)
    except ImportError:
        raise LoadError(name, "Excel files are read only with defusedxml installed (pip install defusedxml)") from None
    with warnings.catch_warnings():  # openpyxl warns of each extension it skips (data validation, ...): noise for a user
        warnings.simplefilter("ignore")
        return _read_workbook(openpyxl, data, name, max_pages)


def _read_workbook(openpyxl, data: bytes, name: str, max_pages: int) -> list[Page]:
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_vba=False, keep_links=False)
    except (LoadError, MemoryError):
        raise
    except Exception as e:  # a parser of untrusted bytes can fail in any way
        raise _unreadable(name, e) from e
    try:
        sheets = book.worksheets
        if len(sheets) > max_pages:
            raise LoadError(name, f"the workbook has {len(sheets)} sheets; the limit is {max_pages} (SOURCED_MAX_PAGES)")
        pages, cells_left = [], MAX_CELLS
        for number, sheet in enumerate(sheets, start=1):
            sheet.reset_dimensions()  # a sheet's stated size can lie; rows are read as stored
            lines, used = _sheet_lines(sheet, name, cells_left)
            cells_left -= used
            pages.append(Page(name, number, "\n\n".join(lines), " ".join(str(sheet.title).split())))
        return pages
    except (LoadError, MemoryError):
        raise
    except Exception as e:
        raise _unreadable(name, e) from e
    finally:
        book.close()


def _sheet_lines(sheet, name: str, max_cells: int) -> tuple[list[str], int]:
    counted = _Counted(sheet.iter_rows(values_only=True))
    lines = [line for _, line in row_lines(counted, name, max_cells=max_cells)]
    return lines, counted.cells


class _Counted:
    """Rows passed through, with the number of cells seen (the limit spans all sheets)."""

    def __init__(self, rows: Iterable[Sequence[object]]):
        self.rows, self.cells = rows, 0

    def __iter__(self) -> Iterator[Sequence[object]]:
        for row in self.rows:
            self.cells += len(row)
            yield row


def _unreadable(name: str, e: Exception) -> LoadError:
    causes = [e, e.__cause__, e.__context__]  # openpyxl wraps what defusedxml raised in a ValueError
    if any(c is not None and type(c).__module__.startswith("defusedxml") for c in causes):
        return LoadError(name, f"the Excel workbook declares XML entities, which Sourced never expands (an entity-expansion attack?): {type(e).__name__}")
    return LoadError(name, f"the Excel workbook is damaged or unreadable ({type(e).__name__}: {str(e)[:200]})")
