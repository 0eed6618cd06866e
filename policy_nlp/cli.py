"""The ``policy-nlp`` command line: a thin layer over :class:`policy_nlp.api.Workspace`."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .api import DEFAULT_THEME_MODEL, MAX_RESULTS, IngestOutcome, Workspace
from .index import AUTO_FLAT_MAX, PRESETS
from .search.engine import DEFAULT_MODE, MODES, Hit
from .search.filters import Filters
from .search.indexes import IndexReport
from .errors import ConfigError, PolicyNLPError
from .ingest import DEFAULT_MAX_BYTES
from .schema import YEAR_MAX, YEAR_MIN, Document

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _years(value: str) -> list[int]:
    """``2023`` or ``2022-2023`` or ``2022,2023`` → a sorted list of years between YEAR_MIN and YEAR_MAX."""
    is_range = "-" in value
    try:
        years = [int(v) for v in value.split("-", 1)] if is_range else sorted(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a year, a range like 2022-2023, or a list like 2022,2023")
    for year in years:
        if not YEAR_MIN <= year <= YEAR_MAX:
            raise argparse.ArgumentTypeError(f"year {year} is outside {YEAR_MIN}-{YEAR_MAX}")
    if not is_range:
        return years
    lo, hi = years
    if lo > hi:
        raise argparse.ArgumentTypeError(f"'{value}' is an empty range: write the earlier year first ({hi}-{lo})")
    return list(range(lo, hi + 1))


def _positive(value: str) -> int:
    """A whole number of at least 1 (search breadth)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number")
    if number < 1:
        raise argparse.ArgumentTypeError(f"give a whole number of at least 1, not {number}")
    return number


def _result_count(value: str) -> int:
    """``-k``: a whole number of results from 1 to MAX_RESULTS."""
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number")
    if not 1 <= k <= MAX_RESULTS:
        raise argparse.ArgumentTypeError(f"give between 1 and {MAX_RESULTS} results, not {k}")
    return k


def _ingest(ws: Workspace, args: argparse.Namespace) -> list[IngestOutcome]:
    overrides = {
        key: getattr(args, key)
        for key in ("title", "bureau", "level", "region", "years", "doc_type", "script")
        if getattr(args, key) is not None
    }
    outcomes = ws.ingest(args.paths, overrides=overrides or None, max_bytes=int(args.max_mb * 1024 * 1024))
    if not outcomes:
        err.print("no readable files found under the given paths")
    return outcomes


def _ingest_code(outcomes: list[IngestOutcome]) -> int:
    """1 when nothing was found or any file failed."""
    return 1 if not outcomes or any(o.status == "failed" for o in outcomes) else 0


def _print_ingest_table(ws: Workspace, outcomes: list[IngestOutcome]) -> None:
    table = Table(title=f"ingested into {ws.store.path}")
    for col in ("status", "doc_id", "paragraphs", "title / error"):
        table.add_column(col, justify="right" if col == "paragraphs" else "left")
    for o in outcomes:
        style = "red" if o.status == "failed" else None
        table.add_row(o.status, escape(o.doc_id or o.path), str(o.paragraphs), escape(o.error or o.title), style=style)
    out.print(table)
    for o in outcomes:
        for warning in o.warnings:
            out.print(f"[yellow]warning:[/yellow] {escape(o.doc_id)}: {escape(warning)}", highlight=False)
    by_status = {s: sum(o.status == s for o in outcomes) for s in ("added", "replaced", "unchanged", "failed")}
    docs, paras = ws.store.counts()
    out.print(
        ", ".join(f"{n} {s}" for s, n in by_status.items() if n)
        + f" · the store now holds {docs} documents, {paras} paragraphs"
    )


def cmd_ingest(ws: Workspace, args: argparse.Namespace) -> int:
    outcomes = _ingest(ws, args)
    if args.json:
        _print_json([asdict(o) for o in outcomes])
    else:
        _print_ingest_table(ws, outcomes)
    return _ingest_code(outcomes)


