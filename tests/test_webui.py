"""The WebUI shell: builds, shows pretrained status, launches safely (loopback by default, auth when exposed)."""

from __future__ import annotations

import http.cookiejar
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from gpt_sovits.devices import DeviceInfo, GpuInfo, classify_gpu, describe
from gpt_sovits.paths import ProjectPaths
from gpt_sovits.pretrained import pretrained_status
from gpt_sovits.ui.context import UiContext
from gpt_sovits.ui.i18n import Translator, load_catalogue

PROJECT = Path(__file__).resolve().parent.parent
WEBUI = PROJECT / "webui.py"
TAB_LABELS = ["0 Slice", "0 ASR", "0 Labels", "1A Format", "1B Train", "1C Inference"]
REQUIRED = ["chinese-hubert-base", "chinese-roberta-wwm-ext-large", "SoVITS G v2", "SoVITS D v2", "GPT v2"]


def populate_pretrained(root: Path) -> None:
    """Files with upstream's names and plausible contents (the status check reads contents, not just names)."""
    paths = ProjectPaths(root)
    for folder, extra in ((paths.hubert_dir(), "preprocessor_config.json"), (paths.bert_dir(), "tokenizer.json")):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
        (folder / extra).write_text("{}")
    for f in (paths.pretrained_sovits_g("v2"), paths.pretrained_sovits_d("v2"), paths.pretrained_gpt("v2")):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"PK\x03\x04 not really a checkpoint but not empty")
    whisper = paths.whisper_dirs("tiny")[0]
    whisper.mkdir(parents=True)
    (whisper / "model.bin").write_bytes(b"\x00" * 16)
    (whisper / "config.json").write_text("{}")


def by_name(items):
    return {i.name: i for i in items}


def test_pretrained_status_empty_root(tmp_path):
    items = by_name(pretrained_status(ProjectPaths(tmp_path)))
    for name in REQUIRED:
        assert items[name].required and not items[name].present and items[name].problem == "missing"
    assert items["SoVITS G v2"].path == tmp_path / "pretrained_models/gsv-v2final-pretrained/s2G2333k.pth"
    assert not items["GPT v1"].required and not items["GPT v1"].present
    assert not items["faster-whisper (any size)"].present


def test_pretrained_status_populated_root(tmp_path):
    populate_pretrained(tmp_path)
    items = by_name(pretrained_status(ProjectPaths(tmp_path)))
    for name in REQUIRED:
        assert items[name].present, items[name]
    assert items["faster-whisper-tiny"].present
    assert not items["SoVITS G v1"].present  # not provided


def test_pretrained_status_checks_contents(tmp_path):
    populate_pretrained(tmp_path)
    paths = ProjectPaths(tmp_path)
    (paths.bert_dir() / "model.safetensors").unlink()  # config but no weights
    paths.pretrained_gpt("v2").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n")
    paths.pretrained_sovits_d("v2").write_bytes(b"")
    (paths.whisper_dirs("tiny")[0] / "model.bin").unlink()
    items = by_name(pretrained_status(paths))
    assert not items["chinese-roberta-wwm-ext-large"].present
    assert "model.safetensors" in items["chinese-roberta-wwm-ext-large"].problem
    assert not items["GPT v2"].present and "LFS" in items["GPT v2"].problem
    assert not items["SoVITS D v2"].present and items["SoVITS D v2"].problem == "empty file"
    assert not items["faster-whisper-tiny"].present
    assert items["chinese-hubert-base"].present and items["SoVITS G v2"].present


def test_status_table_marks_present_and_missing(tmp_path):
    from gpt_sovits.ui.app import pretrained_table_md

    empty = UiContext.create(str(tmp_path / "empty"))
    table = pretrained_table_md(pretrained_status(empty.paths), empty)
    assert "5 required pretrained file(s) missing" in table
    row = next(line for line in table.splitlines() if "SoVITS G v2" in line)
    assert "❌" in row and "`pretrained_models/gsv-v2final-pretrained/s2G2333k.pth`" in row

    populate_pretrained(tmp_path / "full")
    full = UiContext.create(str(tmp_path / "full"))
    table = pretrained_table_md(pretrained_status(full.paths), full)
    assert "All required pretrained files are present." in table
    for name in REQUIRED:
        row = next(line for line in table.splitlines() if f"| {name} |" in line)
        assert "✅" in row


