"""1C Inference tab: pick weights, give a reference clip and its text, type text, hear it in that voice.

Thin: every decision is made by `gpt_sovits.infer` (the same pipeline the API and the CLI use). One pipeline is
shared by all browser sessions (models are large); its lock serialises syntheses.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np

from gpt_sovits.audio.io import save_wav
from gpt_sovits.infer.pipeline import ModelMissingError, TTSPipeline
from gpt_sovits.infer.request import RequestError, TTSRequest
from gpt_sovits.infer.weights import list_gpt_weights, list_sovits_weights
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.lexicon_files import available_lexicons
from gpt_sovits.ui.context import UiContext

LANGUAGES = [  # (English label, code): the inference language options of upstream
    ("Chinese", "all_zh"), ("English", "en"), ("Japanese", "all_ja"), ("Cantonese", "all_yue"), ("Korean", "all_ko"),
    ("Chinese-English mixed", "zh"), ("Japanese-English mixed", "ja"), ("Cantonese-English mixed", "yue"),
    ("Korean-English mixed", "ko"), ("Multilingual mixed", "auto"), ("Multilingual mixed (Cantonese)", "auto_yue"),
]
CUTS = [
    ("No slice", "cut0"), ("Slice once every 4 sentences", "cut1"), ("Slice per 50 characters", "cut2"),
    ("Slice by Chinese punctuation", "cut3"), ("Slice by English punctuation", "cut4"),
    ("Slice by every punctuation", "cut5"),
]
USER_ERRORS = (ModelMissingError, RequestError, TextFrontendError, ValueError)


def _weight_choices(paths) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    def label(p: Path) -> str:
        try:
            return str(p.relative_to(paths.root))
        except ValueError:
            return str(p)

    gpt = [(label(p), str(p)) for p in list_gpt_weights(paths)]
    sovits = [(label(p), str(p)) for p in list_sovits_weights(paths)]
    return gpt, sovits


def lexicon_choices(paths) -> tuple[list[tuple[str, str]], str]:
    """(label, path) of every lexicon file under the data root, after "none"; the default is the global one."""
    choices = [("(none)", "")] + [(str(p.relative_to(paths.root)), str(p)) for p in available_lexicons(paths)]
    default = str(paths.lexicon) if paths.lexicon.is_file() else ""
    return choices, default


def build(ctx: UiContext) -> None:
    t = ctx.t
    pipeline = TTSPipeline(ctx.paths)
    can_stream = shutil.which("ffmpeg") is not None  # Gradio encodes streamed audio with ffmpeg
    out_dir = Path(tempfile.mkdtemp(prefix="gsv_infer_"))
    gpt_choices, sovits_choices = _weight_choices(ctx.paths)

    with gr.Row():
        gpt = gr.Dropdown([(lab, val) for lab, val in gpt_choices], value=gpt_choices[-1][1] if gpt_choices else None,
                          label=t("GPT weights"), scale=3)
        sovits = gr.Dropdown([(lab, val) for lab, val in sovits_choices],
                             value=sovits_choices[0][1] if sovits_choices else None, label=t("SoVITS weights"),
                             scale=3)
        refresh = gr.Button(t("Refresh model lists"), scale=1)
    if not gpt_choices or not sovits_choices:
        gr.Markdown(t("No weights found: train a model (1B) or put the pretrained files in {folder} (see the status "
                      "panel).", folder=str(ctx.paths.pretrained_models)))
    with gr.Row():
        with gr.Column():
            ref = gr.Audio(type="filepath", sources=["upload", "microphone"], label=t("Reference audio (3-10 s)"))
            ref_free = gr.Checkbox(False, label=t("No reference text (timbre only; weaker imitation)"))
            ref_text = gr.Textbox(lines=2, label=t("Text of the reference audio"))
            ref_lang = gr.Dropdown([(t(lab), code) for lab, code in LANGUAGES], value="all_zh",
                                   label=t("Language of the reference audio"))
            aux = gr.File(file_count="multiple", file_types=["audio"],
                          label=t("More references for the timbre (optional; averaged)"))
        with gr.Column():
            text = gr.Textbox(lines=8, label=t("Text to synthesise"))
            text_lang = gr.Dropdown([(t(lab), code) for lab, code in LANGUAGES], value="all_zh",
                                    label=t("Language of the text"))
            cut = gr.Dropdown([(t(lab), code) for lab, code in CUTS], value="cut1", label=t("How to split the text"))
            lex_choices, lex_default = lexicon_choices(ctx.paths)
            lexicon = gr.Dropdown(lex_choices, value=lex_default,
                                  label=t("Pronunciation lexicon (edit it in 0 Labels)"))
    with gr.Accordion(t("Sampling and speech"), open=False):
        with gr.Row():
            top_k = gr.Slider(1, 100, value=15, step=1, label="top_k")
            top_p = gr.Slider(0.05, 1, value=1, step=0.05, label="top_p")
            temperature = gr.Slider(0.05, 1, value=1, step=0.05, label="temperature")
            rep = gr.Slider(0.5, 2, value=1.35, step=0.05, label=t("Repetition penalty"))
        with gr.Row():
            speed = gr.Slider(0.6, 1.65, value=1, step=0.05, label=t("Speech rate"))
            pause = gr.Slider(0.0, 1.0, value=0.3, step=0.01, label=t("Pause between sentences (s)"))
            seed = gr.Number(-1, precision=0, label=t("Seed"))
            random_seed = gr.Checkbox(True, label=t("Random seed"))
        fast_cpu = gr.Checkbox(False, visible=pipeline.device.type == "cpu",
                               label=t("Fast CPU mode (int8 GPT, bf16 decoder: about 2x faster, not bit-exact)"))
    go = gr.Button(t("Synthesise"), variant="primary")
    status = gr.Markdown()
    used_seed = gr.Textbox(label=t("Seed used"), interactive=False)
    stream_out = gr.Audio(streaming=True, autoplay=True, label=t("Live (sentence by sentence)"), visible=can_stream)
    if not can_stream:
        gr.Markdown(t("Live playback needs ffmpeg; without it the result below grows sentence by sentence."))
    result = gr.Audio(type="filepath", label=t("Result"), interactive=False)

    def on_refresh():
        g, s = _weight_choices(ctx.paths)
        return gr.update(choices=g), gr.update(choices=s), gr.update(choices=lexicon_choices(ctx.paths)[0])

    refresh.click(on_refresh, outputs=[gpt, sovits, lexicon])

    def synthesise(gpt_path, sovits_path, ref_path, ref_free_v, ref_text_v, ref_lang_v, aux_files, text_v, text_lang_v,
                   cut_v, top_k_v, top_p_v, temp_v, rep_v, speed_v, pause_v, seed_v, random_v,
                   fast_v, lexicon_v) -> Iterator[list[Any]]:
        try:
            pipeline.set_fast_cpu(bool(fast_v))
            if not gpt_path or not sovits_path:
                raise ModelMissingError(t("Choose GPT and SoVITS weights first."))
            if pipeline.gpt_path is None or str(pipeline.gpt_path) != gpt_path:
                pipeline.load_gpt(gpt_path)
            if pipeline.sovits_path is None or str(pipeline.sovits_path) != sovits_path:
                pipeline.load_sovits(sovits_path)
            if not ref_path:
                raise RequestError(t("Upload or record a reference clip (3-10 s)."))
            req = TTSRequest(
                text=text_v or "", text_lang=text_lang_v, ref_audio_path=ref_path, prompt_text=ref_text_v or "",
                prompt_lang=ref_lang_v, aux_ref_audio_paths=[f if isinstance(f, str) else f.name for f in aux_files or []],
                top_k=int(top_k_v), top_p=float(top_p_v), temperature=float(temp_v), repetition_penalty=float(rep_v),
                text_split_method=cut_v, speed_factor=float(speed_v), fragment_interval=float(pause_v),
                seed=-1 if random_v else int(seed_v), ref_free=bool(ref_free_v), lexicon=lexicon_v or None,
            )
            seed_box: list[int] = []
            pieces: list[np.ndarray] = []
            call_dir = Path(tempfile.mkdtemp(dir=out_dir))  # one folder per call: sessions never share files
            out = call_dir / "result.wav"
            for sentence in pipeline.stream(req, on_seed=seed_box.append):
                pieces.append(sentence.audio)
                path = save_wav(call_dir / f"part_{len(pieces)}.wav", np.concatenate(pieces), 32000)
                live = (32000, sentence.audio) if can_stream else None
                yield [live, gr.update() if can_stream else str(path), str(seed_box[0]),
                       t("Sentence {i} done: {text}", i=sentence.index + 1, text=sentence.text)]
            save_wav(out, np.concatenate(pieces), 32000)
            yield [None, str(out), str(seed_box[0]), t("Done: {n} sentence(s).", n=len(pieces))]
        except USER_ERRORS as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # an unexpected failure: say what, without a stack trace in the page
            raise gr.Error(t("Synthesis failed: {error}", error=f"{type(e).__name__}: {e}")) from None

    go.click(synthesise,
             inputs=[gpt, sovits, ref, ref_free, ref_text, ref_lang, aux, text, text_lang, cut, top_k, top_p,
                     temperature, rep, speed, pause, seed, random_seed, fast_cpu, lexicon],
             outputs=[stream_out, result, used_seed, status])
