"""The FastAPI application: JSON endpoints over one warm Workspace, error handling, limits, the page.

Every endpoint is a thin call into :class:`policy_nlp.api.Workspace`; every error is a JSON body
``{"error": "…"}`` with a 4xx/5xx status, never a traceback.
"""

from __future__ import annotations

import hmac
import logging
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

from .. import __version__
from ..api import Workspace
from ..errors import ConfigError, DocumentNotFoundError, InputError, PolicyNLPError
from ..search.engine import DEFAULT_MODE
from .limits import MAX_UPLOAD_BYTES, BodyLimit
from .params import FilterParams, check_query
from .service import Service, ServiceUnavailable

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
#: Most texts in one /api/classify request.
MAX_CLASSIFY_TEXTS = 256


class TextBody(BaseModel):
    text: str = Field(min_length=1, description="a paragraph or a whole report, pasted")
    k: int = Field(10, ge=1, le=100)
    mode: str = DEFAULT_MODE
    explain: bool = False


class TextsBody(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_CLASSIFY_TEXTS)
    explain: bool = False


def filter_params(
    bureau: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
    exclude_bureau: Annotated[list[str], Query()] = [],  # noqa: B006
    level: Annotated[list[str], Query()] = [],  # noqa: B006
    region: Annotated[list[str], Query()] = [],  # noqa: B006
    doc_type: Annotated[list[str], Query()] = [],  # noqa: B006
    theme: Annotated[list[str], Query(description="theme id or Chinese name, e.g. 双减")] = [],  # noqa: B006
    years: Annotated[str, Query(description="2023 or 2021-2024")] = "",
) -> FilterParams:
    return FilterParams(bureau, exclude_bureau, level, region, doc_type, theme, years)


Filtering = Annotated[FilterParams, Depends(filter_params)]


def create_app(home: str | Path | None = None, *, service: Service | None = None, allow_write: bool = False,
               token: str | None = None) -> FastAPI:  # fmt: skip
    """The service over the workspace in ``home`` (or a ready ``service``).

    Nothing writes to the store unless ``allow_write``, and then only with ``token`` (Authorization: Bearer …).
    """
    if allow_write and not token:
        raise ConfigError("--allow-write needs a token: set POLICY_NLP_TOKEN to a long random string")
    owned = service is None
    service = service or Service(home)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        service.start()
        yield
        if owned:  # a service handed in is closed by whoever made it
            service.close()

    app = FastAPI(title="policy_nlp", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Search and theme tagging of Chinese education-bureau policy texts.")  # fmt: skip
    app.add_middleware(BodyLimit)
    _add_error_handlers(app)
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        """Swagger UI from the installed swagger-ui-bundle: no CDN, works offline."""
        return get_swagger_ui_html(openapi_url="/openapi.json", title="policy_nlp API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")  # fmt: skip

    run = service.run

    def require_write(request: Request) -> None:
        if not allow_write:
            raise HTTPException(403, "this service is read-only: start it with --allow-write to change the store")
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given.encode(), str(token).encode()):
            raise HTTPException(401, "a valid token is needed: send 'Authorization: Bearer $POLICY_NLP_TOKEN'")

    @app.get("/healthz", tags=["service"])
    async def healthz() -> JSONResponse:
        ready, message = service.state
        if ready:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable", "error": message}, status_code=503)

    @app.get("/api/stats", tags=["service"])
    async def stats() -> dict[str, Any]:
        return await run(lambda ws: ws.stats())

    @app.get("/api/search", tags=["search"])
    async def search(filters: Filtering, q: str, k: int = 10, offset: int = 0, mode: str = DEFAULT_MODE,
                     group: bool = True) -> dict[str, Any]:  # fmt: skip
        """Paragraphs about a phrase or a pasted paragraph, with highlight spans, copies, context ids and facets."""
        check_query(q, k, offset)
        scoped = filters.to_filters()
        page = await run(lambda ws: ws.search_page(q, k=k, offset=offset, mode=mode, filters=scoped, group=group))
        return {"query": q, "mode": mode, "k": k, "offset": offset, "hits": [h.to_json() for h in page.hits],
                "facets": page.facets}  # fmt: skip

    @app.get("/api/similar", tags=["search"])
    async def similar_to_paragraph(filters: Filtering, para_id: int, k: int = 10, mode: str = DEFAULT_MODE,
                                   same_bureau: bool = False) -> dict[str, Any]:  # fmt: skip
        """Similar initiatives in other bureaus for a stored paragraph."""
        check_query("", k)
        scoped = filters.to_filters()
        (result,) = await run(lambda ws: ws.similar(para_id=para_id, k=k, mode=mode, filters=scoped,
                                                    other_bureaus=not same_bureau))  # fmt: skip
        return _similar_json(result)

    @app.post("/api/similar", tags=["search"])
    async def similar_to_text(body: TextBody, filters: Filtering) -> dict[str, Any]:
        """Similar paragraphs for a pasted text."""
        check_query(body.text, body.k)
        scoped = filters.to_filters()
        (result,) = await run(lambda ws: ws.similar(text=body.text, k=body.k, mode=body.mode, filters=scoped))
        return _similar_json(result)

    @app.post("/api/tag", tags=["themes"], openapi_extra=_TAG_BODY)
    async def tag(request: Request) -> dict[str, Any]:
        """Tag a report, pasted as JSON ``{"text": …}`` or uploaded as a file (field ``file``); nothing is stored."""
        text, data, filename, explain = await _report_from(request)
        if data is not None:
            report = await service.run_themes(lambda ws: ws.tag_upload(data, filename, explain=explain,
                                                                       max_bytes=MAX_UPLOAD_BYTES))  # fmt: skip
        else:
            report = await service.run_themes(lambda ws: ws.tag_text(text, explain=explain))
        return report.to_json()

    @app.post("/api/classify", tags=["themes"])
    async def classify(body: TextsBody) -> dict[str, Any]:
        """One prediction per text: themes above their threshold and every theme's score."""
        predictions = await service.run_themes(lambda ws: ws.classify(body.texts, explain=body.explain))
        return {"predictions": [asdict(p) for p in predictions]}

    @app.get("/api/docs", tags=["documents"])
    async def documents() -> dict[str, Any]:
        docs = await run(lambda ws: ws.documents())
        return {"documents": [{k: v for k, v in d.items() if k != "source_path"} for d in docs]}

    @app.get("/api/docs/{doc_id}", tags=["documents"])
    async def document(doc_id: str) -> dict[str, Any]:
        """A document's metadata and its paragraphs (ids, section paths, text, stored themes)."""
        return await run(lambda ws: document_json(ws, doc_id))

    @app.delete("/api/docs/{doc_id}", tags=["documents"], dependencies=[Depends(require_write)])
    async def remove_document(doc_id: str) -> dict[str, Any]:
        """Remove a document and drop its paragraphs from the index (needs --allow-write and the token)."""

        def work(ws: Workspace) -> dict[str, Any]:
            removed = ws.remove(doc_id)
            ws.update_index(progress=False)
            return {"removed": doc_id, "paragraphs": removed}

        return await run(work)

    from .pages import add_pages

    add_pages(app, service)
    return app