def test_device_rules():
    assert classify_gpu("NVIDIA GeForce RTX 4090", 24 * 2**30, 8, 9)[2:] == (True, True)
    assert classify_gpu("NVIDIA GeForce GTX 1080", 8 * 2**30, 6, 1)[2:] == (True, False)
    assert classify_gpu("NVIDIA GeForce GTX 1660 SUPER", 6 * 2**30, 7, 5)[2:] == (True, False)
    assert classify_gpu("NVIDIA GeForce GT 730", 2 * 2**30, 3, 5)[2:] == (False, False)
    assert classify_gpu("Tiny", 3 * 2**30, 8, 6)[2:] == (False, False)
    info = DeviceInfo(gpus=[GpuInfo(0, "A", 8.4, 7.5, True, True), GpuInfo(1, "B", 24.4, 8.6, True, True)])
    assert info.infer_device == "cuda:1" and info.is_half
    cpu = DeviceInfo(cpu_count=2, ram_gb=16)
    assert cpu.infer_device == "cpu" and not cpu.is_half
    assert any("CPU" in line for line in describe(cpu))


def test_i18n_catalogue_merge_and_fallback(tmp_path):
    (tmp_path / "a.json").write_text('{"Start": "开始", "Stop": "停"}', encoding="utf-8")
    (tmp_path / "b.json").write_text('{"Stop": "停止"}', encoding="utf-8")
    assert load_catalogue(tmp_path) == {"Start": "开始", "Stop": "停止"}
    zh = Translator("zh_CN")
    assert zh("1C Inference") == "1C 推理"
    assert zh("A string nobody translated") == "A string nobody translated"
    assert Translator("en")("1C Inference") == "1C Inference"
    with pytest.raises(ValueError):
        Translator("xx")


def _tab_labels(app) -> list[str]:
    import gradio as gr

    return [b.label for b in app.blocks.values() if isinstance(b, gr.Tab)]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_build_app_builds(tmp_path, lang):
    from gpt_sovits.ui.app import build_app

    ctx = UiContext.create(str(tmp_path), lang=lang)
    app = build_app(ctx, strict=True, devices=DeviceInfo(cpu_count=2, ram_gb=8.0))
    labels = _tab_labels(app)
    for label in TAB_LABELS:
        assert ctx.t(label) in labels


def test_job_panel_view_follows_the_job_folder(tmp_path):
    from gpt_sovits.ui.job_panel import JobRequest, start_job, view_job

    ctx = UiContext.create(str(tmp_path))
    code = "from gpt_sovits.progress import Progress\nwith Progress(2, 'fmt') as p:\n p.update(1)\n p.update(1)"
    job_id, error = start_job(ctx, "format", lambda exp: JobRequest(exp=exp, argv=[sys.executable, "-c", code]),
                              ["实验"])
    assert error == "" and job_id
    ctx.jobs.wait(job_id, timeout=30)
    fresh = UiContext.create(str(tmp_path))  # as after a page reload / restart: nothing but the folder
    view = view_job(fresh, "format", "", "实验")
    assert view.job_id == job_id and not view.running and view.result == f"{job_id}:succeeded"
    assert "Succeeded" in view.status_md and "2 / 2" in view.progress_html
    assert view_job(fresh, "format", "", "other").job_id == ""

    _, error = start_job(ctx, "format", lambda exp: JobRequest(exp=exp, argv=["x"]), ["../bad"])
    assert "may not contain" in error


# ---- the launcher, as a real process ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT), "GRADIO_ANALYTICS_ENABLED": "False", "no_proxy": "*",
            "NO_PROXY": "*"}


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, opener=_OPENER) -> tuple[int, str]:
    try:
        with opener.open(url, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def start_webui(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with open(tmp_path / f"webui-{port}.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, str(WEBUI), "--root", str(tmp_path / "root"), "--port", str(port),
                                 *args], stdout=log, stderr=subprocess.STDOUT, env=child_env(), cwd=PROJECT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / f"webui-{port}.log").read_text())
        try:
            http_get(f"http://127.0.0.1:{port}/")
            return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("the WebUI did not answer within 120 s")


