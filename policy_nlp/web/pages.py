"""The page at ``/``: server-rendered Jinja2 in Chinese, every result reachable without JavaScript.

Routes: ``/`` (search with filters and facet counts), ``/doc/{doc_id}`` (a document with one paragraph
and its neighbours marked), ``/similar`` (similar initiatives in other bureaus), ``/tag`` (tag a pasted
or uploaded report). Errors show as a message on the page, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from ..classify import load_taxonomy
from ..errors import PolicyNLPError
from ..search.engine import DEFAULT_MODE, MODES, highlight_spans
from ..search.facets import FACET_NAMES
from .app import document_json, error_status
from .limits import MAX_UPLOAD_BYTES
from .params import FilterParams, check_query
from .service import Service

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE_SIZE = 10
LEVEL_NAMES = {"national": "国家", "province": "省级", "city": "市级", "district": "区级", "county": "县级",
               "unknown": "未知级别"}  # fmt: skip
FACET_TITLES = {"bureau": "发文单位", "level": "行政级别", "year": "年份", "theme": "主题"}
#: Facet name -> the query parameter that filters on it.
FACET_PARAMS = {"bureau": "bureau", "level": "level", "year": "years", "theme": "theme"}
FILTER_KEYS = ("bureau", "exclude_bureau", "level", "region", "doc_type", "theme", "years")


def marked(text: str, spans: list[tuple[int, int]]) -> Markup:
    """``text`` escaped, with each [start, end) span in <mark>."""
    out, last = [], 0
    for start, end in spans:
        out += [escape(text[last:start]), Markup("<mark>"), escape(text[start:end]), Markup("</mark>")]
        last = end
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _years(values: list[int]) -> str:
    return "-".join(str(y) for y in sorted({min(values), max(values)})) if values else ""


def _globals() -> dict[str, Any]:
    themes = load_taxonomy().themes
    return {"theme_names": {t.id: t.name_zh for t in themes}, "themes": themes, "level_names": LEVEL_NAMES,
            "facet_titles": FACET_TITLES, "modes": MODES, "page_size": PAGE_SIZE}  # fmt: skip


TEMPLATES.env.globals.update(_globals())
TEMPLATES.env.filters.update(marked=marked, years=_years)


def _filters_of(request: Request) -> FilterParams:
    params = request.query_params
    return FilterParams(*(params.getlist(key) for key in FILTER_KEYS[:-1]), years=params.get("years", ""))


def _link(request: Request, *, add: tuple[str, str] | None = None, remove: tuple[str, str] | None = None,
          offset: int = 0) -> str:  # fmt: skip
    """The current search's URL with one filter value added or removed, at ``offset``."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "offset" and (k, v) != remove]
    if add and add not in items:
        items = [(k, v) for k, v in items if not (add[0] == "years" and k == "years")] + [add]
    if offset:
        items.append(("offset", str(offset)))
    return "/?" + urlencode(items)


def add_pages(app: FastAPI, service: Service) -> None:
    """Mount the HTML routes on ``app``, over the workspace of ``service``."""
    run = service.run

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, name, context, status_code=status)

    def failed(request: Request, name: str, exc: PolicyNLPError, **context: Any) -> HTMLResponse:
        return page(request, name, error_status(exc), error=str(exc), **context)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def search_page(request: Request, q: str = "", offset: int = 0, mode: str = DEFAULT_MODE) -> HTMLResponse:
        filters = _filters_of(request)
        active = [(k, v) for k, v in request.query_params.multi_items() if k in FILTER_KEYS and v.strip()]
        controls = {key: next((v for k, v in active if k == key), "") for key in ("level", "theme", "years")}
        context = {"q": q, "mode": mode, "offset": offset, "active": active, "link": lambda **kw: _link(request, **kw),
                   "facet_params": FACET_PARAMS, "facet_names": FACET_NAMES, "controls": controls}  # fmt: skip
        if not q.strip():
            return page(request, "search.html", **context)
        try:
            check_query(q, PAGE_SIZE, offset)
            scoped = filters.to_filters()
            result = await run(lambda ws: ws.search_page(q, k=PAGE_SIZE, offset=offset, mode=mode, filters=scoped))
        except PolicyNLPError as exc:
            return failed(request, "search.html", exc, **context)
        return page(request, "search.html", hits=result.hits, facets=result.facets, **context)

    @app.get("/doc/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    async def document_page(request: Request, doc_id: str, para: int | None = None) -> HTMLResponse:
        try:
            doc = await run(lambda ws: document_json(ws, doc_id))
        except PolicyNLPError as exc:
            return failed(request, "document.html", exc)
        ids = [p["para_id"] for p in doc["paragraphs"]]
        at = ids.index(para) if para in ids else None
        context_ids = set(ids[max(0, at - 1) : at + 2]) - {para} if at is not None else set()
        return page(request, "document.html", doc=doc, para=para, context_ids=context_ids)

    @app.get("/similar", response_class=HTMLResponse, include_in_schema=False)
    async def similar_page(request: Request, para_id: int) -> HTMLResponse:
        try:
            (result,) = await run(lambda ws: ws.similar(para_id=para_id, k=PAGE_SIZE))
        except PolicyNLPError as exc:
            return failed(request, "similar.html", exc)
        return page(request, "similar.html", result=result)

    @app.get("/tag", response_class=HTMLResponse, include_in_schema=False)
    async def tag_form(request: Request) -> HTMLResponse:
        return page(request, "tag.html", text="")

    @app.post("/tag", response_class=HTMLResponse, include_in_schema=False)
    async def tag_page(request: Request) -> HTMLResponse:
        form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
        text, upload = str(form.get("text") or ""), form.get("file")
        try:
            if upload is not None and not isinstance(upload, str) and upload.filename:
                data, name = await upload.read(), upload.filename
                report = await service.run_themes(lambda ws: ws.tag_upload(data, name, explain=True,
                                                                           max_bytes=MAX_UPLOAD_BYTES))  # fmt: skip
            elif text.strip():
                report = await service.run_themes(lambda ws: ws.tag_text(text, explain=True))
            else:
                return page(request, "tag.html", 400, text=text, error="请粘贴报告全文或上传一个文件")
        except PolicyNLPError as exc:
            return failed(request, "tag.html", exc, text=text)
        rows = report.to_json()["paragraphs"]
        for row in rows:
            evidence = [s for sentences in row.get("evidence", {}).values() for s in sentences]
            row["marked"] = marked(row["text"], highlight_spans(row["text"], evidence))
        top = max((r.paragraphs for r in report.summary), default=1)
        return page(request, "tag.html", text=text, report=report, rows=rows, top=top)
