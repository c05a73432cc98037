"""The GPT ("s1") text-to-semantic model: `Text2SemanticDecoder` (t2s.py), its layers and sampling."""

from gpt_sovits.models.gpt.t2s import T2SForwardOutput, T2SInferResult, Text2SemanticDecoder

__all__ = ["T2SForwardOutput", "T2SInferResult", "Text2SemanticDecoder"]
