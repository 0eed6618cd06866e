"""The theme taxonomy: which themes exist, how they are defined, and their seed keywords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..resources import shipped

_THEME_FIELDS = {"id", "name_zh", "name_en", "core", "definition", "keywords"}
_OPTIONAL_THEME_FIELDS = {"exclude_keywords"}
_TOP_FIELDS = {"version", "rule", "themes"}
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Theme:
    id: str  # ascii slug, e.g. "party_building"
    name_zh: str  # e.g. "党建"
    name_en: str
    core: bool  # one of the four core themes the project is judged on
    definition: str  # what counts and what does not
    keywords: tuple[str, ...]  # seed keywords (substrings of simplified text)
    exclude_keywords: tuple[str, ...] = ()  # masked out of the text before keywords are looked for

    def matches(self, text: str) -> list[str]:
        """The keywords of this theme found in `text` (after masking its exclude keywords), leaving
        out those found only as part of a longer found keyword (溺水 when 防溺水 is found)."""
        for phrase in self.exclude_keywords:
            text = text.replace(phrase, "\0")
        found = [kw for kw in self.keywords if kw in text]
        return [kw for kw in found if not any(kw != longer and kw in longer for longer in found)]


@dataclass(frozen=True)
class Taxonomy:
    version: str
    rule: str  # the labelling rule
    themes: tuple[Theme, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        """Theme ids in taxonomy order: the column order of every label matrix."""
        return tuple(t.id for t in self.themes)

    @property
    def core_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.themes if t.core)

    def get(self, id_or_name: str) -> Theme:
        """The theme with this id or Chinese name; KeyError naming the known ids otherwise."""
        for theme in self.themes:
            if id_or_name in (theme.id, theme.name_zh):
                return theme
        raise KeyError(f"unknown theme {id_or_name!r}; known: {', '.join(self.ids)}")

    def resolve(self, ids_or_names: tuple[str, ...]) -> tuple[str, ...]:
        """Theme ids for ids or Chinese names (双减 → double_reduction); ConfigError naming the known themes."""
        resolved = []
        for value in ids_or_names:
            try:
                resolved.append(self.get(value).id)
            except KeyError:
                known = ", ".join(f"{t.id} ({t.name_zh})" for t in self.themes)
                raise ConfigError(f"unknown theme {value!r}: choose from {known}") from None
        return tuple(resolved)

    def __len__(self) -> int:
        return len(self.themes)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy YAML file (default: the packaged `data/themes.yaml`)."""
    source = shipped("data", "themes.yaml") if path is None else Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{source}: cannot read the theme taxonomy ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    return _parse(raw, str(source))


def _parse(raw: Any, where: str) -> Taxonomy:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {sorted(_TOP_FIELDS)}")
    _check_keys(raw, _TOP_FIELDS, set(), where)
    if not isinstance(raw["version"], str) or not isinstance(raw["rule"], str) or not raw["rule"].strip():
        raise ConfigError(f"{where}: 'version' and 'rule' must be non-empty strings (quote the version)")
    if not isinstance(raw["themes"], list) or not raw["themes"]:
        raise ConfigError(f"{where}: 'themes' must be a non-empty list")
    themes: list[Theme] = []
    for i, entry in enumerate(raw["themes"]):
        theme = _parse_theme(entry, f"{where}: themes[{i}]")
        for seen in themes:
            if theme.id == seen.id or theme.name_zh == seen.name_zh:
                raise ConfigError(
                    f"{where}: themes[{i}] (id {theme.id!r}, name_zh {theme.name_zh!r}) repeats the id or name "
                    f"of theme {seen.id!r}"
                )
        themes.append(theme)
    return Taxonomy(raw["version"], raw["rule"].strip(), tuple(themes))


def _parse_theme(entry: Any, where: str) -> Theme:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {sorted(_THEME_FIELDS)}")
    if isinstance(entry.get("id"), str):
        where = f"{where} (id {entry['id']!r})"
    _check_keys(entry, _THEME_FIELDS, _OPTIONAL_THEME_FIELDS, where)
    if not _ID.match(str(entry["id"])):
        raise ConfigError(f"{where}: id must be an ascii slug like 'party_building'")
    for key in ("name_zh", "name_en", "definition"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    if not isinstance(entry["core"], bool):
        raise ConfigError(f"{where}: 'core' must be true or false")
    return Theme(
        id=entry["id"],
        name_zh=entry["name_zh"].strip(),
        name_en=entry["name_en"].strip(),
        core=entry["core"],
        definition=" ".join(entry["definition"].split()),
        keywords=_phrases(entry["keywords"], "keywords", where, allow_empty=False),
        exclude_keywords=_phrases(entry.get("exclude_keywords", []), "exclude_keywords", where, allow_empty=True),
    )


def _phrases(value: Any, key: str, where: str, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: {key!r} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise ConfigError(f"{where}: {key!r} must not be empty")
    return tuple(v.strip() for v in value)


def _check_keys(mapping: dict, required: set[str], optional: set[str], where: str) -> None:
    missing = required - mapping.keys()
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(sorted(missing))}")
    unknown = mapping.keys() - required - optional
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(repr(k) for k in sorted(map(str, unknown)))}")
