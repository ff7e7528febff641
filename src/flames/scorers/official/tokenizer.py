"""The scorer's tokenizer: the `sentencepiece` library on tokenizer.model, with the official BOS/special rules.

transformers' Llama/Auto tokenizers do not reproduce the official one on this folder (they skip the
normalizer, add no BOS, or ask to run checkpoint code; docs/benchmark.md §4), so this module drives
SentencePiece directly. The official slow tokenizer is: BOS, then SentencePiece's encoding of the text,
except that the literal strings `<s>`, `</s>`, `<unk>` become those special ids (each stretch of text
between them encoded on its own). That last rule lets a response inject padding, so the improved mode
neutralises such strings instead (`neutralise`).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from flames.scorers.base import ScorerError

SPECIAL_LITERALS = ("<s>", "</s>", "<unk>")
"""Strings the official tokenizer turns into special ids wherever they appear in the text."""
TEMPLATE_MARKERS = ("<eoh>", "<eoa>", "<eosys>", "<|User|>", "<|Bot|>", "<|System|>")
"""InternLM chat markers: in a response they could forge the template's structure."""
WORD_JOINER = "\u2060"
"""Invisible, kept by SentencePiece's NFKC normaliser, and breaks any marker it is put inside."""
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(s) for s in SPECIAL_LITERALS) + ")")


def neutralise(text: str) -> str:
    """Break every special or marker string (also full-width look-alikes) with a word joiner.

    Texts without such strings come back unchanged, so their token ids equal the official ones.
    """
    folded = unicodedata.normalize("NFKC", text)
    markers = [m for m in (*SPECIAL_LITERALS, *TEMPLATE_MARKERS) if m in folded]
    if not markers:
        return text
    for marker in markers:
        folded = folded.replace(marker, marker[0] + WORD_JOINER + marker[1:])
    return folded


class ScorerTokenizer:
    """SentencePiece on the checkpoint's tokenizer.model, with its BOS and special ids checked."""

    def __init__(self, model_file: Path, *, bos_id: int, pad_id: int, vocab_size: int) -> None:
        import sentencepiece

        try:
            self.sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        except (OSError, RuntimeError) as err:
            raise ScorerError(f"{model_file}: not a SentencePiece model ({err})") from err
        if self.sp.bos_id() != bos_id:
            raise ScorerError(f"{model_file}: BOS id is {self.sp.bos_id()}, config.json says {bos_id}")
        if self.sp.get_piece_size() > vocab_size:
            raise ScorerError(
                f"{model_file}: {self.sp.get_piece_size()} pieces, more than config.json's vocab_size {vocab_size}"
            )
        self.bos_id = bos_id
        self.pad_id = pad_id
        self.special_ids = {"<s>": self.sp.bos_id(), "</s>": self.sp.eos_id(), "<unk>": self.sp.unk_id()}

    def encode_official(self, text: str) -> list[int]:
        """Token ids exactly as the official slow tokenizer gives them (special literals included)."""
        ids = [self.bos_id]
        for part in _SPECIAL_SPLIT.split(text):
            if part in self.special_ids:
                ids.append(self.special_ids[part])
            elif part:
                ids.extend(self.sp.encode(part))
        return ids

    def encode(self, text: str) -> list[int]:
        """BOS + SentencePiece ids, no special-string rule: the caller has neutralised untrusted text."""
        return [self.bos_id, *self.sp.encode(text)]
