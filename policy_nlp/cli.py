"""The ``policy-nlp`` command line: a thin layer over :class:`policy_nlp.api.Workspace`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .api import Workspace
from .errors import ConfigError, PolicyNLPError
from .ingest import DEFAULT_MAX_BYTES

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _years(value: str) -> list[int]:
    """``2023`` or ``2022-2023`` or ``2022,2023`` → a sorted list of years."""
    try:
        if "-" in value:
            lo, hi = (int(v) for v in value.split("-", 1))
            return list(range(lo, hi + 1))
        return sorted(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a year, a range like 2022-2023, or a list like 2022,2023")


def cmd_ingest(ws: Workspace, args: argparse.Namespace) -> int:
    overrides = {
        key: getattr(args, key)
        for key in ("title", "bureau", "level", "region", "years", "doc_type", "script")
        if getattr(args, key) is not None
    }
    outcomes = ws.ingest(args.paths, overrides=overrides or None, max_bytes=int(args.max_mb * 1024 * 1024))
    failed = [o for o in outcomes if o.status == "failed"]
    if args.json:
        _print_json([asdict(o) for o in outcomes])
    else:
        table = Table(title=f"ingested into {ws.store.path}")
        for col in ("status", "doc_id", "paragraphs", "title / error"):
            table.add_column(col, justify="right" if col == "paragraphs" else "left")
        for o in outcomes:
            style = "red" if o.status == "failed" else None
            table.add_row(o.status, escape(o.doc_id or o.path), str(o.paragraphs), escape(o.error or o.title), style=style)
        out.print(table)
        by_status = {s: sum(o.status == s for o in outcomes) for s in ("added", "replaced", "unchanged", "failed")}
        docs, paras = ws.store.counts()
        out.print(
            ", ".join(f"{n} {s}" for s, n in by_status.items() if n)
            + f" · the store now holds {docs} documents, {paras} paragraphs"
        )
    if not outcomes:
        err.print("no readable files found under the given paths")
        return 1
    return 1 if failed else 0


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


def _snippet(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="policy-nlp",
        description="Search and tag Chinese education-bureau policy texts, offline.",
    )
    parser.add_argument("--version", action="version", version=f"policy_nlp {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", help="where the store, indexes and models live (default: $POLICY_NLP_HOME or the user data dir)"
    )
    common.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[Workspace, argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("ingest", cmd_ingest, "read reports (files or folders) into the corpus store")
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

    add("docs", cmd_docs, "list the stored documents")

    p = add("show", cmd_show, "show one document's metadata and paragraphs")
    p.add_argument("doc", help="document id (see `policy-nlp docs`) or the path it was ingested from")
    p.add_argument("--text", action="store_true", help="print whole paragraphs (and, with --json, the full text)")

    p = add("remove", cmd_remove, "remove a document and its paragraphs from the store")
    p.add_argument("doc", help="document id or the path it was ingested from")

    p = add("export", cmd_export, "write paragraphs or documents to .parquet, .jsonl or .csv for notebooks")
    p.add_argument("output", help="output file; its suffix chooses the format")
    p.add_argument("--what", choices=("paragraphs", "documents"), default="paragraphs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with Workspace(args.home) as ws:
            return args.func(ws, args)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 2
    except PolicyNLPError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted; everything stored before the interruption is kept")
        return 130


if __name__ == "__main__":
    sys.exit(main())