def cmd_run(ws: Workspace, args: argparse.Namespace) -> int:
    outcomes = _ingest(ws, args)
    if not args.json:
        _print_ingest_table(ws, outcomes)
    tagged = ws.tag_store()
    report = ws.update_index()
    if args.json:
        _print_json({"ingest": [asdict(o) for o in outcomes], "tagged": tagged, "index": asdict(report)})
    else:
        out.print(escape(f"tagged {tagged} new paragraphs with themes; search index: {report.indexed} paragraphs "
                         f"({report.added} added, {report.removed} removed)"))  # fmt: skip
        if report.rebuilt_from:
            out.print(escape(_rebuilt_note(report)))
    return _ingest_code(outcomes)


def _rebuilt_note(report: IndexReport) -> str:
    return (f"the dense index was rebuilt as {report.kind} (it was {report.rebuilt_from}): the `auto` preset keeps "
            f"exact flat search up to {AUTO_FLAT_MAX:,} paragraphs, and the home now has {report.indexed:,}")


def cmd_docs(ws: Workspace, args: argparse.Namespace) -> int:
    docs = ws.documents()
    if args.json:
        _print_json(docs)
        return 0
    table = Table(title=f"{len(docs)} documents in {ws.store.path}")
    for col in ("doc_id", "title", "bureau", "level", "years", "type", "script", "paragraphs"):
        table.add_column(col)
    for d in docs:
        years = "-".join(str(y) for y in (d["years"][:1] + d["years"][-1:] if len(d["years"]) > 1 else d["years"]))
        cells = (d["doc_id"], d["title"], d["bureau"], d["level"], years, d["doc_type"], d["script"], d["paragraphs"])
        table.add_row(*(escape(str(c)) for c in cells))
    out.print(table)
    return 0


def cmd_show(ws: Workspace, args: argparse.Namespace) -> int:
    doc = ws.document(args.doc)
    if args.removed:
        return _show_removed(doc, as_json=args.json)
    if args.json:
        data = asdict(doc)
        if not args.text:
            del data["text"], data["original_text"]
        _print_json(data)
        return 0
    m = doc.metadata
    out.print(f"[bold]{escape(m.title)}[/bold]  ({escape(doc.doc_id)})")
    out.print(
        escape(f"bureau: {m.bureau or '—'} · level: {m.level} · region: {m.region or '—'} · years: "
        f"{', '.join(map(str, m.years)) or '—'} · type: {m.doc_type} · script: {m.script}")
    )
    out.print(escape(f"source: {doc.source_path} ({doc.format}, {doc.encoding or 'binary'}) · sha256 {doc.content_hash[:16]}"))
    out.print(f"{len(doc.paragraphs)} paragraphs, {len(doc.removed_lines)} boilerplate lines removed\n")
    for p in doc.paragraphs:
        flag = " [yellow](placeholder)[/yellow]" if p.has_placeholder else ""
        out.print(f"[cyan]#{p.position}[/cyan] [dim]{escape(p.section or '(preamble)')}[/dim]{flag}", highlight=False)
        out.print(p.text if args.text else _snippet(p.text, 120), highlight=False, markup=False)
    return 0


def _show_removed(doc: Document, *, as_json: bool) -> int:
    """The boilerplate lines the cleaner removed from `doc`, numbered in document order."""
    if as_json:
        _print_json({"doc_id": doc.doc_id, "removed_lines": doc.removed_lines, "warnings": doc.warnings})
        return 0
    out.print(f"{len(doc.removed_lines)} lines removed as boilerplate from {escape(doc.doc_id)}")
    for n, line in enumerate(doc.removed_lines, 1):
        out.print(f"[dim]{n:>3}[/dim] {escape(line)}", highlight=False)
    return 0


def cmd_remove(ws: Workspace, args: argparse.Namespace) -> int:
    n = ws.remove(args.doc)
    if args.json:
        _print_json({"removed": args.doc, "paragraphs": n})
    else:
        out.print(f"removed {args.doc} and its {n} paragraphs")
    return 0


def cmd_export(ws: Workspace, args: argparse.Namespace) -> int:
    path = ws.export(args.output, what=args.what)
    if args.json:
        _print_json({"path": str(path), "what": args.what})
    else:
        out.print(f"wrote {args.what} to {path}")
    return 0


