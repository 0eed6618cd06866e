"""Search filters on document metadata, turned into SQL over the corpus store."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import ConfigError
from ..schema import DOC_TYPES, LEVELS, YEAR_MAX, YEAR_MIN


@dataclass(frozen=True)
class Filters:
    """Which paragraphs a search may return. Empty fields do not filter.

    A paragraph matches when its document matches every given field; within a field, any listed
    value matches (``level=("district", "county")`` means district or county). Bureau and region
    match as substrings, so ``bureau=("海淀",)`` finds 海淀区教育局.
    """

    bureau: tuple[str, ...] = ()
    exclude_bureau: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    doc_type: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    doc_ids: tuple[str, ...] = ()
    exclude_doc_ids: tuple[str, ...] = ()
    theme: tuple[str, ...] = ()  # theme ids or Chinese names (双减); needs `policy-nlp tag --store` first

    def __post_init__(self) -> None:
        for value in self.level:
            if value not in LEVELS:
                raise ConfigError(f"unknown level '{value}': choose from {', '.join(LEVELS)}")
        for value in self.doc_type:
            if value not in DOC_TYPES:
                raise ConfigError(f"unknown document type '{value}': choose from {', '.join(DOC_TYPES)}")
        for year in (self.year_from, self.year_to):
            if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
                raise ConfigError(f"year {year} is outside {YEAR_MIN}–{YEAR_MAX}: give the years a report covers")
        if self.theme:  # Chinese names are accepted: 双减 → double_reduction
            from ..classify.taxonomy import load_taxonomy

            object.__setattr__(self, "theme", load_taxonomy().resolve(self.theme))
        if self.year_from is not None and self.year_to is not None and self.year_from > self.year_to:
            raise ConfigError(f"year range {self.year_from}-{self.year_to} is empty: the first year is after the last")

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) not in ((), None) for f in fields(self))

    def to_sql(self) -> tuple[str, list[object]]:
        """A WHERE clause over ``documents d`` and ``paragraphs p`` (without the keyword) and its parameters."""
        clauses: list[str] = []
        params: list[object] = []

        def any_of(template: str, values: tuple[str, ...], wrap: str = "{}") -> None:
            clauses.append("(" + " OR ".join([template] * len(values)) + ")")
            params.extend(wrap.format(v) for v in values)

        if self.bureau:
            any_of("d.bureau LIKE ?", self.bureau, "%{}%")
        for value in self.exclude_bureau:
            clauses.append("d.bureau NOT LIKE ?")
            params.append(f"%{value}%")
        if self.level:
            any_of("d.level = ?", self.level)
        if self.region:
            any_of("d.region LIKE ?", self.region, "%{}%")
        if self.doc_type:
            any_of("d.doc_type = ?", self.doc_type)
        if self.doc_ids:
            any_of("d.doc_id = ?", self.doc_ids)
        for value in self.exclude_doc_ids:
            clauses.append("d.doc_id != ?")
            params.append(value)
        if self.theme:
            clauses.append(
                "p.para_id IN (SELECT para_id FROM paragraph_themes WHERE assigned = 1 AND theme IN "
                f"({', '.join('?' * len(self.theme))}))"
            )
            params.extend(self.theme)
        # A document matches a year range when the years it covers overlap the range.
        if self.year_from is not None:
            clauses.append("d.year_max >= ?")
            params.append(self.year_from)
        if self.year_to is not None:
            clauses.append("d.year_min <= ?")
            params.append(self.year_to)
        return " AND ".join(clauses) or "1", params
