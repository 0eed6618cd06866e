"""The SQLite corpus store: idempotent adds, replacement, crash safety, export."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import replace

import pandas as pd
import pytest

from policy_nlp.corpus import CorpusStore
from policy_nlp.errors import DocumentNotFoundError, StoreError
from policy_nlp.schema import Document, DocumentMetadata, Paragraph

PARAS = [
    "一、加强党的建设",
    "(一)全面加强党的领导。坚持党组织领导的校长负责制,健全议事决策制度。",
    "(二)加大'双减'工作力度。完善课后服务课程体系,深化校外培训机构治理。",
]


def make_doc(paras: list[str] = PARAS, path: str = "/data/a.txt", doc_id: str = "a") -> Document:
    text = "\n".join(paras)
    paragraphs, offset = [], 0
    for i, p in enumerate(paras):
        paragraphs.append(Paragraph(i, p, p, ["一、加强党的建设"] if i else [], offset, offset + len(p), "xx" in p))
        offset += len(p) + 1
    return Document(
        doc_id=doc_id,
        source_path=path,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        format="txt",
        encoding="utf-8",
        text=text,
        original_text=text,
        metadata=DocumentMetadata("县教育局2024年工作要点", "县教育局", "county", "", [2024], "key_points"),
        paragraphs=paragraphs,
        removed_lines=["txt下载"],
        warnings=["第3页没有文字层"],
    )


@pytest.fixture
def store(tmp_path):
    with CorpusStore(tmp_path / "corpus.sqlite") as s:
        yield s


def test_round_trip_keeps_every_field(store):
    doc = make_doc()
    assert store.add_document(doc).status == "added"
    back = store.get_document("a")
    assert back == doc
    assert back.text[back.paragraphs[2].start : back.paragraphs[2].end] == PARAS[2]


def test_same_content_is_a_no_op_even_from_another_path(store):
    store.add_document(make_doc())
    ids = store.paragraph_ids()
    again = store.add_document(make_doc(path="/elsewhere/copy.txt", doc_id="copy"))
    assert (again.status, again.doc_id, again.paragraphs) == ("unchanged", "a", 3)
    assert store.paragraph_ids() == ids
    assert store.counts() == (1, 3)


def test_changed_file_replaces_old_version_with_fresh_paragraph_ids(store):
    store.add_document(make_doc())
    old_ids = set(store.paragraph_ids())
    result = store.add_document(make_doc(PARAS[:2] + ["(三)筑牢校园安全屏障。开展防溺水专项行动。"]))
    assert (result.status, result.doc_id) == ("replaced", "a")
    assert store.counts() == (1, 3)
    assert not old_ids & set(store.paragraph_ids()), "paragraph ids must never be reused"
    assert "防溺水" in store.get_document("a").paragraphs[2].text


def test_doc_id_clash_from_another_file_gets_a_suffix(store):
    store.add_document(make_doc())
    other = make_doc(PARAS[::-1], path="/other/a.txt")
    result = store.add_document(other)
    assert result.doc_id == "a-" + other.content_hash[:8]
    assert store.counts() == (2, 6)


def test_failed_write_leaves_nothing_half_written(store):
    store.add_document(make_doc())
    before = store.fingerprint()
    broken = make_doc(PARAS + ["(四)新增段落。"])
    broken.paragraphs[3] = replace(broken.paragraphs[3], position=1)  # violates UNIQUE(doc_id, position)
    with pytest.raises(sqlite3.IntegrityError):
        store.add_document(broken)
    assert store.fingerprint() == before, "the old version must survive a failed replacement"
    assert store.get_document("a").paragraphs[-1].text == PARAS[-1]


def test_remove_and_lookup_errors(store):
    store.add_document(make_doc())
    assert store.resolve_doc_id("/data/a.txt") == "a"
    assert store.remove_document("a") == 3
    assert store.counts() == (0, 0)
    with pytest.raises(DocumentNotFoundError, match="policy-nlp docs"):
        store.get_document("a")


def test_frames_for_notebooks(store):
    store.add_document(make_doc())
    frame = store.paragraphs_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["text"]) == PARAS
    assert frame.loc[1, "section"] == "一、加强党的建设"
    assert set(frame["bureau"]) == {"县教育局"}
    docs = store.documents_frame()
    assert docs.loc[0, "paragraphs"] == 3 and docs.loc[0, "years"] == [2024]


def test_paragraphs_can_be_selected_by_id(store):
    store.add_document(make_doc())
    wanted = store.paragraph_ids()[1:]
    assert [p.para_id for p in store.iter_paragraphs(para_ids=wanted)] == wanted


def test_damaged_store_file_gives_clear_error(tmp_path):
    path = tmp_path / "corpus.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="ingest the reports again"):
        CorpusStore(path)