def stop_webui(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_webui_serves_on_loopback_and_reports_a_taken_port(tmp_path):
    proc, port = start_webui(tmp_path)
    try:
        status, _ = http_get(f"http://127.0.0.1:{port}/")
        assert status == 200
        status, config = http_get(f"http://127.0.0.1:{port}/config")
        assert status == 200 and "1C Inference" in config
        second = subprocess.run([sys.executable, str(WEBUI), "--root", str(tmp_path / "root"), "--port", str(port)],
                                check=False, capture_output=True, text=True, timeout=60, env=child_env(), cwd=PROJECT)
        assert second.returncode != 0
        assert f"Port {port} on 127.0.0.1 is already in use" in second.stderr
    finally:
        stop_webui(proc)


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], ["--share"], ["--host", "192.168.1.5"]])
def test_exposed_without_auth_is_refused(tmp_path, args):
    out = subprocess.run([sys.executable, str(WEBUI), "--root", str(tmp_path), "--port", str(free_port()), *args],
                         check=False, capture_output=True, text=True, timeout=60, env=child_env(), cwd=PROJECT)
    assert out.returncode != 0
    assert "Refusing to start" in out.stderr and "--auth USER:PASS" in out.stderr


@pytest.mark.slow
def test_exposed_with_auth_requires_login(tmp_path):
    proc, port = start_webui(tmp_path, "--host", "0.0.0.0", "--auth", "alice:s3cret-pw")
    try:
        base = f"http://127.0.0.1:{port}"
        status, body = http_get(f"{base}/")
        assert "1C Inference" not in body  # only the login page shell
        status, config = http_get(f"{base}/config")
        assert status == 401 and "1C Inference" not in config
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
        bad = urllib.parse.urlencode({"username": "alice", "password": "wrong"}).encode()
        with pytest.raises(urllib.error.HTTPError):
            opener.open(f"{base}/login", data=bad, timeout=10)
        good = urllib.parse.urlencode({"username": "alice", "password": "s3cret-pw"}).encode()
        with opener.open(f"{base}/login", data=good, timeout=10) as r:
            assert r.status == 200
        status, config = http_get(f"{base}/config", opener)
        assert status == 200 and "1C Inference" in config
    finally:
        stop_webui(proc)


# ---- the job panel in a real browser ---------------------------------------------------------------------------

def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.browser
def test_job_panel_in_browser_survives_reload_and_stops(tmp_path):
    import playwright.sync_api as sync_api

    if _chromium() is None:
        pytest.fail("chromium is not installed (apt install chromium; tools/run_tests.sh does it as root)")
    import gradio as gr

    from gpt_sovits.ui.job_panel import JobRequest, job_panel

    ctx = UiContext.create(str(tmp_path))
    go = tmp_path / "go"
    code = (f"import os, time\nfrom gpt_sovits.progress import Progress\nwith Progress(10, 'demo') as p:\n"
            f" p.update(3, loss={{'mel': 3.0}})\n while not os.path.exists({str(go)!r}): time.sleep(0.05)\n"
            f" time.sleep(120)\n")
    with gr.Blocks(analytics_enabled=False) as demo:
        exp = gr.Textbox(value="浏览器", label="Experiment")
        job_panel(ctx, "demo", [exp], lambda e: JobRequest(exp=e, argv=[sys.executable, "-c", code]),
                  exp_input=exp, loss_plot=True)
    port = free_port()
    demo.queue().launch(server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("button", name="Start").click()
            page.get_by_text("3 / 10 (30%)").wait_for(timeout=30_000)
            assert page.get_by_text("Running since").is_visible()
            page.reload()  # a new page session: the panel finds the job from its folder
            page.get_by_text("3 / 10 (30%)").wait_for(timeout=30_000)
            assert page.get_by_role("button", name="Start").is_disabled()
            assert page.locator("svg.gsv-loss-plot").count() == 1
            page.get_by_role("button", name="Stop").click()
            page.get_by_text("Stopped: job").wait_for(timeout=30_000)
            assert page.get_by_role("button", name="Start").is_enabled()
            browser.close()
    finally:
        go.touch()
        demo.close()
    job = ctx.jobs.latest("demo", "浏览器")
    assert job is not None and job.status == "stopped"
