"""The compute thread (gpt_sovits/infer/compute.py): model work from any thread runs on one thread, in order, with
the caller's torch thread count; streams relay what the work emits, errors and closing included."""

from __future__ import annotations

import threading

import pytest
import torch

from gpt_sovits.infer.cancel import Cancelled
from gpt_sovits.infer.compute import ComputeThread
from gpt_sovits.infer.request import TTSRequest
from infer_helpers import REF_TEXT


def test_call_runs_on_one_thread_with_the_callers_torch_threads():
    compute = ComputeThread(name="test-compute")
    seen: list[tuple[int, int]] = []

    def work(x):
        seen.append((threading.get_ident(), torch.get_num_threads()))
        return x * 2

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert compute.call(work, 3) == 6
        torch.set_num_threads(1)
        other = threading.Thread(target=lambda: seen.append(("other", compute.call(work, 4))))
        other.start()
        other.join()
    finally:
        torch.set_num_threads(before)
    assert seen[0][0] == seen[1][0] != threading.get_ident()  # the same thread both times, not the caller
    assert seen[0][1] == 2 and seen[1][1] == 1  # each call with its caller's count
    assert seen[2] == ("other", 8)

    with pytest.raises(ZeroDivisionError):
        compute.call(lambda: 1 / 0)
    assert compute.call(lambda: "still alive") == "still alive"


def test_produce_relays_items_then_the_error():
    compute = ComputeThread(name="test-compute")

    def body(emit, gone):
        emit(1)
        emit(2)
        raise ValueError("bad input")

    stream = compute.produce(body)
    assert next(stream) == 1 and next(stream) == 2
    with pytest.raises(ValueError, match="bad input"):
        next(stream)


def test_closing_a_stream_stops_the_work_and_waits_for_it():
    compute = ComputeThread(name="test-compute")
    state = {"emitted": 0, "finished": False}
    started = threading.Event()

    def body(emit, gone):
        try:
            while True:  # would run forever without the reader's close
                started.set()
                gone.check()
                emit(state["emitted"])
                state["emitted"] += 1
                gone.wait(0.001)
        finally:
            state["finished"] = True

    stream = compute.produce(body)
    assert next(stream) == 0
    stream.close()
    assert state["finished"]  # close() returned after the body did
    with pytest.raises(Cancelled):
        compute.call(lambda: body(lambda item: None, _cancelled_token()))


def _cancelled_token():
    from gpt_sovits.infer.cancel import CancelToken

    token = CancelToken()
    token.cancel("test")
    return token


def test_work_submitted_from_the_compute_thread_runs_inline():
    compute = ComputeThread(name="test-compute")

    def outer():
        inner_thread = compute.call(threading.get_ident)  # would deadlock if it waited in the queue
        items = list(compute.produce(lambda emit, gone: [emit(i) for i in range(3)]))
        return inner_thread, threading.get_ident(), items

    inner, outer_thread, items = compute.call(outer)
    assert inner == outer_thread and items == [0, 1, 2]


def test_requests_from_any_thread_run_the_models_on_the_pipelines_compute_thread(pipeline, ref_wav):
    """Why it matters: each thread that runs a parallel region keeps an OpenMP team, and a second team slows every
    operator on a small machine (compute.py). Requests made from the test's thread and from two other threads must
    all run the SoVITS decoder on one thread, none of theirs."""
    seen: set[int] = set()
    handle = pipeline.sovits.model.dec.register_forward_pre_hook(lambda module, args: seen.add(threading.get_ident()))
    req = TTSRequest(text="你好。", text_lang="zh", ref_audio_path=str(ref_wav), prompt_text=REF_TEXT,
                     prompt_lang="zh", seed=3)
    callers = {threading.get_ident()}
    results = []
    try:
        results.append(pipeline.synthesize(req).audio)
        both_alive = threading.Barrier(2)  # so that the two workers' idents differ (an ident is reused after exit)

        def worker() -> None:
            callers.add(threading.get_ident())
            both_alive.wait()
            results.append(pipeline.synthesize(req).audio)  # two requests at once: they queue on the one thread

        workers = [threading.Thread(target=worker) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        handle.remove()
    assert len(results) == 3 and all(r.tobytes() == results[0].tobytes() for r in results)
    assert len(callers) == 3 and len(seen) == 1 and not (seen & callers)


def test_submitted_work_runs_in_the_background_and_a_failure_is_only_logged(caplog):
    compute = ComputeThread(name="test-compute")
    gate = threading.Event()
    done: list[str] = []
    compute.submit(gate.wait)  # holds the thread until the test opens the gate: submit must not wait for it
    compute.submit(lambda: 1 / 0)
    compute.submit(done.append, "after the failure")
    assert done == []
    gate.set()
    with caplog.at_level("WARNING"):
        assert compute.call(lambda: "barrier") == "barrier"  # runs after everything submitted before it
    assert done == ["after the failure"]
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_preload_encoders_loads_hubert_and_bert_before_the_first_request(root):
    """A server calls `preload_encoders` at start: the encoders load on the compute thread in the background."""
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.paths import ProjectPaths

    paths = ProjectPaths(root)
    pipe = TTSPipeline(paths, device="cpu")
    pipe.load_sovits(paths.pretrained_sovits_g("v2"))
    assert pipe.encoders_loaded() == {"hubert": False, "bert": False, "sv": False}
    pipe.preload_encoders()
    pipe.compute.call(lambda: None)  # work queued after the preload runs after it
    assert pipe.encoders_loaded() == {"hubert": True, "bert": True, "sv": False}  # v2 weights need no SV model


def test_preload_with_a_missing_encoder_only_logs(tmp_path, caplog):
    from gpt_sovits.infer.pipeline import TTSPipeline
    from gpt_sovits.paths import ProjectPaths

    pipe = TTSPipeline(ProjectPaths(tmp_path), device="cpu")  # an empty project: no pretrained models at all
    with caplog.at_level("INFO", logger="gpt_sovits.infer.pipeline"):
        pipe.preload_encoders()
        pipe.compute.call(lambda: None)
    assert pipe.encoders_loaded() == {"hubert": False, "bert": False, "sv": False}
    assert any("not preloaded" in r.getMessage() and "HuBERT" in r.getMessage() for r in caplog.records)
