"""The held-out genre texts through `policy-nlp classify --input … --output …` as a user runs it (ids in,
themes out), scored against their labels: citizen messages and hotline digests apart from the other
genres, core four, with the keyword rule (one seed keyword tags a theme) on the same texts.

    python benchmarks/bench_classify_cli.py [--home HOME] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy_nlp.classify import load_taxonomy  # noqa: E402
from policy_nlp.classify.baselines import KeywordClassifier  # noqa: E402
from policy_nlp.resources import shipped  # noqa: E402

HELD_OUT = shipped("data", "labels", "genres_heldout.jsonl")
GROUPS = {"messages and digests": ("message",), "notices, news, speeches, briefings": ("notice", "news", "speech", "briefing")}


def f1(y: np.ndarray, p: np.ndarray) -> float:
    tp, denominator = int((y & p).sum()), int(y.sum() + p.sum())
    return 2 * tp / denominator if denominator else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="policy-nlp home (the converted base model lives there)")
    parser.add_argument("--model", help="theme model folder (default: the shipped one)")
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    core = list(taxonomy.core_ids)
    rows = [json.loads(line) for line in HELD_OUT.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        source.write_text("".join(json.dumps({"id": i, "text": r["text"]}, ensure_ascii=False) + "\n"
                                  for i, r in enumerate(rows)), encoding="utf-8")  # fmt: skip
        command = [sys.executable, "-m", "policy_nlp.cli"] + (["--home", args.home] if args.home else [])
        command += ["classify", "--input", str(source), "--output", str(target)] + (["--model", args.model] if args.model else [])
        subprocess.run(command, check=True)
        out = {o["id"]: o for o in map(json.loads, target.read_text(encoding="utf-8").splitlines())}
    model = np.array([[t in out[i]["themes"] for t in core] for i in range(len(rows))])
    labels = np.array([[t in r["themes"] for t in core] for r in rows])
    keyword = KeywordClassifier(taxonomy).fit([]).predict_proba([r["text"] for r in rows])
    keyword = keyword[:, [taxonomy.ids.index(t) for t in core]] >= 0.5
    names = [taxonomy.get(t).name_zh for t in core]
    print(f"| texts | n | support {' / '.join(names)} | model: macro F1 ({', '.join(names)}) | keyword rules: macro F1 | uncertain |")
    print("| --- | ---: | --- | --- | ---: | ---: |")
    for group, genres in GROUPS.items():
        rows_in = np.array([r.get("genre") in genres for r in rows])
        y, m, k = labels[rows_in], model[rows_in], keyword[rows_in]
        per_theme = [f1(y[:, j], m[:, j]) for j in range(len(core))]
        uncertain = sum(out[i]["uncertain"] for i in np.flatnonzero(rows_in))
        print(f"| {group} | {rows_in.sum()} | {' / '.join(str(int(s)) for s in y.sum(0))} | "
              f"{np.nanmean(per_theme):.2f} ({', '.join(f'{x:.2f}' for x in per_theme)}) | "
              f"{np.nanmean([f1(y[:, j], k[:, j]) for j in range(len(core))]):.2f} | {uncertain} |")  # fmt: skip


if __name__ == "__main__":
    main()
