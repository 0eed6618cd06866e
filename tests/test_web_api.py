"""The web service's JSON API as a script would use it: FastAPI's TestClient over the seed reports."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason='the web extra is not installed: pip install -e ".[web]"')

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from policy_nlp import Workspace  # noqa: E402
from policy_nlp.cli import main  # noqa: E402
from policy_nlp.web import Service, create_app  # noqa: E402
from policy_nlp.web.limits import MAX_BODY_BYTES, MAX_UPLOAD_BYTES  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SEED_004 = REPO / "corpus" / "seeds" / "004_19f5cf095fbe0cc7.txt"
SAFETY = "二是筑牢校园安全屏障。实施平安校园提质工程,配齐'四位一体'防护设备,开展联合执法检查18次,整改安全隐患67处。"
DOUBLE = "(五)加大'双减'工作力度。聚集丰富社会资源,完善课后课程体系,深化校外培训整治,全区学科类培训机构压减率保持100%。"


@pytest.fixture(scope="module")
def client(web_service):
    with TestClient(create_app(service=web_service)) as c:
        yield c


def test_health_and_stats_once_models_are_loaded(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    stats = client.get("/api/stats").json()
    assert (stats["documents"], stats["paragraphs"], stats["indexed"], stats["tagged"]) == (4, 83, 83, 83)
    assert "e5-small" in stats["embedding_model"] and stats["theme_model"].startswith("themes-e5@")
    assert "/api/search" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/docs")
    assert "/static/swagger/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_search_hits_carry_highlights_context_and_facets(client):
    body = client.get("/api/search", params={"q": "县管校聘", "k": 3}).json()
    assert body["query"] == "县管校聘" and len(body["hits"]) == 3
    first = body["hits"][0]
    marked = [first["snippet"][a:b] for a, b in first["highlights"]]
    assert "县管校聘" in marked and set(marked) <= {"县管校聘", "县管", "校聘"}  # 区管校聘 shares 校聘
    doc = client.get(f"/api/docs/{first['doc_id']}").json()
    ids = [p["para_id"] for p in doc["paragraphs"]]
    at = ids.index(first["para_id"])
    assert (first["before_id"], first["after_id"]) == (ids[at - 1], ids[at + 1])
    facets = body["facets"]
    assert set(facets) == {"bureau", "level", "year", "theme"}
    ranked = sum(facets["level"].values())  # every ranked paragraph has one level
    assert ranked > 10 and max(facets["bureau"].values()) <= ranked and sum(facets["bureau"].values()) >= ranked
    assert facets["level"] == dict(sorted(facets["level"].items(), key=lambda kv: -kv[1]))


def test_a_facet_value_narrows_the_results_to_its_count(client):
    wide = client.get("/api/search", params={"q": "课后服务", "k": 100, "group": False}).json()
    level, count = next(iter(wide["facets"]["level"].items()))
    narrow = client.get("/api/search", params={"q": "课后服务", "level": level, "k": 100, "group": False}).json()
    assert narrow["facets"]["level"] == {level: count}
    assert {h["level"] for h in narrow["hits"]} == {level} and len(narrow["hits"]) == count


def test_theme_filter_takes_the_chinese_name_or_the_id(client):
    by_name = client.get("/api/search", params={"q": "课后服务", "theme": "双减"}).json()["hits"]
    by_id = client.get("/api/search", params={"q": "课后服务", "theme": "double_reduction"}).json()["hits"]
    assert by_name and [h["para_id"] for h in by_name] == [h["para_id"] for h in by_id]
    for hit in by_name:
        doc = client.get(f"/api/docs/{hit['doc_id']}").json()
        assert "double_reduction" in next(p["themes"] for p in doc["paragraphs"] if p["para_id"] == hit["para_id"])
    unknown = client.get("/api/search", params={"q": "课后服务", "theme": "美食"})
    assert unknown.status_code == 400 and "unknown theme" in unknown.json()["error"]


def test_offset_pages_through_the_ranking(client):
    top20 = client.get("/api/search", params={"q": "教师队伍建设", "k": 20}).json()["hits"]
    page2 = client.get("/api/search", params={"q": "教师队伍建设", "k": 10, "offset": 10}).json()["hits"]
    assert [h["para_id"] for h in page2] == [h["para_id"] for h in top20[10:]]


def test_similar_by_paragraph_id_and_by_text(client):
    hit = client.get("/api/search", params={"q": "县管校聘", "k": 1}).json()["hits"][0]
    body = client.get("/api/similar", params={"para_id": hit["para_id"], "k": 5}).json()
    assert body["source_para_id"] == hit["para_id"] and body["hits"]
    assert all(h["bureau"] != hit["bureau"] and h["doc_id"] != hit["doc_id"] for h in body["hits"])
    pasted = client.post("/api/similar", json={"text": SAFETY, "k": 3}).json()
    assert len(pasted["hits"]) == 3 and any("安全" in h["text"] for h in pasted["hits"])
    assert client.get("/api/similar", params={"para_id": 999999}).status_code == 404


def test_tag_a_pasted_report_and_an_uploaded_file(client, web_home):
    pasted = client.post("/api/tag", json={"text": f"一、校园安全\n{SAFETY}\n二、双减\n{DOUBLE}", "explain": True}).json()
    themes = {r["theme"] for r in pasted["summary"]}
    assert {"safety", "double_reduction"} <= themes
    safety_row = next(p for p in pasted["paragraphs"] if "safety" in p["themes"])
    assert all(s in safety_row["text"] for s in safety_row["evidence"]["safety"])
    # a path-like upload name gives only the format; nothing is read from or written to that path
    upload = client.post("/api/tag", files={"file": ("../../etc/report.txt", SEED_004.read_bytes(), "text/plain")})
    with Workspace(web_home) as ws:
        expected = ws.tag_report(SEED_004).to_json()
    assert upload.status_code == 200 and upload.json()["summary"] == expected["summary"]
    exe = client.post("/api/tag", files={"file": ("report.exe", b"MZ\x90\x00", "application/octet-stream")})
    assert exe.status_code == 400 and "unsupported file type" in exe.json()["error"]


def test_classify_gives_one_prediction_per_text(client):
    body = client.post("/api/classify", json={"texts": [SAFETY, DOUBLE]}).json()
    assert [p["themes"][0] for p in body["predictions"]] == ["safety", "double_reduction"]
    assert client.post("/api/classify", json={"texts": []}).status_code == 422


def test_documents_list_and_detail_without_file_paths(client):
    docs = client.get("/api/docs").json()["documents"]
    assert len(docs) == 4 and all("source_path" not in d for d in docs)
    doc = client.get(f"/api/docs/{docs[0]['doc_id']}").json()
    assert doc["paragraphs"][0]["section_path"] is not None and "source_path" not in doc
    assert sum(len(p["section_path"]) > 0 for p in doc["paragraphs"]) > len(doc["paragraphs"]) // 2
    missing = client.get("/api/docs/nope")
    assert missing.status_code == 404 and "no document" in missing.json()["error"]


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "says"),
    [
        ("get", "/api/search", {"params": {"q": "  "}}, 400, "empty"),
        ("get", "/api/search", {"params": {"q": "课后服务", "mode": "fuzzy"}}, 400, "unknown search mode"),
        ("get", "/api/search", {"params": {"q": "课后服务", "k": 1000}}, 400, "k must be"),
        ("get", "/api/search", {"params": {"q": "课后服务", "years": "去年"}}, 400, "not a year"),
        ("get", "/api/search", {"params": {"q": "课后服务", "offset": 10_000}}, 400, "offset must be"),
        ("get", "/api/search", {"params": {"q": "课后服务", "level": "village"}}, 400, "unknown level"),
        ("get", "/api/search", {}, 422, "q"),
        ("post", "/api/tag", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "JSON"),
        ("post", "/api/tag", {"json": {"text": ""}}, 400, "non-empty"),
        ("post", "/api/classify", {"json": {"text": "x"}}, 422, "texts"),
        ("get", "/nowhere", {}, 404, "no such page"),
        ("delete", "/api/docs/004_19f5cf095fbe0cc7", {}, 403, "read-only"),
    ],
)
def test_bad_requests_get_a_json_error_without_traceback(client, method, url, kwargs, status, says):
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status
    assert says in response.json()["error"] and "Traceback" not in response.text


def test_oversized_bodies_get_413(client):
    big = client.post("/api/classify", json={"texts": ["教" * (MAX_BODY_BYTES // 3 + 10)]})
    assert big.status_code == 413 and "limit" in big.json()["error"]
    upload = client.post("/api/tag", files={"file": ("big.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "text/plain")})
    assert upload.status_code == 413

    def chunks():  # no Content-Length: the limit holds while the body streams in
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    streamed = client.post("/api/tag", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_concurrent_requests_share_the_models(web_service):
    app = create_app(service=web_service)
    queries = ["课后服务", "县管校聘", "校园安全", "党建引领", "教师培训"] * 4

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            searches = [c.get("/api/search", params={"q": q, "k": 5}) for q in queries]
            tags = [c.post("/api/classify", json={"texts": [SAFETY]}) for _ in range(5)]
            return await asyncio.gather(*searches, *tags)

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    with TestClient(app) as c:
        for q, r in zip(queries, responses):
            assert r.json()["hits"] == c.get("/api/search", params={"q": q, "k": 5}).json()["hits"]
    assert all(r.json()["predictions"][0]["themes"][0] == "safety" for r in responses[len(queries):])


def test_writes_need_allow_write_and_the_token(tmp_path, e5_home, web_service):
    with TestClient(create_app(service=web_service, allow_write=True, token="s3cret-token")) as c:
        assert c.delete("/api/docs/004_19f5cf095fbe0cc7").status_code == 401
        wrong = c.delete("/api/docs/004_19f5cf095fbe0cc7", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401 and "token" in wrong.json()["error"]
    home = tmp_path / "home"
    home.mkdir()
    for name in ("models", "cache"):
        (home / name).symlink_to(e5_home / name, target_is_directory=True)
    with Workspace(home) as ws:
        ws.ingest([SEED_004], progress=False)
        ws.build_index(progress=False)
    service = Service(home)
    with TestClient(create_app(service=service, allow_write=True, token="s3cret-token")) as c:
        ok = c.delete("/api/docs/004_19f5cf095fbe0cc7", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.json() == {"removed": "004_19f5cf095fbe0cc7", "paragraphs": 12}
        assert c.get("/api/stats").json()["indexed"] == 0
    service.close()


def test_serve_refuses_allow_write_without_a_token(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("POLICY_NLP_TOKEN", raising=False)
    assert main(["serve", "--home", str(tmp_path), "--allow-write"]) == 2
    assert "POLICY_NLP_TOKEN" in capsys.readouterr().err


def test_the_page_answers_without_javascript(client):
    page = client.get("/", params={"q": "课后服务", "level": "county"})
    assert page.status_code == 200 and "<mark>课后服务</mark>" in page.text
    assert "level=county&amp;level=county" not in page.text  # a facet link never repeats an active filter
    assert "县级" in page.text and "在文档中查看" in page.text
    assert '<option value="county" selected>' in page.text and page.text.count('name="level"') == 1
    themed = client.get("/", params={"q": "课后服务", "theme": "双减", "years": "2024"})
    assert '<option value="double_reduction" selected>' in themed.text and 'name="years" value="2024"' in themed.text
    hit = client.get("/api/search", params={"q": "课后服务", "level": "county", "k": 1}).json()["hits"][0]
    doc = client.get(f"/doc/{hit['doc_id']}", params={"para": hit["para_id"]})
    assert f'id="p{hit["para_id"]}" class="paragraph target"' in doc.text and doc.text.count("paragraph context") == 2
    tagged = client.post("/tag", data={"text": f"{SAFETY}\n{DOUBLE}"})
    assert tagged.status_code == 200 and 'data-theme="safety"' in tagged.text and "<mark>" in tagged.text
    empty = client.post("/tag", data={"text": " "})
    assert empty.status_code == 400 and "请粘贴" in empty.text


def test_a_home_without_an_index_is_refused_at_start_and_reported_by_healthz(tmp_path, capsys):
    assert main(["serve", "--home", str(tmp_path / "empty")]) == 1
    assert "no search index" in capsys.readouterr().err
    service = Service(tmp_path / "empty")
    with TestClient(create_app(service=service)) as c:
        service.start().exception()  # wait until loading has failed
        health = c.get("/healthz")
        assert health.status_code == 503 and "no search index" in health.json()["error"]
        search = c.get("/api/search", params={"q": "课后服务"})
        assert search.status_code == 503 and "could not load" in search.json()["error"]
    service.close()
