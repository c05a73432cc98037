"""1C Inference tab: pick weights, give a reference clip and its text, type text, hear it in that voice.

Thin: every decision is made by `gpt_sovits.infer` (the same pipeline the API and the CLI use). Each browser
session has its own weights and fast-CPU choice (`gpt_sovits.infer.session`): the models are shared and the choice is
applied in the same locked call that generates, so sessions never get each other's voice. Stop cancels the running
synthesis; the result file is written once per run and the previous one deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np

from gpt_sovits.audio.io import save_wav
from gpt_sovits.infer.cancel import Cancelled
from gpt_sovits.infer.pipeline import ModelMissingError, SentenceAudio
from gpt_sovits.infer.request import RequestError, TTSRequest
from gpt_sovits.infer.session import ModelChoice, Sessions, SharedModels
from gpt_sovits.infer.speakable import language_warning
from gpt_sovits.infer.references import reference_candidates
from gpt_sovits.infer.weights import list_gpt_weights, list_sovits_weights, newest_finetuned
from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.lexicon_files import available_lexicons
from gpt_sovits.train.plan import formatted_experiments
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.links import TabLinks

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


def default_weights(paths, kind: str, choices: list[tuple[str, str]], exp: str | None = None) -> str | None:
    """What a dropdown starts with: the newest finetuned weights (of `exp` if given), else the last listed file."""
    newest = newest_finetuned(paths, kind, exp)
    if newest is not None:
        return str(newest)
    return choices[-1][1] if choices and exp is None else None


def reference_choices(paths, exp: str | None) -> list[tuple[str, str]]:
    if not exp:
        return []
    try:
        return [(c.label, str(c.path)) for c in reference_candidates(paths, exp)]
    except ValueError:  # a bad experiment name
        return []


def build(ctx: UiContext, links: TabLinks | None = None) -> None:
    t = ctx.t
    models = SharedModels(ctx.paths)
    sessions = Sessions(ctx.paths.root / "TEMP" / "webui_infer")  # emptied now: left-overs of earlier runs go
    can_stream = shutil.which("ffmpeg") is not None  # Gradio encodes streamed audio with ffmpeg
    gpt_choices, sovits_choices = _weight_choices(ctx.paths)
    gpt_default = default_weights(ctx.paths, "gpt", gpt_choices)
    sovits_default = default_weights(ctx.paths, "sovits", sovits_choices)

    with gr.Row():
        gpt = gr.Dropdown([(lab, val) for lab, val in gpt_choices],
                          value=gpt_default, label=t("GPT weights"), scale=3,
                          elem_id="gsv-infer-gpt")
        sovits = gr.Dropdown([(lab, val) for lab, val in sovits_choices],
                             value=sovits_default, label=t("SoVITS weights"),
                             scale=3, elem_id="gsv-infer-sovits")
        refresh = gr.Button(t("Refresh model lists"), scale=1)
    if not gpt_choices or not sovits_choices:
        gr.Markdown(t("No weights found: train a model (1B) or put the pretrained files in {folder} (see the status "
                      "panel).", folder=str(ctx.paths.pretrained_models)))
    with gr.Row():
        with gr.Column():
            experiments = [(e.label, e.name) for e in formatted_experiments(ctx.paths)]
            with gr.Row():
                ref_exp = gr.Dropdown(experiments, value=None, label=t("Take the reference from an experiment"),
                                      scale=2)
                ref_pick = gr.Dropdown([], value=None, label=t("Clip (best references first)"), scale=3,
                                       elem_id="gsv-infer-ref-pick")
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
        fast_cpu = gr.Checkbox(False, visible=models.device_type == "cpu",
                               label=t("Fast CPU mode (int8 GPT, bf16 decoder: about 2x faster, not bit-exact)"))
    live_mode = gr.Radio([(t("Sentence by sentence"), 1), (t("Token chunks (audio sooner, medium quality)"), 2),
                          (t("Small token chunks (earliest audio)"), 3)], value=1, visible=can_stream,
                         label=t("Live playback"), elem_id="gsv-infer-live-mode")
    with gr.Row():
        go = gr.Button(t("Synthesise"), variant="primary", scale=3)
        stop = gr.Button(t("Stop"), variant="stop", scale=1)
    status = gr.Markdown()
    used_seed = gr.Textbox(label=t("Seed used"), interactive=False)
    stream_out = gr.Audio(streaming=True, autoplay=True, label=t("Live"), visible=can_stream)
    if not can_stream:
        gr.Markdown(t("Live playback needs ffmpeg; without it the result appears below when all sentences are done."))
    result = gr.Audio(type="filepath", label=t("Result"), interactive=False)

    def on_ref_exp(name):
        choices = reference_choices(ctx.paths, name)
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    def on_ref_pick(name, clip):
        for c in (reference_candidates(ctx.paths, name) if name and clip else []):
            if str(c.path) == clip:
                return str(c.path), c.text, c.lang, False
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()

    ref_exp.change(on_ref_exp, inputs=ref_exp, outputs=ref_pick)
    ref_pick.change(on_ref_pick, inputs=[ref_exp, ref_pick], outputs=[ref, ref_text, ref_lang, ref_free])

    def after_training(finished: str):
        """A training run ended: list the new weights, select that experiment's newest, offer its clips."""
        if not finished:
            return gr.skip(), gr.skip(), gr.skip()
        exp_name = finished.split("|", 1)[0]
        g, s_ = _weight_choices(ctx.paths)
        exps = [(e.label, e.name) for e in formatted_experiments(ctx.paths)]
        return (gr.update(choices=g, value=default_weights(ctx.paths, "gpt", g, exp_name) or gr.skip()),
                gr.update(choices=s_, value=default_weights(ctx.paths, "sovits", s_, exp_name) or gr.skip()),
                gr.update(choices=exps, value=exp_name if exp_name in [v for _, v in exps] else None))

    if links is not None:
        links.follow("train.finished", [gpt, sovits, ref_exp], after_training)

    def on_page_load():
        """A page (re)load lists the weights and experiments written since the WebUI started and chooses the newest.
        Nothing is sent for a list unchanged since start-up (the page already shows it): a value arriving after the
        user picked another while the page was still loading would undo their choice."""
        g, s_ = _weight_choices(ctx.paths)
        exps = [(e.label, e.name) for e in formatted_experiments(ctx.paths)]

        def listed(choices, at_start, default_at_start, kind):
            newest = default_weights(ctx.paths, kind, choices)
            if choices == at_start and newest == default_at_start:
                return gr.skip()
            return gr.update(choices=choices, value=newest)

        return (listed(g, gpt_choices, gpt_default, "gpt"), listed(s_, sovits_choices, sovits_default, "sovits"),
                gr.skip() if exps == experiments else gr.update(choices=exps))

    # no inputs: with inputs, gr.on(triggers=None) would also run on every change of them
    gr.on(triggers=None, fn=on_page_load, inputs=None, outputs=[gpt, sovits, ref_exp], show_progress="hidden")

    def on_refresh():
        g, s = _weight_choices(ctx.paths)
        return gr.update(choices=g), gr.update(choices=s), gr.update(choices=lexicon_choices(ctx.paths)[0])

    refresh.click(on_refresh, outputs=[gpt, sovits, lexicon])

    def synthesise(gpt_path, sovits_path, ref_path, ref_free_v, ref_text_v, ref_lang_v, aux_files, text_v, text_lang_v,
                   cut_v, top_k_v, top_p_v, temp_v, rep_v, speed_v, pause_v, seed_v, random_v, fast_v,
                   lexicon_v, live_mode_v,
                   request: gr.Request) -> Iterator[list[Any]]:
        session = sessions.get(request.session_hash or "anonymous")
        token = session.start()
        pieces: list[np.ndarray] = []
        sentences = 0
        seed_used = ""
        try:
            if not gpt_path or not sovits_path:
                raise ModelMissingError(t("Choose GPT and SoVITS weights first."))
            if not ref_path:
                raise RequestError(t("Upload or record a reference clip (3-10 s)."))
            req = TTSRequest(
                text=text_v or "", text_lang=text_lang_v, ref_audio_path=ref_path, prompt_text=ref_text_v or "",
                prompt_lang=ref_lang_v, aux_ref_audio_paths=[f if isinstance(f, str) else f.name for f in aux_files or []],
                top_k=int(top_k_v), top_p=float(top_p_v), temperature=float(temp_v), repetition_penalty=float(rep_v),
                text_split_method=cut_v, speed_factor=float(speed_v), fragment_interval=float(pause_v),
                seed=-1 if random_v else int(seed_v), ref_free=bool(ref_free_v), lexicon=lexicon_v or None,
                streaming_mode=int(live_mode_v or 1) if can_stream else 1,
            )
            warning = language_warning(req.text, req.text_lang)
            note = f"⚠ {warning}\n\n" if warning else ""
            if warning:
                yield [None, gr.update(), "", note]
            choice = ModelChoice(Path(gpt_path), Path(sovits_path), bool(fast_v))
            for item in models.stream(choice, req, token):
                if not isinstance(item, SentenceAudio):
                    seed_used = str(item)
                    continue
                pieces.append(item.audio)
                sentences += int(item.last)
                live = (32000, item.audio) if can_stream else None
                done = t("Sentence {i} done: {text}", i=item.index + 1, text=item.text) if item.last else \
                    t("Sentence {i}: playing while the rest is made...", i=item.index + 1)
                yield [live, gr.update(), seed_used, note + done]
            out = save_wav(session.new_result_path(), np.concatenate(pieces), 32000)  # written once per run
            done = t("Done: {n} sentence(s).", n=sentences)
            if len(pieces) > sentences:
                done += " " + t("({k} pieces played live)", k=len(pieces))
            yield [None, str(out), seed_used, note + done]
        except Cancelled:
            out = save_wav(session.new_result_path(), np.concatenate(pieces), 32000) if pieces else None
            yield [None, str(out) if out else None, seed_used,
                   t("Stopped after {n} sentence(s).", n=sentences)]
        except USER_ERRORS as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # an unexpected failure: say what, without a stack trace in the page
            raise gr.Error(t("Synthesis failed: {error}", error=f"{type(e).__name__}: {e}")) from None

    def on_stop(request: gr.Request) -> str:
        stopped = sessions.get(request.session_hash or "anonymous").stop()
        return t("Stopping...") if stopped else t("Nothing is running.")

    go.click(synthesise,
             inputs=[gpt, sovits, ref, ref_free, ref_text, ref_lang, aux, text, text_lang, cut, top_k, top_p,
                     temperature, rep, speed, pause, seed, random_seed, fast_cpu, lexicon, live_mode],
             outputs=[stream_out, result, used_seed, status])
    stop.click(on_stop, outputs=[status], concurrency_limit=None)
