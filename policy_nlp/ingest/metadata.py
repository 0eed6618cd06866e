"""Document metadata: extracted from the title and first lines, then overridden by the user.

Overrides come from a sidecar file next to the report (`REPORT.ext.meta.json` or `REPORT.meta.json`,
a JSON object with any DocumentMetadata field and optionally `doc_id`) and from explicit overrides
passed to the pipeline, which win over the sidecar. Keys whose value is None are ignored, so a CLI
can pass all of its flags through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from policy_nlp.errors import ConfigError
from policy_nlp.schema import DOC_TYPES, LEVELS, DocumentMetadata

from .structure import looks_like_title, names_document_kind

SCRIPTS = ("simplified", "traditional", "mixed")
OVERRIDE_KEYS = (*(f.name for f in fields(DocumentMetadata)), "doc_id")
#: Years accepted in overrides.
YEAR_RANGE = range(1949, 2101)

_NAMED_PLACE = r"[\u4e00-\u9fff]{1,8}?(?:自治区|自治州|地区|省|市|州|盟|县|区|旗)"
_PLACE = rf"(?:{_NAMED_PLACE}|(?:xx|XX|\*+)[省市县区]?|[省市县区])"
_PLACES = re.compile(rf"{_PLACE}*")
_BODY = (
    r"(?:教育部|国务院|教育厅|教育局|教育和体育局|教育体育局|教体局|教育委员会|教委"
    r"|人民政府|政府|新疆生产建设兵团)(?:办公厅|办公室)?"
)
_BUREAU = re.compile(rf"{_PLACE}*{_BODY}")
_ISSUERS = re.compile(rf"{_PLACE}*{_BODY}(?:等[一二三四五六七八九十\d]+个?部门)?")
_ISSUER_BEFORE = re.compile(r"^(.{2,30}?)(?:关于|转发|印发|批转)")
_LEADING_PLACE = re.compile(_NAMED_PLACE)
_MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")
_LOCAL_HINTS = (
    ("county", r"全县|我县|县委|县政府|县域"),
    ("district", r"全区|我区|区委|区政府"),
    ("city", r"全市|我市|市委|市政府"),
)
_YEAR = re.compile(r"((?:19|20)\d{2})\s*(?:[-—~至到]\s*((?:19|20)\d{2})\s*)?年")
_DOC_NUMBER_YEAR = re.compile(r"[〔\[]((?:19|20)\d{2})[〕\]]\s*\d+\s*号")
_DATE_LINE = re.compile(r"[（(]?((?:19|20)\d{2})\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日[）)]?")
# "…工作要点_第一公文网", "…方案 - 某某网", "…总结|某某文库"
_SITE_SUFFIX = re.compile(r"\s*[_|｜—–-]+\s*[^_|｜—–-]{0,15}(?:网|站|网站|文库|平台|门户|公众号)$")
# "市教育局2025年工作要点1": a site's numbering after the last word (not "第1", not a year)
_NUMBER_SUFFIX = re.compile(r"(?<=[\u4e00-\u9fff])(?<!第)\d{1,2}$")
_TITLE_SUFFIX = re.compile(r"(?:范文|[（(【\[](?:通用|精选|精彩|优秀|热门)?\d*篇[）)】\]])$")
_DOC_TYPES = (
    ("summary_and_plan", r"总结.*(?:计划|打算|思路|安排|要点)|(?:计划|打算|要点).*总结"),
    ("half_year_summary", r"半年.*总结"),
    ("annual_summary", r"总结"),
    ("key_points", r"要点"),
    ("plan", r"工作(?:计划|打算|思路|安排)|工作规划"),
    ("implementation_opinion", r"(?:意见|通知|办法|方案|细则|规定|决定|函|批复|通报)$"),
)
#: How many lines at the start and at the end (signature) of a document are searched for the year;
#: the end also for the issuer when the title names none.
HEAD_LINES = 6
TAIL_LINES = 3
#: How many leading lines may hold the title (the first of them that names a kind of document).
MAX_TITLE_LINES = 3
#: Longest line read as a document-number line such as "（教体艺〔2019〕2号）".
MAX_DOC_NUMBER_LINE = 40


def extract_metadata(text: str, *, script: str, title_copies: Sequence[str] = ()) -> DocumentMetadata:
    """Metadata read from a cleaned, simplified document; `title_copies` are removed repeats of its title."""
    lines = text.split("\n")
    title = _title(lines)
    bureau = _bureau(title, title_copies, lines)
    level = _level(bureau, text)
    return DocumentMetadata(
        title=title,
        bureau=bureau,
        level=level,
        region=_region(bureau, level),
        years=_years(title, lines),
        doc_type=next((name for name, pattern in _DOC_TYPES if title and re.search(pattern, title)), "other"),
        script=script,
    )


def _title(lines: list[str]) -> str:
    """The document's own title: of the title-like lines it starts with, the first that names a kind
    of document ("关于", "要点", "通知"…) or else the first, without a site's name or numbering suffix."""
    candidates = []
    for line in lines[:MAX_TITLE_LINES]:
        if not looks_like_title(line):
            break
        if not _DOC_NUMBER_YEAR.search(line):
            candidates.append(line)
    title = next((line for line in candidates if names_document_kind(line)), candidates[0] if candidates else "")
    for suffix in (_SITE_SUFFIX, _NUMBER_SUFFIX, _TITLE_SUFFIX):
        title = suffix.sub("", title)
    return title


