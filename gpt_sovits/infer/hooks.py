"""Optional injections into one synthesis run, so a run of upstream's WebUI can be replayed and inspected exactly.

Upstream draws the SoVITS prior noise from the global RNG and splits languages with a package that cannot run
offline; a recorded run therefore carries those draws and segments, and the pipeline takes them here. Without hooks
(the default) nothing changes: noise comes from the request's seed and our own language splitter is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from gpt_sovits.text.phones import Segmenter

# (name, value): intermediates as the pipeline computes them. Names: "hubert_in" [1, T16], "hubert_out"
# [1, 768, frames], "prompt_semantic" [Tp], "refer<i>" [1, 1025, T], "gpb" (one get_phones_and_bert call: a dict of
# text, language, phones, norm_text, bert), and per sentence j "s<j>.text", "s<j>.idx" (upstream's second
# `infer_panel` result), "s<j>.all_phoneme_ids" [1, N],
# "s<j>.bert" [1, 1024, N], "s<j>.gpt_y" [1, Tp + n], "s<j>.pred_semantic" [1, 1, n], "s<j>.phones2" [1, N2],
# "s<j>.decoded" [1, 1, samples] (before the clipping guard).
Observer = Callable[[str, Any], None]


@dataclass(frozen=True)
class RunHooks:
    """What a replay injects: decode noise per sentence, a language segmenter, the GPT's early-stop budget, and an
    observer of intermediates. Observing bypasses the reference caches so every intermediate is reported."""

    decode_noise: Sequence[torch.Tensor] | None = None  # sentence j's prior noise, shaped like the prior mean
    segmenter: Segmenter | None = None
    early_stop_num: int | None = None  # upstream's hz * max_sec; None: 50 * the GPT config's max_sec
    observe: Observer | None = None

    def emit(self, name: str, value: Any) -> None:
        if self.observe is not None:
            self.observe(name, value)

    def noise_for(self, sentence: int) -> torch.Tensor | None:
        if self.decode_noise is None:
            return None
        if sentence >= len(self.decode_noise):
            raise ValueError(f"decode noise given for {len(self.decode_noise)} sentences; sentence {sentence} has none")
        return self.decode_noise[sentence]
