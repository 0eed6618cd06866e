"""Request parameters shared by the JSON API and the page: filters, years, theme ids or Chinese names."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..classify import load_taxonomy
from ..errors import ConfigError
from ..search.filters import Filters

#: Longest query accepted (a pasted paragraph or two).
MAX_QUERY_CHARS = 2000
MAX_K = 100
#: Deepest result page (deeper pages rank and group ever more candidates).
MAX_OFFSET = 500


def parse_years(value: str) -> tuple[int | None, int | None]:
    """``2023`` or ``2021-2024`` → (first, last); empty → (None, None)."""
    value = value.strip()
    if not value:
        return None, None
    try:
        first, _, last = value.partition("-")
        return int(first), int(last or first)
    except ValueError:
        raise ConfigError(f"'{value}' is not a year or a range like 2021-2024") from None


def web_theme_ids(names: list[str]) -> tuple[str, ...]:
    """Theme ids for ids or Chinese names (``双减`` or ``double_reduction``).

    The web's own resolver; the CLI has one too (``cli._theme_id``) — both go through ``Taxonomy.get``.
    """
    taxonomy = load_taxonomy()
    try:
        return tuple(taxonomy.get(name.strip()).id for name in names if name.strip())
    except KeyError as exc:
        raise ConfigError(str(exc).strip("'\"")) from None


@dataclass
class FilterParams:
    """Filter values as they come in a query string: repeatable fields are lists, years a string."""

    bureau: list[str] = field(default_factory=list)
    exclude_bureau: list[str] = field(default_factory=list)
    level: list[str] = field(default_factory=list)
    region: list[str] = field(default_factory=list)
    doc_type: list[str] = field(default_factory=list)
    theme: list[str] = field(default_factory=list)
    years: str = ""

    def to_filters(self) -> Filters:
        year_from, year_to = parse_years(self.years)

        def clean(values: list[str]) -> tuple[str, ...]:
            return tuple(v.strip() for v in values if v.strip())

        return Filters(
            bureau=clean(self.bureau), exclude_bureau=clean(self.exclude_bureau), level=clean(self.level),
            region=clean(self.region), doc_type=clean(self.doc_type), year_from=year_from, year_to=year_to,
            theme=web_theme_ids(self.theme),
        )  # fmt: skip


def check_query(q: str, k: int, offset: int = 0) -> None:
    """Refuse an over-long query or an out-of-range ``k`` or ``offset`` with a message."""
    if len(q) > MAX_QUERY_CHARS:
        raise ConfigError(f"the query has {len(q)} characters; the limit is {MAX_QUERY_CHARS}")
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be between 1 and {MAX_K}")
    if not 0 <= offset <= MAX_OFFSET:
        raise ConfigError(f"offset must be between 0 and {MAX_OFFSET}")
