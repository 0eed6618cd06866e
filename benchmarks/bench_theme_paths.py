"""Theme decisions of the float path against `run`'s shared int8 pass, on the labelled real paragraphs.

The shipped theme model scores every real labelled paragraph twice: from the float backbone's token
states (`predict_proba`) and from the int8 ONNX pass's (`classify.from_states`). Prints, for the
training label files (in-sample: the model was trained on them), the held-out files and both, the
macro F1 of the core four themes of each path and how often their decisions agree. Usage (HOME
gets corpus/seeds and ../shared/corpus/meiyu ingested when empty):

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/bench_theme_paths.py --home HOME
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from policy_nlp import Workspace
from policy_nlp.classify.from_states import proba_from_states
from policy_nlp.classify.training import held_out_mask, load_training_data
from policy_nlp.embed.convert import PROMPTS, ensure_converted
from policy_nlp.embed.encoder import cpu_count
from policy_nlp.embed.onnx_export import onnx_int8_model
from policy_nlp.tagging import MAX_TEXT_CHARS

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    with Workspace(args.home) as ws:
        if not ws.store.counts()[1]:
            ws.ingest([REPO / "corpus" / "seeds", REPO.parent / "shared" / "corpus" / "meiyu"], progress=False)
        labelled = load_training_data(ws.home, held_out=True)
        model = ws.theme_model()
        real = np.flatnonzero(~labelled.synthetic)
        texts = [labelled.texts[i][:MAX_TEXT_CHARS] for i in real]
        states = onnx_int8_model(ensure_converted(ws.home), cpu_count()).passages_with_states(texts, PROMPTS["passage"])[1]
        paths = {"float": model.predict_proba(texts), "shared int8": proba_from_states(model, texts, states)}
    columns = [list(model.theme_ids_).index(t) for t in labelled.taxonomy.core_ids]
    Y, held = labelled.Y[real][:, columns], held_out_mask(labelled)[real]
    decided = {name: (P >= model.thresholds_)[:, columns] for name, P in paths.items()}
    full = {name: P >= model.thresholds_ for name, P in paths.items()}
    print(f"{len(texts)} real labelled paragraphs; macro F1 of the core four, and agreement over all themes")
    for group, rows in (("training files (in-sample)", ~held), ("held-out files", held), ("all", np.ones_like(held))):
        f1 = "  ".join(f"{name} {f1_score(Y[rows], d[rows], average='macro', zero_division=0):.3f}"
                       for name, d in decided.items())  # fmt: skip
        same = full["float"][rows] == full["shared int8"][rows]
        print(f"{group:28s} n={rows.sum():4d}  {f1}  decisions agree {same.mean():.4f}  same set {same.all(1).mean():.3f}")


if __name__ == "__main__":
    main()
