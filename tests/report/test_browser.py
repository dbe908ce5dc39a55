"""The report of a short real run, in headless Chromium: the page loads with no console output
(errors included), every image decodes, and the numbers it shows equal summary.json. The same
run checks that `r1lab train` writes the report and prints its path, and that `--report-to
tensorboard` streams the rows of metrics.jsonl.

Chromium comes from the OS packages (`.ci/run` installs it when missing); a machine without it
fails these tests rather than skipping them. Console messages are read from Chromium's own log
(`--enable-logging=stderr --v=0` prints each as a `:CONSOLE` line); images and numbers from the
DOM after load (`--dump-dom`), where the page's load script has marked each image.
"""

import io
import json
import math
import re
import shutil
import subprocess

import pytest
from PIL import Image

from tests.helpers import r1lab

ENV_ARGS = dict(capture_output=True, text=True, timeout=300)  # Chromium
TRAIN = ["--max-steps", "3", "--prompts-per-step", "2", "--group-size", "4", "--eval-problems", "3",
         "--eval-samples", "2", "--max-new-tokens", "40", "--threads", "1", "--save-every", "3",
         "--report-to", "tensorboard"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]
MUST_SHOW = {"base_accuracy", "final_accuracy", "base_lenient_accuracy", "final_lenient_accuracy",
             "base_mean_length", "final_mean_length", "final_style_share_worked_think", "final_reflection_rate"}


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("Chromium not found: install it from the OS packages (apt-get install -y chromium; .ci/run does)")


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([browser(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args], **ENV_ARGS)


def render(page, tmp_path) -> tuple[str, list[str]]:
    """(the DOM after load, the page's console messages)."""
    res = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert res.returncode == 0 and "</html>" in res.stdout, res.stderr[-2000:]
    return res.stdout, [line for line in res.stderr.splitlines() if ":CONSOLE" in line]


def shown_value(text: str) -> tuple[float, float]:
    """The number a cell shows and half its last digit's unit: "98.4%" -> (0.984, 0.0005)."""
    m = re.fullmatch(r"([+-]?\d+(?:\.(\d+))?)(%|×)?", text.strip())
    assert m, text
    unit = 0.5 * 10 ** -len(m.group(2) or "")
    scale = 0.01 if m.group(3) == "%" else 1.0
    return float(m.group(1)) * scale, unit * scale


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("report") / "run"
    res = r1lab("train", *TRAIN, "--output-dir", run)
    assert res.returncode == 0, res.stderr[-3000:]
    return run, res.stdout


def test_the_checks_catch_console_errors_and_broken_images(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><img src=\"data:image/png;base64,AAAA\"><script>console.error('boom');"
                    "window.addEventListener('load',()=>{for(const i of document.images)"
                    "i.setAttribute('data-decoded',i.naturalWidth>0?'yes':'no');undefinedCall();});</script></body></html>")
    dom, console = render(page, tmp_path)
    assert any("boom" in line for line in console) and any("undefinedCall" in line for line in console)
    assert 'data-decoded="no"' in dom


@pytest.mark.slow
def test_train_writes_the_report_and_names_it(real_run):
    run, stdout = real_run
    assert f"report: {run / 'report.html'}" in stdout
    assert (run / "report.md").read_text().startswith("# What RL did")


@pytest.mark.slow
def test_report_of_a_real_run_in_headless_chromium(real_run, tmp_path):
    run, _ = real_run
    summary = json.loads((run / "summary.json").read_text())
    dom, console = render(run / "report.html", tmp_path)
    assert console == []
    n = len(re.findall(r"<img ", dom))
    assert n == 5 and f'data-images-decoded="{n}/{n}"' in dom
    assert dom.count('data-decoded="yes"') == n
    marked = re.findall(r'<span data-run="0" data-key="([^"]+)" data-value="([^"]*)">([^<]*)</span>', dom)
    assert MUST_SHOW <= {k for k, _, _ in marked}
    for key, raw, shown in marked:
        if summary[key] is None:
            assert (raw, shown) == ("", "n/a"), key
            continue
        assert float(raw) == summary[key], key
        value, tolerance = shown_value(shown)
        assert abs(value - summary[key]) <= tolerance + 1e-12, (key, shown, summary[key])
    (ratio,) = {float(v) for k, v in re.findall(r'data-derived="(length_ratio)" data-value="([^"]+)"', dom)}
    assert math.isclose(ratio, summary["final_mean_length"] / summary["base_mean_length"])
    shot = tmp_path / "shot.png"
    res = chromium(tmp_path, "--window-size=1000,1400", f"--screenshot={shot}", (run / "report.html").as_uri())
    assert res.returncode == 0 and Image.open(io.BytesIO(shot.read_bytes())).size == (1000, 1400), res.stderr[-2000:]


@pytest.mark.slow
def test_tensorboard_holds_every_metric_of_every_step(real_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run, _ = real_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    for row in rows:
        for key, v in row.items():
            if key == "step" or v is None or isinstance(v, bool) or not math.isfinite(v):
                continue
            assert key in tags, key
            (event,) = [e for e in events.Scalars(key) if e.step == row["step"]]
            assert event.value == pytest.approx(v, rel=1e-6, abs=1e-12), key
    assert {"accuracy", "lenient_accuracy", "reward_format", "style_share_worked_think"} <= tags