def cmd_index(ws: Workspace, args: argparse.Namespace) -> int:
    if args.action == "build":
        report = ws.build_index(model=args.model, kind=args.ann or args.kind, backend=args.backend, uri=args.uri,
                                collection=args.collection)
    elif args.action == "update":
        report = ws.update_index()
    else:
        report = ws.check_index()
    if args.json:
        _print_json({**asdict(report), "consistent": report.consistent})
    else:
        out.print(
            escape(
                f"{args.action}: {report.indexed} of {report.paragraphs} paragraphs indexed "
                f"({report.kind}, {report.model_id}); added {report.added}, removed {report.removed}"
                + (f", repaired {report.repaired} damaged vectors" if report.repaired else "")
                + (f", copied the changed themes of {report.retagged}" if report.retagged else "")
            )
        )
        if report.rebuilt_from:
            out.print(escape(_rebuilt_note(report)))
        if args.action == "check":
            state = "consistent" if report.consistent else "NOT consistent: run `policy-nlp index update` to repair"
            behind = f", {report.themes_behind} with changed themes" if report.themes_behind else ""
            out.print(escape(f"{report.missing} missing, {report.stale} stale, {report.damaged} damaged{behind}: {state}"))
    return 0 if report.consistent else 1


def _filters(args: argparse.Namespace) -> Filters:
    years = args.years or []
    return Filters(
        bureau=tuple(args.bureau or ()),
        exclude_bureau=tuple(args.exclude_bureau or ()),
        level=tuple(args.level or ()),
        region=tuple(args.region or ()),
        doc_type=tuple(args.doc_type or ()),
        year_from=min(years) if years else None,
        year_to=max(years) if years else None,
        theme=tuple(args.theme or ()),
    )


