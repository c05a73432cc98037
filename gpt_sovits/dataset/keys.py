"""The manifest key of each (line, step): a hash of every input the step's outputs depend on.

text     = frontend version + symbol version + language + text (+ BERT files and precision for zh lines)
           (+ the user-lexicon entries that may apply to the line, when there are any)
hubert   = audio file bytes + HuBERT files + precision
semantic = the line's hubert key + pretrained SoVITS G file + precision
sv       = the line's hubert key (its 5-wav32k audio) + SV model file + precision (v2Pro/v2ProPlus only)
A key is None when it cannot be known now (model or audio file missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gpt_sovits.dataset.hashing import FileHashCache, sha256_json
from gpt_sovits.dataset.items import FormatItem
from gpt_sovits.dataset.steps import training_text
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.lexicon import UserLexicon
from gpt_sovits.text.lexicon_files import needs_normalised_text, relevant_entries

# Bump when a change in our code changes what a step writes, so existing outputs are recomputed.
FORMAT_REVISION = 1


@dataclass
class KeyMaker:
    hashes: FileHashCache
    bert_dir: Path
    hubert_dir: Path
    sovits_g: Path
    half: bool
    version: str
    sv_model: Path | None = None
    lexicon: UserLexicon | None = None
    _models: dict[str, str | None] = field(default_factory=dict)
    _audio: dict[Path, str | None] = field(default_factory=dict)

    def model_hash(self, path: Path) -> str | None:
        key = str(path)
        if key not in self._models:
            try:
                self._models[key] = self.hashes.model(path)
            except (FileNotFoundError, NotADirectoryError):
                self._models[key] = None
        return self._models[key]

    def audio_hash(self, path: Path) -> str | None:
        if path not in self._audio:
            try:
                self._audio[path] = self.hashes.file(path)
            except OSError:
                self._audio[path] = None
        return self._audio[path]

    def text(self, item: FormatItem) -> str | None:
        bert = None
        if item.lang == "zh":
            bert = self.model_hash(self.bert_dir)
            if bert is None:
                return None
        parts = ["text", FORMAT_REVISION, self.version, item.lang, item.text, bert, self.half if bert else None]
        entries = self.lexicon_entries(item)
        if entries:  # keys of lines no lexicon word touches stay as they were before lexicons existed
            parts.append(entries)
        return sha256_json(parts)

    def lexicon_entries(self, item: FormatItem) -> list:
        """The lexicon entries whose word occurs in the line's text or its normalised form."""
        if item.lang is None or not needs_normalised_text(self.lexicon, item.lang):
            return []
        from gpt_sovits.text.cleaner import normalize_text

        texts = [item.text, training_text(item.text)]
        try:
            texts.append(normalize_text(texts[1], item.lang, self.version))
        except TextFrontendError:
            pass  # the text step will report this line; the raw text still decides which entries matter
        return relevant_entries(self.lexicon, item.lang, texts)

    def hubert(self, item: FormatItem) -> str | None:
        audio = self.audio_hash(item.audio_path)
        model = self.model_hash(self.hubert_dir)
        if audio is None or model is None:
            return None
        return sha256_json(["hubert", FORMAT_REVISION, audio, model, self.half])

    def sv(self, hubert_key: str | None) -> str | None:
        model = self.model_hash(self.sv_model) if self.sv_model is not None else None
        if hubert_key is None or model is None:
            return None
        return sha256_json(["sv", FORMAT_REVISION, hubert_key, model, self.half])

    def semantic(self, hubert_key: str | None) -> str | None:
        model = self.model_hash(self.sovits_g)
        if hubert_key is None or model is None:
            return None
        return sha256_json(["semantic", FORMAT_REVISION, hubert_key, model, self.half])
