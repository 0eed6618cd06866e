"""`policy-nlp run` end to end beside the encoder alone: paragraphs/s, peak RSS, float/int8 ratio.

Each checkout (this one, and `--baseline DIR`, e.g. a worktree of an older commit) runs
`policy-nlp run --home NEW_HOME PATH` in a child process, one after the other (or at the same time
with `--together`, which favours the slower one, as the faster ends first), into a fresh home
holding the converted model with its ONNX file already exported (conversion is not timed); the
child's wall time and peak RSS (`wait4`) are printed. The encoder alone then embeds the same
paragraphs in this process (`--encoder-sample` of them, evenly spaced): the float model (the
dequantised e5-small through sentence-transformers, the reference of bench_embed.py) and the
default int8 ONNX path, with the ratio. When a baseline
ran, the themes both runs stored are compared paragraph by paragraph (by text hash). Usage:

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/bench_run.py ../shared/corpus/meiyu \
        [--baseline /tmp/base-main] [--together] [--encoder-sample 300] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: Runs `policy-nlp` of the checkout in argv[1] (put first on sys.path, before any installed copy).
CLI = "import sys; sys.path.insert(0, sys.argv[1]); from policy_nlp.cli import main; sys.exit(main(sys.argv[2:]))"
PREPARE = ("import sys; sys.path.insert(0, sys.argv[1]); from policy_nlp.embed import load_encoder; "
           "load_encoder(None, home=sys.argv[2], show_progress=False)")  # fmt: skip


def start(args: list[str]) -> tuple[subprocess.Popen, float]:
    """A Python child process (stdout piped) and the time it started."""
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, time.perf_counter()


def finish(*jobs: tuple[subprocess.Popen, float]) -> list[tuple[float, int, str]]:
    """(wall seconds, peak RSS bytes, stdout) of each child, once all ended: polled together, so children
    that run at the same time each get their own end time (their output is small: no pipe fills)."""
    ended: dict[int, tuple[float, int, str]] = {}
    while len(ended) < len(jobs):
        for n, (proc, started) in enumerate(jobs):
            if n not in ended and (found := os.wait4(proc.pid, os.WNOHANG))[0]:
                proc.returncode = os.waitstatus_to_exitcode(found[1])
                ended[n] = (time.perf_counter() - started, found[2].ru_maxrss * 1024, proc.stdout.read())
        time.sleep(0.1)
    return [ended[n] for n in range(len(jobs))]


def prepare(root: Path, models: Path, home: Path) -> None:
    """A fresh `home` holding a copy of `models`, with the ONNX file of the checkout `root` exported."""
    shutil.copytree(models, home / "models")
    finish(start([PREPARE, str(root), str(home)]))


def start_run(root: Path, paths: list[str], home: Path) -> tuple[subprocess.Popen, float]:
    return start([CLI, str(root), "run", "--home", str(home), "--json", *paths])


def run_figures(root: Path, home: Path, proc: subprocess.Popen, result: tuple[float, int, str]) -> dict:
    """The figures of a finished run (printed too). Exit code 1 only says a file was not ingested."""
    seconds, rss, stdout = result
    if proc.returncode not in (0, 1) or not stdout.strip():
        raise SystemExit(f"policy-nlp run of {root} failed with exit code {proc.returncode}")
    tagged = json.loads(stdout)["tagged"]
    print(f"policy-nlp run  {str(root):40s} {seconds:7.1f} s  {tagged / seconds:6.1f} paragraphs/s  "
          f"peak RSS {rss / 2**30:.2f} GB  ({tagged} paragraphs)", flush=True)  # fmt: skip
    return {"checkout": str(root), "seconds": seconds, "paragraphs": tagged, "paragraphs_per_s": tagged / seconds,
            "peak_rss_bytes": rss, "home": home}  # fmt: skip


def stored_themes(home: Path) -> dict[str, list[str]]:
    """Themes of every stored paragraph of a home, by text hash."""
    from policy_nlp import Workspace

    with Workspace(home) as ws:
        paragraphs = list(ws.store.iter_paragraphs())
        themes = ws.paragraph_themes([p.para_id for p in paragraphs])
        return {p.text_hash: sorted(themes.get(p.para_id, [])) for p in paragraphs}


def agreement(ours: dict[str, list[str]], theirs: dict[str, list[str]], theme_ids: list[str]) -> dict:
    """Share of paragraphs with the same theme set, and of (paragraph, theme) decisions that agree."""
    common = sorted(set(ours) & set(theirs))
    same = sum(ours[h] == theirs[h] for h in common)
    decisions = sum((t in ours[h]) == (t in theirs[h]) for h in common for t in theme_ids)
    return {"paragraphs": len(common), "same_theme_set": same / len(common),
            "decisions_agree": decisions / (len(common) * len(theme_ids))}  # fmt: skip


def encoder_rates(home: Path, texts: list[str]) -> dict[str, float]:
    """Paragraphs/s of the float model and the default int8 path on `texts`, one after the other."""
    from policy_nlp.embed import load_encoder

    rates = {}
    for name, quantize in (("float", False), ("int8 (default)", None)):
        encoder = load_encoder(None, home=home, quantize=quantize, show_progress=False)
        encoder.encode_passages(texts[:8])
        start = time.perf_counter()
        encoder.encode_passages(texts)
        rates[name] = len(texts) / (time.perf_counter() - start)
        del encoder
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="what `policy-nlp run` ingests, e.g. ../shared/corpus/meiyu")
    parser.add_argument("--baseline", type=Path, help="another checkout to run the same way, first")
    parser.add_argument("--together", action="store_true", help="run the checkouts at the same time, not in turn")
    parser.add_argument("--encoder-sample", type=int, default=300, help="paragraphs the encoders alone embed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from policy_nlp.classify.taxonomy import load_taxonomy
    from policy_nlp.embed import ensure_converted

    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp:
        tmp = Path(tmp)
        models = ensure_converted(tmp / "converted").parent
        checkouts = ([args.baseline.resolve()] if args.baseline else []) + [REPO]
        homes = [tmp / f"home{n}" for n in range(len(checkouts))]
        for root, home in zip(checkouts, homes):
            prepare(root, models, home)
        if args.together:  # both at once: each slows the other, the one that ends first the least
            jobs = [start_run(root, args.paths, home) for root, home in zip(checkouts, homes)]
            results = finish(*jobs)
        else:
            jobs, results = [], []
            for root, home in zip(checkouts, homes):
                jobs.append(start_run(root, args.paths, home))
                results += finish(jobs[-1])
        runs = [run_figures(root, home, job[0], result)
                for root, home, job, result in zip(checkouts, homes, jobs, results)]  # fmt: skip
        from policy_nlp import Workspace

        with Workspace(runs[-1]["home"]) as ws:
            texts = [p.text for p in ws.store.iter_paragraphs()]
        step = max(1, len(texts) // args.encoder_sample)
        rates = encoder_rates(tmp / "converted", texts[::step][: args.encoder_sample])
        compared = None
        if args.baseline:
            theirs, ours = stored_themes(runs[0]["home"]), stored_themes(runs[-1]["home"])
            compared = agreement(ours, theirs, list(load_taxonomy().ids))
    print(f"{len(texts)} paragraphs (mean {np.mean([len(t) for t in texts]):.0f} characters), {os.cpu_count()} CPUs")
    if args.baseline:
        print(f"run speed-up over the baseline: {runs[0]['seconds'] / runs[-1]['seconds']:.2f}x")
    for name, rate in rates.items():
        print(f"encoder alone   {name:40s} {rate:6.1f} paragraphs/s  (every {step}th paragraph)")
    print(f"int8 / float encoder: {rates['int8 (default)'] / rates['float']:.2f}x")
    if compared:
        print(f"themes vs the baseline on {compared['paragraphs']} paragraphs: same theme set "
              f"{compared['same_theme_set']:.3f}, per-theme decisions agree {compared['decisions_agree']:.4f}")
    if args.json:
        figures = {"runs": [{k: v for k, v in r.items() if k != "home"} for r in runs], "encoder_paragraphs_per_s": rates,
                   "theme_agreement": compared}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
