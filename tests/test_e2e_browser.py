"""A real browser against ``streamlit run``: train a tiny run, find it on Compare, open the inspection
pages, and keep a screenshot of each page under ``test-artifacts/``.

Drives Debian's Chromium (``/usr/bin/chromium``) with Python Playwright; never ``playwright
install``. Without Chromium the test is skipped, except under CI (``CI=true``) where it fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_app import write_tiny_dataset

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SERVER_START_S = 60
PAGE_S = 180  # the Embeddings page fits UMAP on first use


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {proc.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout} s")


@pytest.fixture
def server(tmp_path):
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires the browser test to run")
        pytest.skip(reason)
    data = tmp_path / "data"
    write_tiny_dataset(data)
    env = dict(os.environ, MAMBAREC_RUNS=str(tmp_path / "runs"), MAMBAREC_DATA=str(data),
               MAMBAREC_CACHE=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(port, proc, SERVER_START_S)
        yield f"http://127.0.0.1:{port}", tmp_path / "runs"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def settle(page, timeout_s: float = PAGE_S) -> None:
    """Wait until the script run is over (the 'running' indicator is gone) and nothing raised."""
    running = page.locator('[data-testid="stStatusWidget"]')
    deadline = time.time() + timeout_s
    quiet = 0
    while quiet < 3:  # idle for three checks in a row: a rerun or a fragment may start right after another
        page.wait_for_timeout(400)
        quiet = quiet + 1 if not running.is_visible() else 0
        assert time.time() < deadline, f"the page was still running after {timeout_s} s"
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()


def open_page(page, title: str, heading: str) -> None:
    page.get_by_role("link", name=title).first.click()
    page.get_by_role("heading", name=heading).first.wait_for(timeout=PAGE_S * 1000)
    settle(page)


def shot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so the viewport grows to fit it first."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(1000, height + 50), 8000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def visit(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Runs of this session").wait_for(timeout=SERVER_START_S * 1000)
    settle(page)


def downloaded_text(page, button: str) -> str:
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    return Path(info.value.path()).read_text()


@pytest.mark.browser
@pytest.mark.slow
def test_train_compare_and_inspect_in_a_real_browser(server):
    from playwright.sync_api import sync_playwright

    url, runs = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            visit(page, f"{url}/?dataset=tiny&model_name=mgcn&epochs=3&batch_size=256")
            assert "epochs=3" in page.url and "model_name=mgcn" in page.url
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_text("Saved as run").wait_for(timeout=PAGE_S * 1000)
            [run_id] = [d.name for d in runs.iterdir()]
            settle(page)
            assert page.get_by_text(run_id).count() >= 1
            shot(page, "train")

            open_page(page, "Compare runs", "Compare runs")
            assert run_id in downloaded_text(page, "Every run and seed (CSV)")
            assert "mgcn · batch_size=256 · 3 ep" in downloaded_text(page, "Summary table (CSV)")
            shot(page, "compare")
            page.get_by_role("tab", name="Plots").click()
            page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=PAGE_S * 1000)
            settle(page)
            shot(page, "compare_plots")
            page.get_by_role("tab", name="Checkpoints").click()
            page.get_by_role("combobox", name="Checkpoint").wait_for(timeout=PAGE_S * 1000)
            settle(page)
            assert run_id in page.get_by_role("combobox", name="Checkpoint").input_value()
            shot(page, "compare_checkpoints")

            open_page(page, "Embeddings", "Embeddings")
            shot(page, "embeddings")
            open_page(page, "DREAM inspector", "DREAM inspector")
            shot(page, "dream_inspector")
            open_page(page, "Users", "Users")
            shot(page, "users")
            open_page(page, "About", "About MambaRec")
            shot(page, "about")
        except BaseException:
            shot(page, "failure")
            raise
        finally:
            browser.close()
