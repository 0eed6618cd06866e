"""The training data loaders: the project's label files resolved against a store, a user's own labels
(`policy-nlp train --labels`), and the held-out rows kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from policy_nlp import Workspace
from policy_nlp.classify.training import held_out_mask, load_training_data, subset
from policy_nlp.errors import InputError
from policy_nlp.schema import text_hash

REPO = Path(__file__).resolve().parents[1]
MINE = "校车司机边开车边打电话,车上孩子没系安全带,请教育局管一管。"


@pytest.fixture(scope="module")
def home(tmp_path_factory, meiyu_dir):
    home = tmp_path_factory.mktemp("training-data")
    with Workspace(home) as ws:
        ws.ingest([REPO / "corpus" / "seeds", meiyu_dir], progress=False)
    return home


def test_training_files_resolve_and_a_users_labels_are_added(home, tmp_path):
    base = load_training_data(home)
    assert len(base) > 900 and {"report", "message", "notice"} <= set(base.genres)
    mine = tmp_path / "my_labels.jsonl"
    mine.write_text(json.dumps({"doc_id": "my-1", "text_hash": text_hash(MINE), "themes": ["safety"], "text": MINE,
                                "genre": "message"}, ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    more = load_training_data(home, [mine])
    assert len(more) == len(base) + 1 and more.texts[-1] == MINE
    assert more.Y[-1, more.taxonomy.ids.index("safety")] == 1


def test_held_out_rows_are_marked_and_never_in_the_training_files(home):
    everything = load_training_data(home, held_out=True)
    held = held_out_mask(everything)
    assert held.sum() == 108 and set(everything.doc_ids[held]) & set(load_training_data(home).doc_ids) == set()
    part = subset(everything, np.flatnonzero(held))
    assert len(part) == 108 and (part.Y == everything.Y[held]).all()


def test_a_store_without_the_corpus_says_what_to_ingest(tmp_path):
    with pytest.raises(InputError, match="policy-nlp ingest corpus/seeds ../shared/corpus/meiyu"):
        load_training_data(tmp_path)


def test_meiyu_label_notes_never_quote_their_paragraph(home):
    """The 美育 corpus may not be copied into the repository: a label's note says why in the project's own words."""
    from policy_nlp.classify.training import LABELS_DIR, store_texts

    texts = store_texts(home)
    rows = [json.loads(line) for line in (LABELS_DIR / "meiyu.jsonl").read_text(encoding="utf-8").splitlines()]
    noted = [(r, r["note"], texts[r["doc_id"], r["text_hash"]]) for r in rows if r.get("note")]
    quoting = [(r["doc_id"], note) for r, note, text in noted
               if any(note[i : i + 8] in text for i in range(len(note) - 7))]  # fmt: skip
    assert len(noted) > 400 and quoting == []
