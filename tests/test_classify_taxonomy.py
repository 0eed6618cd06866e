"""The packaged theme taxonomy and the validation of taxonomy files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policy_nlp.classify import load_taxonomy
from policy_nlp.errors import ConfigError

PACKAGED = Path(__file__).parents[1] / "policy_nlp" / "data" / "themes.yaml"


def test_packaged_taxonomy_has_the_core_four_with_exact_names():
    tax = load_taxonomy()
    assert tax.core_ids == ("party_building", "double_reduction", "teachers", "safety")
    assert [tax.get(t).name_zh for t in tax.core_ids] == ["党建", "双减", "师资", "安全"]
    assert tax.get("双减").id == "double_reduction"
    assert tax.rule.startswith("Label a theme when at least one clause")


def test_packaged_taxonomy_has_the_extended_themes_of_themes_md():
    names = {t.name_zh for t in load_taxonomy().themes if not t.core}
    assert names == {"学前教育", "职业教育", "教育信息化", "德育思政", "体育美育劳动", "心理健康", "学校建设与学位", "教育督导评价", "学生资助"}


def test_every_theme_is_defined_and_has_keywords():
    for theme in load_taxonomy().themes:
        assert len(theme.definition) > 150, theme.id
        assert theme.keywords and all(theme.keywords), theme.id
        assert len(set(theme.keywords)) == len(theme.keywords), theme.id
        assert not set(theme.keywords) & set(theme.exclude_keywords), theme.id


@pytest.mark.parametrize(
    ("theme", "terms"),
    [
        ("party_building", ["党组织领导的校长负责制", "清廉学校", "意识形态工作责任制", "主题教育", "党风廉政"]),
        ("double_reduction", ["课后服务", "校外培训", "隐形变异", "预收费", "无证办学", "五项管理"]),
        ("teachers", ["县管校聘", "交流轮岗", "师德师风", "走教", "教研员", "名班主任", "有偿补课"]),
        ("safety", ["护学岗", "防溺水", "食品安全", "校车", "欺凌", "信访", "应急演练"]),
    ],
)
def test_core_keywords_include_the_terms_themes_md_names(theme, terms):
    assert set(terms) <= set(load_taxonomy().get(theme).keywords)


def test_core_keywords_avoid_what_themes_md_excludes():
    tax = load_taxonomy()
    assert not {"党委", "政府", "思政课", "德育", "立德树人"} & set(tax.get("party_building").keywords)
    assert not {"考级", "有偿补课", "托管"} & set(tax.get("double_reduction").keywords)
    assert not {"心理健康", "国家安全"} & set(tax.get("safety").keywords)


def test_unknown_theme_lookup_names_the_known_ids():
    with pytest.raises(KeyError, match="party_building"):
        load_taxonomy().get("教育公平")


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "themes.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))


def test_a_copy_of_the_packaged_file_loads_from_a_path(tmp_path, raw):
    assert load_taxonomy(write(tmp_path, raw)) == load_taxonomy()


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda r: r["themes"].append(dict(r["themes"][2], name_zh="师资队伍")), r"themes\[13\] \(id 'teachers'.*repeats"),
        (lambda r: r["themes"][3].pop("definition"), r"themes\[3\] \(id 'safety'\): missing definition"),
        (lambda r: r["themes"][1].update(keyword=["双减"]), r"themes\[1\] \(id 'double_reduction'\): unknown key 'keyword'"),
        (lambda r: r["themes"][0].update(keywords=[]), r"themes\[0\] \(id 'party_building'\): 'keywords' must not be empty"),
        (lambda r: r["themes"][4].update(core="yes"), r"themes\[4\] \(id 'preschool'\): 'core' must be true or false"),
        (lambda r: r["themes"][5].update(id="Vocational Education"), r"themes\[5\].*ascii slug"),
        (lambda r: r.pop("rule"), r"missing rule"),
    ],
)
def test_broken_files_name_the_file_and_the_entry(tmp_path, raw, breakage, message):
    breakage(raw)
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError, match=message) as err:
        load_taxonomy(path)
    assert str(path) in str(err.value)


def test_unreadable_and_invalid_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("themes: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_taxonomy(bad)
