"""Train and evaluate the boilerplate line classifier on web copies of real reports.

Reports: the seeds in corpus/seeds and the 美育 corpus (read at run time, never copied). Each report's
body is what the ingester keeps of it; `webcopy.wrap` puts it inside site lines. Training uses the
styles in TRAIN_STYLES and every other 美育 report; evaluation uses the held-out styles (and, for
comparison, the training styles) on the seeds and the other 美育 reports, as .txt and .html files
through the whole ingest pipeline, beside two baselines measured in the same run: no cleaning, and
the known-pattern rules alone. Usage:

    python -m policy_nlp.ingest.train_lines --meiyu ../shared/corpus/meiyu [--save policy_nlp/data/boilerplate_lines]
"""

from __future__ import annotations

import argparse
import html
import json
import tempfile
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from . import clean
from .errors import EmptyDocumentError
from .webpage import read_html
from .line_features import line_features
from .line_model import PACKAGED_MODEL, BoilerplateLineClassifier
from .pipeline import ingest_file
from .script import normalise_line, to_simplified
from .webcopy import HELD_OUT_STYLES, STYLES, TRAIN_STYLES, WebCopy, to_html, to_text, wrap

SEEDS = Path(__file__).resolve().parents[2] / "corpus" / "seeds"
PACKAGED = Path(__file__).resolve().parents[1] / "data" / PACKAGED_MODEL
#: Largest share of training body lines the chosen threshold may call boilerplate.
MAX_BODY_LOSS = 0.005
#: Copies (by seed) of only the first lines of a report, so that short reports are seen in training.
SHORT_COPIES = {2: 8, 3: 15}
#: Regularisation of the logistic regression (smaller is stronger).
C = 0.1
#: Share of a report's characters every copy should keep.
MIN_BODY_KEPT = 0.98
#: Lines shorter than this are not searched for in the stored text (they occur in prose by chance).
MIN_TRACE = 4


@dataclass
class Report:
    name: str
    lines: list[str]  # the body lines the ingester keeps of the clean report, title first
    title: str  # the title the ingester finds in the clean report


def load_reports(meiyu: Path | None) -> tuple[list[Report], list[Report]]:
    """(training reports, test reports): every other 美育 report trains; the seeds and the rest test."""
    meiyu_paths = sorted(meiyu.glob("P*.txt")) if meiyu else []
    train = [_report(p) for p in meiyu_paths[::2]]
    test = [_report(p) for p in sorted(SEEDS.glob("*.txt")) + meiyu_paths[1::2]]
    return train, test


def _report(path: Path) -> Report:
    doc = ingest_file(path, cleaning="rules")
    return Report(path.stem, doc.original_text.split("\n"), doc.metadata.title)


def labelled(copy: WebCopy) -> tuple[list[str], np.ndarray]:
    """The normalised, simplified non-empty lines of a copy, as the cleaner sees them, and their labels."""
    pairs = [(_clean_line(line), label) for line, label in copy.lines()]
    pairs = [(line, label) for line, label in pairs if line]
    return [line for line, _ in pairs], np.array([label for _, label in pairs], dtype=int)


def labelled_html(copy: WebCopy) -> tuple[list[str], np.ndarray]:
    """The lines the HTML reader extracts from the copy's web page, labelled by the copy's lines
    (a line that is neither a report line nor a site line is left out)."""
    lines, labels = labelled(copy)
    label_of = dict(zip(lines, labels))
    extracted = [_clean_line(line) for line in read_html(to_html(copy).encode("utf-8")).text.splitlines()]
    known = [line for line in extracted if line in label_of]
    return known, np.array([label_of[line] for line in known], dtype=int)


def _clean_line(line: str) -> str:
    return to_simplified(normalise_line(line))