def document_json(ws: Workspace, doc_id: str) -> dict[str, Any]:
    """Metadata and paragraphs (with ids and stored themes) of one document; no file paths."""
    doc = ws.document(doc_id)
    paragraphs = ws.paragraphs(doc.doc_id)
    themes = ws.paragraph_themes([p.para_id for p in paragraphs])
    return {
        "doc_id": doc.doc_id, "format": doc.format, "encoding": doc.encoding, "metadata": asdict(doc.metadata),
        "warnings": doc.warnings,
        "paragraphs": [{"para_id": p.para_id, "position": p.position, "section_path": p.section_path,
                        "text": p.text, "has_placeholder": p.has_placeholder, "themes": themes.get(p.para_id, [])}
                       for p in paragraphs],
    }  # fmt: skip


def _similar_json(result: Any) -> dict[str, Any]:
    return {"source_text": result.source_text, "source_section": result.source_section,
            "source_para_id": result.source_para_id, "hits": [h.to_json() for h in result.hits]}  # fmt: skip


_TAG_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"type": "object", "required": ["text"],
                                             "properties": {"text": {"type": "string"}, "explain": {"type": "boolean"}}}},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                               "properties": {"file": {"type": "string", "format": "binary"},
                                                              "explain": {"type": "boolean"}}}},
        }
    }
}  # fmt: skip


async def _report_from(request: Request) -> tuple[str, bytes | None, str, bool]:
    """(pasted text, uploaded bytes or None, upload file name, explain) from a JSON or multipart body."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InputError("upload the report as a file in the form field 'file'")
        return "", await upload.read(), upload.filename or "", form.get("explain") in ("1", "true", "on")
    try:
        body = await request.json()
    except ValueError:
        raise InputError('send JSON like {"text": "…"} or upload a file as multipart form data') from None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise InputError('the JSON body needs a non-empty "text"')
    return text, None, "", bool(body.get("explain"))


def error_status(exc: PolicyNLPError) -> int:
    """404 for what is not in the store, 503 while the service cannot answer, 400 for other bad input."""
    if isinstance(exc, DocumentNotFoundError):
        return 404
    if isinstance(exc, ServiceUnavailable):
        return 503
    return 400


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PolicyNLPError)
    async def library_error(_: Request, exc: PolicyNLPError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=error_status(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "no such page or endpoint"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse({"error": "internal error: the service logged the details"}, status_code=500)
