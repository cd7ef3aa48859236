"""adnerf-serve in a real browser: headless Chromium (Debian's chromium + chromedriver, through selenium) opens
the page, a bad upload gets a message, a short wav is uploaded, the progress shows, the video element plays
the result and the downloaded mp4 has the frames, size and sound driving gives. Skips, saying why, where no
browser is installed (.ci/run and scripts/setup_env.sh install one where apt can)."""
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import imageio.v2 as imageio
import pytest

from adnerf.media import probe
from avatar import export

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(person, tmp_path_factory):
    """adnerf-serve on a free localhost port with the tiny person (grid); yields its base URL."""
    folder = tmp_path_factory.mktemp("serve")
    avatar = folder / "person.adnerf"
    assert export.main(["--config", str(person / "TorsoNeRFTest_config.txt"), "-o", str(avatar), "--backend", "grid"]) == 0
    port = free_port()
    log = open(folder / "serve.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "adnerf-serve"), "--avatar", str(avatar),
                             "--avatar", str(avatar), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/api/avatars", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, (folder / "serve.log").read_text()[-2000:]
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no browser: install Debian's chromium and chromium-driver (apt-get install -y chromium "
                    "chromium-driver; .ci/run does it where apt is available)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements.txt)")
    from selenium.webdriver.chrome.service import Service
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_window_size(900, 1000)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(check, seconds: float, what: str):
    end = time.time() + seconds
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_upload_render_play_and_download_in_chromium(server, browser, person, tmp_path):
    from selenium.webdriver.common.by import By
    browser.get(server + "/")
    options = browser.find_elements(By.CSS_SELECTOR, "#avatar option")
    assert [o.text for o in options] == ["person", "person"]  # two avatars listed
    # a bad upload: a message on the page, and the server goes on
    text = tmp_path / "notes.wav"
    text.write_text("not a sound")
    browser.find_element(By.ID, "audio").send_keys(str(text))
    browser.find_element(By.ID, "render").click()
    message = browser.find_element(By.ID, "message")
    wait_for(lambda: "not an audio file" in message.text, 30, "the refusal message")
    assert message.get_attribute("class") == "error"
    # a short wav: progress, then the video element with the result
    browser.find_element(By.ID, "audio").send_keys(str(person / "drive" / "aud.wav"))
    browser.find_element(By.ID, "render").click()
    seen = set()

    def finished():
        seen.add(message.text)
        return "done" in message.text or message.get_attribute("class") == "error"
    wait_for(finished, 240, "the render")
    assert message.text == "done: 16 frames", message.text
    assert any("frames" in s and "/ 16" in s for s in seen), seen  # progress showed frames done / total
    video = browser.find_element(By.ID, "video")
    assert video.is_displayed()
    duration = wait_for(lambda: browser.execute_script("const v = arguments[0]; return v.readyState >= 1 && v.duration",
                                                       video), 30, "the video's metadata")
    assert abs(duration - 0.64) < 0.1
    browser.find_element(By.ID, "download").click()
    mp4 = wait_for(lambda: [p for p in browser.downloads.glob("*.mp4")], 30, "the download")[0]
    assert mp4.name.startswith("person_") and imageio.get_reader(mp4).count_frames() == 16
    assert imageio.get_reader(mp4).get_meta_data()["size"] == (24, 24)
    streams = probe(mp4)
    assert streams.has_video and streams.has_audio


def test_a_recording_from_the_microphone_is_accepted(server, browser):
    """Chromium's fake microphone (a beep) through MediaRecorder: the webm upload passes the checks."""
    from selenium.webdriver.common.by import By
    browser.get(server + "/")
    browser.find_element(By.ID, "record").click()
    state = browser.find_element(By.ID, "rec-state")
    wait_for(lambda: "recording" in state.text, 10, "the recording to start")
    time.sleep(0.6)
    browser.find_element(By.ID, "record").click()
    wait_for(lambda: "recorded" in state.text, 10, "the recording to stop")
    browser.find_element(By.ID, "render").click()
    message = browser.find_element(By.ID, "message")
    wait_for(lambda: message.text.startswith(("waiting", "loading", "computing", "rendering", "done")) or
             message.get_attribute("class") == "error", 30, "the upload's answer")
    assert message.get_attribute("class") != "error", message.text
    jobs = json.loads(urllib.request.urlopen(server + "/api/jobs/0003", timeout=5).read())
    assert jobs["state"] in ("queued", "running", "done") and 5 <= jobs["total"] <= 50
