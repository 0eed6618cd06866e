"""Search filters as a Milvus boolean expression over the scalar fields of the paragraph collection.

Each clause means what `Filters.to_sql` means over the store: bureau and region match as substrings
(``like "%…%"``), a year range matches documents whose years overlap it, and a paragraph without
years never matches one (its first and last year are stored as `NO_YEAR_MIN` / `NO_YEAR_MAX`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np

from ..filters import Filters

#: Stored as the first / last year of a document without years, so that no year range matches it (as SQL NULL).
NO_YEAR_MIN = 99_999
NO_YEAR_MAX = -1


def literal(value: str) -> str:
    """A Milvus string literal (double quotes, backslash escapes)."""
    return json.dumps(value, ensure_ascii=False)


def _any(template: str, values: Iterable[str]) -> str:
    return "(" + " or ".join(template.format(literal(v)) for v in values) + ")"


def _one_of(field: str, values: Iterable[object]) -> str:
    return f"{field} in [{', '.join(literal(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


def expression(filters: Filters | None, allowed: np.ndarray | None = None) -> str:
    """The expression a paragraph must satisfy: the filters and, with ``allowed``, one of those ids ("" for all)."""
    clauses: list[str] = []
    if filters is not None:
        if filters.bureau:
            clauses.append(_any("bureau like {}", (f"%{v}%" for v in filters.bureau)))
        clauses += [f"not (bureau like {literal(f'%{v}%')})" for v in filters.exclude_bureau]
        if filters.level:
            clauses.append(_one_of("level", filters.level))
        if filters.region:
            clauses.append(_any("region like {}", (f"%{v}%" for v in filters.region)))
        if filters.doc_type:
            clauses.append(_one_of("doc_type", filters.doc_type))
        if filters.doc_ids:
            clauses.append(_one_of("doc_id", filters.doc_ids))
        if filters.exclude_doc_ids:
            clauses.append(f"not ({_one_of('doc_id', filters.exclude_doc_ids)})")
        if filters.theme:
            clauses.append(f"array_contains_any(themes, [{', '.join(map(literal, filters.theme))}])")
        if filters.year_from is not None:
            clauses.append(f"year_max >= {int(filters.year_from)}")
        if filters.year_to is not None:
            clauses.append(f"year_min <= {int(filters.year_to)}")
    if allowed is not None:
        clauses.append(_one_of("id", np.asarray(allowed, dtype=np.int64).tolist()))
    return " and ".join(clauses)