def _bureau(title: str, title_copies: Sequence[str], lines: list[str]) -> str:
    issuer = _ISSUER_BEFORE.match(title)
    if issuer and _ISSUERS.fullmatch(issuer.group(1)):
        return issuer.group(1)
    matches = (_BUREAU.search(line) for line in (title, *title_copies))
    found = [match.group() for match in matches if match]
    if found:
        return max(found, key=len)
    for line in lines[-TAIL_LINES:]:
        if _BUREAU.fullmatch(line):
            return line
    place = _LEADING_PLACE.match(title)
    return place.group() if place else ""


def _level(bureau: str, text: str) -> str:
    if bureau.startswith(("教育部", "国务院")):
        return "national"
    place = _PLACES.match(bureau).group()
    if "兵团" in bureau or place.endswith(("省", "自治区")) or place in _MUNICIPALITIES:
        return "province"
    if place.endswith(("县", "旗")):
        return "county"
    if place.endswith("区"):
        return "district"
    if place.endswith(("市", "州", "盟", "地区")):
        return "city"
    counts = {level: len(re.findall(pattern, text)) for level, pattern in _LOCAL_HINTS}
    best = max(counts, key=counts.get)
    return best if counts[best] else "unknown"


def _region(bureau: str, level: str) -> str:
    if level == "national":
        return "全国"
    place = _PLACES.match(bureau).group()
    return place if len(place) > 1 and not re.match(r"xx|XX|\*", place) else ""


def _years(title: str, lines: list[str]) -> list[int]:
    years: set[int] = set()
    for match in _YEAR.finditer(title):
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        years.update(range(first, last + 1) if 0 <= last - first <= 10 else (first, last))
    if years:
        return sorted(years)
    for line in (*lines[:HEAD_LINES], *lines[-TAIL_LINES:]):
        match = _DATE_LINE.fullmatch(line) or (len(line) <= MAX_DOC_NUMBER_LINE and _DOC_NUMBER_YEAR.search(line))
        if match:
            return [int(match.group(1))]
    return []


def read_sidecar(path: Path) -> dict[str, Any]:
    """The overrides in the sidecar file of `path`, or {} when it has none."""
    candidates = [p for p in (path.with_name(path.name + ".meta.json"), path.with_suffix(".meta.json")) if p.is_file()]
    if len(candidates) > 1:
        raise ConfigError(f"two sidecar files for {path.name}: {candidates[0].name} and {candidates[1].name}; keep one")
    if not candidates:
        return {}
    try:
        data = json.loads(candidates[0].read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"sidecar {candidates[0].name} is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"sidecar {candidates[0].name} must hold a JSON object, not {type(data).__name__}")
    return data


def apply_overrides(
    metadata: DocumentMetadata, overrides: dict[str, Any], source: str
) -> tuple[DocumentMetadata, str | None]:
    """`metadata` with the validated `overrides` applied, and the doc_id they give (or None).

    `source` names where the overrides come from, for error messages.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - set(OVERRIDE_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(OVERRIDE_KEYS)}")
    checked = {key: _check(key, value, source) for key, value in given.items()}
    doc_id = checked.pop("doc_id", None)
    return replace(metadata, **checked), doc_id


def _check(key: str, value: Any, source: str) -> Any:
    choices = {"level": LEVELS, "doc_type": DOC_TYPES, "script": SCRIPTS}.get(key)
    if choices is not None and value not in choices:
        raise ConfigError(f"{source}: {key} {value!r} is not one of {', '.join(choices)}")
    if key == "years":
        return _check_years(value, source)
    if key == "doc_id" and not (isinstance(value, str) and value.strip()):
        raise ConfigError(f"{source}: doc_id must be a non-empty string")
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {key} must be a string, not {value!r}")
    return value


def _check_years(value: Any, source: str) -> list[int]:
    """Years from an int, a list, or a string such as "2022,2023"."""
    items = (
        value.replace("，", ",").split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
    )
    years = []
    for item in items:
        text = str(item).strip()
        if not text.isdigit() or int(text) not in YEAR_RANGE:
            raise ConfigError(
                f'{source}: bad year {item!r} in years; give four-digit years such as 2024 or "2022,2023"'
            )
        years.append(int(text))
    return sorted(set(years))
