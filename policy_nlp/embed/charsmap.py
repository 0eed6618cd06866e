"""Build a SentencePiece ``precompiled_charsmap`` from a per-codepoint replacement map.

The result feeds ``tokenizers.normalizers.Precompiled``. Format: u32 byte size of a darts-clone
double-array trie over the UTF-8 bytes of each source character, the trie's u32 units, then the
NUL-terminated UTF-8 replacements the trie's leaf values point to.
Unit bits: 0-7 label, 8 has-leaf, 9 offset shift (unused here), 10-30 offset; leaf units set bit 31.
"""

from __future__ import annotations

import struct
from collections import deque

_MAX_OFFSET = 1 << 21


def _trie(keys: dict[bytes, int]) -> dict:
    """Nested dict trie: byte -> child; the value of a key ending at a node is stored under None."""
    root: dict = {}
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    return root


def _double_array(root: dict) -> list[int]:
    """Lay the trie out as darts-clone units (root at 0; a node's slots are base ^ label)."""
    units: dict[int, int] = {0: 0}
    base = 0  # bases only grow, so each serves one node: a foreign slot never passes the label check
    queue = deque([(0, root)])
    while queue:
        pos, node = queue.popleft()
        labels = [0 if label is None else label for label in node]
        base += 1
        while any((base ^ label) in units for label in labels):
            base += 1
        offset = pos ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("charsmap trie too large for an unshifted darts-clone offset")
        units[pos] |= offset << 10 | (1 << 8 if None in node else 0)
        for label, child in node.items():
            if label is None:
                units[base] = 1 << 31 | child
            else:
                units[base ^ label] = label
                queue.append((base ^ label, child))
    return [units.get(i, 0) for i in range(max(units) + 1)]


def build_precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Serialise ``codepoint -> replacement`` (``""`` deletes) as a precompiled charsmap."""
    blob = bytearray()
    where: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for cp, replacement in sorted(norm_map.items()):
        if 0xD800 <= cp < 0xE000 or cp == 0:
            continue  # not encodable as UTF-8 input / the trie's terminator
        if replacement not in where:
            where[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = where[replacement]
    units = _double_array(_trie(keys))
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(blob)