def _hits_table(hits: list[Hit], title: str) -> Table:
    table = Table(title=escape(title), show_lines=True)
    for col in ("#", "relevance", "bureau", "level", "year", "section", "snippet"):
        table.add_column(col, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        years = "-".join(str(y) for y in sorted({min(hit.years), max(hit.years)})) if hit.years else ""
        copies = f"\n[dim]+{len(hit.duplicates)} near-identical[/dim]" if hit.duplicates else ""
        if hit.other_bureaus:
            copies += f"[dim] also in: {escape('、'.join(hit.other_bureaus))}[/dim]"
        table.add_row(
            str(rank),
            _relevance(hit),
            escape(hit.bureau or "—"),
            hit.level,
            years,
            escape(hit.section or "(preamble)"),
            _highlight(hit.snippet, hit.highlights) + copies + f"\n[dim]{escape(hit.doc_id)} · ¶{hit.para_id}[/dim]",
        )
    return table


def _relevance(hit: Hit) -> str:
    """The calibrated relevance (the fused score in modes without one), with weak matches marked."""
    if hit.relevance is None:
        return f"{hit.score:.3f}"
    return f"[dim]{hit.relevance:.2f} weak[/dim]" if hit.weak else f"{hit.relevance:.2f}"


def _no_close_match(hits: list[Hit]) -> bool:
    """True when every hit carries a relevance estimate and each is below the weak-match threshold."""
    return bool(hits) and all(h.relevance is not None and h.weak for h in hits)


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` as rich markup with each [start, end) span (the hit's highlights) in bold red."""
    out, last = [], 0
    for start, end in spans:
        out += [escape(text[last:start]), "[bold red]", escape(text[start:end]), "[/bold red]"]
        last = end
    return "".join(out + [escape(text[last:])])


def cmd_search(ws: Workspace, args: argparse.Namespace) -> int:
    ann = {name: value for name, value in (("nprobe", args.nprobe), ("ef_search", args.ef_search)) if value is not None}
    hits = ws.search(args.query, k=args.k, mode=args.mode, filters=_filters(args), group=not args.no_group, ann=ann)
    if args.json:
        _print_json([h.to_json() for h in hits])
    elif not hits:
        out.print("no paragraph matches; loosen the filters or rephrase the query")
    else:
        out.print(_hits_table(hits, f"{args.mode} search: {_snippet(args.query, 40)}"))
        if _no_close_match(hits):
            out.print("no close match: every result is a weak match (相关度低), shown for reference")
    return 0


def cmd_similar(ws: Workspace, args: argparse.Namespace) -> int:
    source = args.source
    if source.isdigit():
        results = ws.similar(para_id=int(source), k=args.k, mode=args.mode, filters=_filters(args),
                             other_bureaus=not args.same_bureau)  # fmt: skip
    elif Path(source).is_file():
        results = ws.similar(path=source, k=args.k, mode=args.mode, filters=_filters(args))
    else:
        results = ws.similar(text=source, k=args.k, mode=args.mode, filters=_filters(args))
    if args.json:
        _print_json([{**asdict(r), "hits": [h.to_json() for h in r.hits], "no_close_match": _no_close_match(r.hits)}
                     for r in results])
        return 0
    for r in results:
        out.print(_hits_table(r.hits, f"similar to: {r.source_section or _snippet(r.source_text, 40)}"))
        if _no_close_match(r.hits):
            where = "in other bureaus" if r.source_para_id is not None else "in the store"
            out.print(f"no close match {where} (未找到相近做法): the results above are weak matches")
    return 0


def cmd_evaluate(ws: Workspace, args: argparse.Namespace) -> int:
    if args.what == "classify":
        return _evaluate_classify(ws, args)
    result = ws.evaluate_search(args.queries) if args.queries else ws.evaluate_search()
    if args.json:
        _print_json(asdict(result))
        return 0
    table = Table(title=f"search quality on {result.queries} judged queries (top 10): the project's modes, then "
                        "the anchors; fitted on the tuning half, report the held-out half", show_lines=False)
    for col in ("half", "queries", "system", "nDCG@10", "Recall@10", "MRR", "unjudged in top 10"):
        table.add_column(col)
    for group, systems in result.groups.items():
        for name, m in systems.items():
            table.add_row(group, str(m["queries"]), name, f"{m['ndcg']:.3f}", f"{m['recall']:.3f}", f"{m['mrr']:.3f}",
                          f"{m['unjudged']:.1f}")  # fmt: skip
        table.add_section()
    out.print(table)
    if result.unmatched_judgements:
        out.print(f"{result.unmatched_judgements} judged paragraphs are not in this store and were left out")
    return 0


def _evaluate_classify(ws: Workspace, args: argparse.Namespace) -> int:
    from .classify import format_table
    from .classify.training import SCHEMES

    results = ws.evaluate_classify(schemes=args.scheme or SCHEMES, tuned=args.tuned, predictions=args.predictions,
                                   in_sample=args.in_sample)
    if args.json:
        _print_json({scheme: {name: r.to_dict() for name, r in rs.items()} for scheme, rs in results.items()})
    else:
        sys.stdout.write("\n\n".join(f"## {scheme}\n\n{format_table(rs)}" for scheme, rs in results.items()) + "\n")
    return 0


def cmd_train(ws: Workspace, args: argparse.Namespace) -> int:
    from .classify.training import train_shipped_model

    summary = train_shipped_model(ws.home, Path(args.output), labels=args.labels or (), evaluate=not args.no_evaluate)
    if args.json:
        _print_json(summary)
    else:
        out.print(escape(f"wrote the theme model to {args.output}; see its README.md for data, metrics and thresholds"))
    return 0


def cmd_tag(ws: Workspace, args: argparse.Namespace) -> int:
    if args.store:
        n = ws.tag_store(model=args.model)
        if args.json:
            _print_json({"tagged": n})
        else:
            out.print(f"tagged {n} stored paragraphs")
        return 0
    if not args.report:
        raise ConfigError("give a report file to tag, or --store to tag every stored paragraph")
    report = ws.tag_report(args.report, model=args.model, explain=args.explain)
    data = report.to_json()
    rows, summary = data["paragraphs"], data["summary"]
    fmt = "json" if args.json else args.format
    if fmt == "json":
        _print_json(data)
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["position", "section", "themes", "text"])
        for r in rows:
            writer.writerow([r["position"], r["section"], ";".join(r["themes"]), r["text"]])
    elif fmt == "md":
        lines = [f"# {report.document.metadata.title}", "", "| theme | paragraphs | share of text |", "| --- | --- | --- |"]
        lines += [f"| {r['theme']} | {r['paragraphs']} | {r['share']:.0%} |" for r in summary]
        lines.append("")
        for r in rows:
            lines += [f"**¶{r['position']}** {r['section']} — {', '.join(r['themes']) or '(none)'}", "", r["text"], ""]
        sys.stdout.write("\n".join(lines) + "\n")
    else:
        table = Table(title=escape(f"themes of {report.document.metadata.title}"))
        for col in ("theme", "paragraphs", "share of text"):
            table.add_column(col)
        for r in summary:
            table.add_row(r["theme"], str(r["paragraphs"]), f"{r['share']:.0%}")
        out.print(table)
        for r in rows:
            out.print(f"[cyan]¶{r['position']}[/cyan] [bold]{escape(', '.join(r['themes']) or '—')}[/bold] "
                      f"[dim]{escape(_snippet(r['text'], 70))}[/dim]")  # fmt: skip
            for theme, sentences in r.get("evidence", {}).items():
                out.print(escape(f"    {theme}: {' / '.join(_snippet(x, 50) for x in sentences)}"), highlight=False)
    return 0


def cmd_classify(ws: Workspace, args: argparse.Namespace) -> int:
    from .artifacts import write_file
    from .tagging import classify_jsonl

    source, target = Path(args.input), Path(args.output)
    if not source.is_file():
        raise ConfigError(f"input file {source} does not exist")
    model = ws.theme_model(args.model)
    done = failed = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder for --output {target} ({exc.strerror or exc})") from exc
    with write_file(target) as tmp, tmp.open("w", encoding="utf-8") as sink:
        for result in classify_jsonl(model, source, explain=args.explain):
            sink.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            if result.error:
                failed += 1
                err.print(escape(f"{source}:{result.line}: {result.error}"), highlight=False)
            else:
                done += 1
    if args.json:
        _print_json({"output": str(target), "classified": done, "failed": failed})
    else:
        out.print(escape(f"classified {done} lines, {failed} failed → {target}"))
    return 1 if failed else 0


def cmd_label(ws: Workspace, args: argparse.Namespace) -> int:
    rows = ws.suggest_labels(args.n, model=args.model)
    if args.json:
        _print_json(rows)
        return 0
    title = "least certain paragraphs: label these next (policy_nlp/data/labels/*.jsonl format)"
    table = Table(title=title, show_lines=True)
    for col in ("para_id", "doc_id", "margin", "uncertain", "closest scores", "text"):
        table.add_column(col, overflow="fold")
    for r in rows:
        close = sorted(r["scores"].items(), key=lambda kv: -kv[1])[:3]
        table.add_row(str(r["para_id"]), escape(r["doc_id"]), f"{r['margin']:.3f}", "yes" if r["uncertain"] else "",
                      ", ".join(f"{t} {v:.2f}" for t, v in close), escape(_snippet(r["text"], 120)))  # fmt: skip
    out.print(table)
    return 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cmd_serve(ws: Workspace, args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .web import Service, create_app
    except ImportError:
        raise ConfigError('the web service needs its extra: pip install -e ".[web]"') from None
    service = Service(ws.home)
    app = create_app(service=service, allow_write=args.allow_write, token=os.environ.get("POLICY_NLP_TOKEN"))
    if args.host not in LOOPBACK:
        err.print(f"[yellow]warning:[/yellow] listening on {escape(args.host)}: other machines can reach this service")
    err.print(escape(f"loading the search index and models from {ws.home} …"))
    service.open()
    err.print(escape(f"serving http://{args.host}:{args.port}/ (API docs at /docs); Ctrl+C stops"))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=10)
    return 0


def _snippet(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit code 2), like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _add_common(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """``--home`` and ``--json``, accepted before and after the sub-command: after it they have no default,
    so that a value given before it is kept."""
    home, as_json = (argparse.SUPPRESS, argparse.SUPPRESS) if after_command else (None, False)
    parser.add_argument(
        "--home", default=home,
        help="where the store, indexes and models live (default: $POLICY_NLP_HOME or the user data dir)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", default=as_json, help="print machine-readable JSON on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="policy-nlp",
        description="Search and tag Chinese education-bureau policy texts, offline.",
    )
    parser.add_argument("--version", action="version", version=f"policy_nlp {__version__}")
    _add_common(parser, after_command=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, after_command=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[Workspace, argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    ingest_args = argparse.ArgumentParser(add_help=False)
    p = ingest_args
    p.add_argument("paths", nargs="+", help=".txt .md .html .docx .pdf files, or folders of them")
    p.add_argument("--title", help="set the title of every ingested document")
    p.add_argument("--bureau", help="set the issuing bureau, e.g. xx区教育局")
    p.add_argument("--level", help="national, province, city, district, county or unknown")
    p.add_argument("--region", help="e.g. 吉林省")
    p.add_argument("--years", type=_years, help="years covered: 2023, 2022-2023 or 2022,2023")
    p.add_argument("--doc-type", dest="doc_type", help="annual_summary, half_year_summary, plan, key_points, …")
    p.add_argument("--script", help="simplified, traditional or mixed")
    p.add_argument(
        "--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1024 / 1024, help="refuse files larger than this"
    )
    for name, func, help in (
        ("run", cmd_run, "the main job: ingest reports, tag every new paragraph with themes, update the search index"),
        ("ingest", cmd_ingest, "read reports (files or folders) into the corpus store"),
    ):
        p = sub.add_parser(name, parents=[common, ingest_args], help=help, description=help)
        p.set_defaults(func=func)

    add("docs", cmd_docs, "list the stored documents")

    p = add("show", cmd_show, "show one document's metadata and paragraphs")
    p.add_argument("doc", help="document id (see `policy-nlp docs`) or the path it was ingested from")
    p.add_argument("--text", action="store_true", help="print whole paragraphs (and, with --json, the full text)")
    p.add_argument("--removed", action="store_true", help="print only the lines removed as boilerplate, for review")

    p = add("remove", cmd_remove, "remove a document and its paragraphs from the store")
    p.add_argument("doc", help="document id or the path it was ingested from")

    p = add("index", cmd_index, "build, update or check the search indexes (dense FAISS + BM25)")
    p.add_argument("action", choices=("build", "update", "check"))
    p.add_argument("--model", help="build only: sentence-transformers name or folder (default: embedded e5-small)")
    p.add_argument("--kind", default="auto", help="build only: an --ann preset or a FAISS factory string")
    p.add_argument("--ann", choices=PRESETS, help="build only: dense index preset (default auto: exact flat up to "
                   f"{AUTO_FLAT_MAX:,} paragraphs, else ivf-fp16)")
    p.add_argument("--backend", choices=("local", "milvus"), default="local",
                   help="build only: local files (default) or a Milvus server, used by every later command")
    p.add_argument("--uri", help="build only, milvus: the server, e.g. http://127.0.0.1:19530")
    p.add_argument("--collection", help="build only, milvus: collection name (default policy_nlp_paragraphs)")

    filters = argparse.ArgumentParser(add_help=False)
    g = filters.add_argument_group("filters")
    g.add_argument("--bureau", action="append", help="only this bureau (substring; repeatable)")
    g.add_argument("--exclude-bureau", action="append", help="never this bureau (substring; repeatable)")
    g.add_argument("--level", action="append", help="national, province, city, district, county (repeatable)")
    g.add_argument("--region", action="append", help="e.g. 吉林省 (substring; repeatable)")
    g.add_argument("--years", type=_years, help="documents covering these years: 2023 or 2021-2024")
    g.add_argument("--doc-type", dest="doc_type", action="append", help="e.g. key_points, implementation_opinion")
    g.add_argument("--theme", action="append", help="theme id or name, e.g. 双减 or safety (needs `tag --store`)")
    ranking = argparse.ArgumentParser(add_help=False)
    ranking.add_argument("-k", type=_result_count, default=10, help=f"number of results, 1 to {MAX_RESULTS} (default 10)")
    ranking.add_argument("--mode", choices=MODES, default=DEFAULT_MODE, help="ranking (default: hybrid)")

    def add_search(name: str, func: Callable[[Workspace, argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common, ranking, filters], help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add_search("search", cmd_search, "find paragraphs about a phrase or a pasted paragraph")
    p.add_argument("query")
    p.add_argument("--no-group", action="store_true", help="list near-identical paragraphs separately")
    p.add_argument("--nprobe", type=_positive, help="IVF dense index: inverted lists to scan (default: the index's)")
    p.add_argument("--ef-search", dest="ef_search", type=_positive, help="HNSW dense index: search breadth")

    p = add_search("similar", cmd_similar, "similar initiatives in other bureaus for a paragraph id, a text or a report file")
    p.add_argument("source", help="a paragraph id (from search results), a report file, or pasted text")
    p.add_argument("--same-bureau", action="store_true", help="paragraph id only: also show the same bureau's documents")

    p = add("evaluate", cmd_evaluate, "measure search quality (every mode and the anchors) or theme classifiers side by side")
    p.add_argument("what", choices=("search", "classify"))
    p.add_argument("--queries", help="judged queries JSONL (default: the shipped policy_nlp/data/eval/search_queries.jsonl)")
    p.add_argument("--scheme", nargs="+", choices=("by document", "reports → messages", "messages → reports", "held-out"),
                   help="classify: only these evaluation schemes (default: all four)")
    p.add_argument("--tuned", action="store_true",
                   help="classify: also compare a model that fine-tunes the encoder's top layer (slow: minutes per fit)")
    p.add_argument("--predictions", metavar="FILE",
                   help="classify only: also write each model's scores and decisions to this JSON file (for notebooks): "
                        "in-sample with --in-sample, else the by-document scheme's out-of-fold ones")
    p.add_argument("--in-sample", action="store_true",
                   help="classify only: score the shipped model and the keyword rule on the labelled paragraphs "
                        "(seconds; optimistic, the model was trained on them) instead of cross-validating")

    model_opt = argparse.ArgumentParser(add_help=False)
    model_opt.add_argument("--model", help="theme model folder (default: the shipped policy_nlp/models/themes-e5)")

    def add_themed(name: str, func: Callable[[Workspace, argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common, model_opt], help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add_themed("tag", cmd_tag, "tag every paragraph of a report with themes and summarise, or tag the store")
    p.add_argument("report", nargs="?", help="a report file (.txt .md .html .docx .pdf)")
    p.add_argument("--store", action="store_true", help="tag every stored paragraph not tagged yet (for --theme filters)")
    p.add_argument("--format", choices=("table", "json", "md", "csv"), default="table")
    p.add_argument("--explain", action="store_true", help="show the sentences that drove each theme")

    p = add_themed("classify", cmd_classify, 'classify a JSONL file of {"id": …, "text": …} lines')
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--explain", action="store_true", help="add the sentences that drove each theme")

    p = add_themed("label", cmd_label, "suggest the paragraphs to label next (those the model is least sure of)")
    p.add_argument("action", choices=("suggest",))
    p.add_argument("-n", type=int, default=20)

    p = add("train", cmd_train, "train the theme classifier on policy_nlp/data/labels (reproduces the shipped model)")
    p.add_argument("--output", default=str(DEFAULT_THEME_MODEL), help="where to write the model folder")
    p.add_argument("--labels", nargs="+", metavar="FILE",
                   help="your own labelled JSONL files (corpus/labels format), added to the project's labels")
    p.add_argument("--no-evaluate", action="store_true", help="skip the side-by-side evaluation (much faster)")

    p = add("serve", cmd_serve, "the web service: JSON API and search page, models loaded once")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--allow-write", action="store_true",
                   help="allow requests that change the store, each with the token in $POLICY_NLP_TOKEN")

    p = add("export", cmd_export, "write paragraphs or documents to .parquet, .jsonl or .csv for notebooks")
    p.add_argument("output", help="output file; its suffix chooses the format")
    p.add_argument("--what", choices=("paragraphs", "documents"), default="paragraphs")
    return parser


#: Commands that only read the store: they open it read-only, so they work in a read-only home.
READ_ONLY_COMMANDS = ("docs", "show", "search", "similar", "export", "evaluate", "classify")


def _read_only(args: argparse.Namespace) -> bool:
    if args.command == "tag":
        return not args.store
    if args.command == "index":
        return args.action == "check"
    if args.command == "evaluate":
        return not args.in_sample  # the in-sample check tags the store's untagged paragraphs first
    return args.command in READ_ONLY_COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with Workspace(args.home, read_only=_read_only(args)) as ws:
            return args.func(ws, args)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 2
    except PolicyNLPError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 1
    except sqlite3.OperationalError as exc:  # a cache database on a full or read-only disk: still one line
        err.print(f"[red]error:[/red] {escape(str(exc))}: free some space or use --home with a folder you can "
                  "write to", highlight=False)  # fmt: skip
        return 1
    except OSError as exc:  # a file or folder the library did not expect to fail: still one line
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[red]error:[/red] {escape(str(exc.strerror or exc) + where)}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted; everything stored before the interruption is kept")
        return 130


if __name__ == "__main__":
    sys.exit(main())
