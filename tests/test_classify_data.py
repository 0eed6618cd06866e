"""The labelled-data JSONL loader: validation with file:line, resolution of text-less rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from policy_nlp.classify import load_labelled, load_taxonomy
from policy_nlp.errors import InputError
from policy_nlp.schema import text_hash

TAXONOMY = load_taxonomy()
SAFETY = "实施平安校园提质工程,整改安全隐患67处。"
DOUBLE = "深化校外培训整治,完善课后服务课程体系。"
STORED = "全面加强美育教师配备和培训,配齐配足美育教师。"  # text lives only in the corpus store


def row(text: str | None, themes: list[str], doc_id: str = "000", **extra) -> dict:
    r = {"doc_id": doc_id, "text_hash": text_hash(text or STORED), "themes": themes, **extra}
    if text is not None:
        r["text"] = text
    return r


def write(tmp_path: Path, lines: list, name: str = "labels.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    return path


def test_loads_texts_labels_groups_and_synthetic_mask(tmp_path):
    path = write(tmp_path, [
        row(SAFETY, ["safety"]),
        "",
        row(DOUBLE, ["double_reduction", "teachers"], doc_id="001", note="两个主题"),
        row(None, ["teachers", "pe_arts_labour"], doc_id="P003"),
        row("开展防溺水专项教育。", ["safety"], doc_id="syn", synthetic=True),
    ])
    ls = load_labelled(path, TAXONOMY, {("P003", text_hash(STORED)): STORED})
    assert ls.texts == [SAFETY, DOUBLE, STORED, "开展防溺水专项教育。"]
    assert list(ls.doc_ids) == ["000", "001", "P003", "syn"]
    assert ls.synthetic.tolist() == [False, False, False, True]
    assert ls.Y.dtype == np.int8 and ls.Y.shape == (4, len(TAXONOMY))
    on = lambda i: {TAXONOMY.ids[j] for j in np.flatnonzero(ls.Y[i])}  # noqa: E731
    assert on(1) == {"double_reduction", "teachers"} and on(2) == {"teachers", "pe_arts_labour"}
    assert ls.genres.tolist() == ["report"] * 4


def test_genre_is_read_and_defaults_to_report(tmp_path):
    message = "孩子每天作业写到十一点,请教育局管一管作业量。"
    path = write(tmp_path, [row(SAFETY, ["safety"]), row(message, ["double_reduction"], doc_id="m1", genre="message")])
    assert load_labelled(path, TAXONOMY).genres.tolist() == ["report", "message"]


def test_the_project_genre_set_is_large_balanced_and_kept_apart_from_its_held_out_part():
    labels = Path(__file__).resolve().parents[1] / "policy_nlp" / "data" / "labels"
    train, held = load_labelled(labels / "genres.jsonl"), load_labelled(labels / "genres_heldout.jsonl")
    assert len(train) + len(held) >= 300 and not set(train.text_hashes) & set(held.text_hashes)
    core = [TAXONOMY.ids.index(t) for t in TAXONOMY.core_ids]
    assert (train.Y[:, core].sum(0) + held.Y[:, core].sum(0) >= 40).all()
    assert (held.Y[:, core].sum(0) >= 15).all() and "message" in set(held.genres)
    # the fixed held-out rule: a text is held out when its hash is divisible by 3
    assert all(int(h, 16) % 3 == 0 for h in held.text_hashes) and all(int(h, 16) % 3 for h in train.text_hashes)


def test_several_files_are_concatenated(tmp_path):
    a = write(tmp_path, [row(SAFETY, ["safety"])], "a.jsonl")
    b = write(tmp_path, [row(DOUBLE, [], doc_id="001")], "b.jsonl")
    ls = load_labelled([a, b], TAXONOMY)
    assert len(ls) == 2 and ls.Y[1].sum() == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"doc_id": "000", "text_hash": ', r"labels.jsonl:2: not valid JSON"),
        (row(DOUBLE, ["double_reduction", "discipline"]), r"labels.jsonl:2: unknown theme 'discipline'"),
        (row(DOUBLE, ["党建"]), r"labels.jsonl:2: unknown theme '党建' \(did you mean 'party_building'\?\)"),
        ({"doc_id": "000", "text_hash": text_hash(DOUBLE), "theme": ["safety"]}, r"labels.jsonl:2: missing \['themes'\] / unknown \['theme'\]"),
        (dict(row(DOUBLE, []), text_hash="0123456789abcdef"), r"labels.jsonl:2: text_hash 0123456789abcdef is not the hash"),
        (row(None, ["safety"], synthetic=True), r"labels.jsonl:2: a synthetic row needs its 'text'"),
        (row(SAFETY, ["safety"]), r"labels.jsonl:2: paragraph 000/\w+ is labelled again \(first at .*labels.jsonl:1\)"),
        ("[1, 2]", r"labels.jsonl:2: expected a JSON object"),
        (row(DOUBLE, [], genre=""), r"labels.jsonl:2: 'genre' must be a non-empty string"),
    ],
)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, bad, message):
    path = write(tmp_path, [row(SAFETY, ["safety"]), bad])
    with pytest.raises(InputError, match=message):
        load_labelled(path, TAXONOMY)


def test_unresolved_rows_are_reported_not_dropped(tmp_path):
    lines = [row(SAFETY, ["safety"])] + [
        {"doc_id": f"P{i:03d}", "text_hash": f"{i:016x}", "themes": ["safety"]} for i in range(7)
    ]
    path = write(tmp_path, lines)
    with pytest.raises(InputError, match=r"^7 labelled paragraph\(s\) have no text") as err:
        load_labelled(path, TAXONOMY, {})
    assert "labels.jsonl:2 P000 0000000000000000" in str(err.value) and str(err.value).endswith("…")
    ls = load_labelled(path, TAXONOMY, {("P006", f"{6:016x}"): STORED}, strict=False)
    assert ls.texts == [SAFETY, STORED]
    assert len(ls.unresolved) == 6 and ls.unresolved[0].endswith("P000 0000000000000000")


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no labelled paragraphs"):
        load_labelled(write(tmp_path, [""]), TAXONOMY)