def training_data(reports: list[Report], styles: tuple[str, ...], seeds: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the lines of web copies (as text, and as the HTML reader extracts their
    web pages), leaving out the site's copies of the title:
    the cleaner finds those by comparing header lines (clean.TITLE_SIMILARITY), and as examples they
    would teach the classifier that the report's own title is boilerplate."""
    X, y = [], []
    for n, report in enumerate(reports):
        for style in styles:
            for seed in range(seeds):
                copy = wrap(report.lines[: SHORT_COPIES.get(seed)], style, seed=n * 100 + seed)
                for lines, labels in (labelled(copy), labelled_html(copy)):
                    title = lines[int(labels.argmin())]
                    keep = [not (label and _title_copy(line, title)) for line, label in zip(lines, labels)]
                    X.append(line_features(lines)[keep])
                    y.append(labels[keep])
    return np.vstack(X), np.concatenate(y)


def _title_copy(line: str, title: str) -> bool:
    return SequenceMatcher(None, line, title).ratio() >= clean.TITLE_SIMILARITY


def choose_threshold(model: BoilerplateLineClassifier, X: np.ndarray, y: np.ndarray) -> float:
    """The lowest threshold that calls at most MAX_BODY_LOSS of the body lines boilerplate."""
    body = np.sort(model.predict_proba(X[y == 0])[:, 1])
    return float(body[int(np.ceil(len(body) * (1 - MAX_BODY_LOSS))) - 1]) + 1e-6


def evaluate(reports: list[Report], styles: tuple[str, ...], cleaner: str, folder: Path) -> dict[str, float]:
    """Boilerplate lines left and body characters kept, over .txt and .html copies through ingest."""
    left = injected = 0
    worst_kept, worst, below = 1.0, "", 0
    kept_chars = body_chars = titles_right = copies = 0
    for n, report in enumerate(reports):
        for style in styles:
            copy = wrap(report.lines, style, seed=10_000 + n)
            for suffix, render in ((".txt", to_text), (".html", to_html)):
                path = folder / f"{report.name}-{style}{suffix}"
                path.write_text(render(copy), encoding="utf-8")
                try:
                    doc = ingest_file(path, cleaning=cleaner)
                except EmptyDocumentError:  # everything removed: the body is lost
                    doc = None
                text = _comparable(doc.text) if doc else ""
                lines, labels = labelled(copy)
                lines = [_comparable(line) for line in lines]
                junk = [line for line, label in zip(lines, labels) if label and len(line) >= MIN_TRACE]
                body = [line for line, label in zip(lines, labels) if not label]
                left += sum(line in text for line in junk)
                injected += len(junk)
                kept = sum(len(line) for line in body if line in text)
                total = sum(len(line) for line in body)
                kept_chars, body_chars = kept_chars + kept, body_chars + total
                below += kept / total < MIN_BODY_KEPT
                if kept / total < worst_kept:
                    worst_kept, worst = kept / total, path.name
                titles_right += bool(doc) and doc.metadata.title == report.title
                copies += 1
    return {
        "copies": copies,
        "boilerplate_lines": injected,
        "boilerplate_left": left,
        "body_kept": round(kept_chars / body_chars, 4),
        "worst_body_kept": round(worst_kept, 4),
        "worst_copy": worst,
        "copies_below_98_percent": below,
        "titles_right": round(titles_right / copies, 3),
    }


def _comparable(text: str) -> str:
    """`text` without HTML entities and private-use characters, which some sources hold literally."""
    return "".join(ch for ch in html.unescape(html.unescape(text)) if unicodedata.category(ch) != "Co")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meiyu", type=Path, help="folder of the 美育 corpus (P*.txt)")
    parser.add_argument("--save", type=Path, default=PACKAGED, help="folder to save the classifier in")
    args = parser.parse_args()
    train, test = load_reports(args.meiyu)
    X, y = training_data(train, TRAIN_STYLES)
    model = BoilerplateLineClassifier(C=C).fit(X, y)
    model.set_params(threshold=choose_threshold(model, X, y))
    model.save(args.save)
    clean.packaged_classifier.cache_clear()
    results = {"train": {"reports": len(train), "lines": int(len(y)), "threshold": model.threshold}}
    with tempfile.TemporaryDirectory() as tmp:
        for cleaner in ("none", "rules", "full"):
            for name, styles in (("held_out_styles", HELD_OUT_STYLES), ("training_styles", TRAIN_STYLES)):
                results[f"{cleaner}/{name}"] = evaluate(test, styles, cleaner, Path(tmp))
    results["styles"] = {"held_out": list(HELD_OUT_STYLES), "training": list(TRAIN_STYLES), "all": list(STYLES)}
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
