"""The audit's HTML page: self-contained, escaped, and rendered by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli
from test_verify import STORY, tell

DEMO_TODAY = "2026-10-20T00:00:00Z"
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install -y chromium; .ci/run does)",
)


def page_of(cli: Cli, tmp_path: Path, referral: str, *args: str) -> tuple[Path, dict[str, Any]]:
    page = tmp_path / f"{referral}.html"
    out = cli.json("audit", referral, "--json", "--html", str(page), *args)
    return page, out


@pytest.fixture
def demo(sqlite_cli: Cli) -> Cli:
    sqlite_cli.ok("demo", "--into-ledger")
    return sqlite_cli


def hostile_story() -> list[dict[str, Any]]:
    story = [dict(e) for e in STORY]
    story[0]["name"] = "<script>alert('name')</script> & Co"
    story[7] = {**story[7], "note": '"><img src=x onerror=alert(1)> </svg><b>'}
    return story


def test_the_page_is_self_contained_and_escapes_user_text(sqlite_cli: Cli, tmp_path: Path) -> None:
    tell(sqlite_cli, hostile_story())
    page, _ = page_of(sqlite_cli, tmp_path, "ana-acme")
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<img" not in html and "</svg><b>" not in html
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt; &amp; Co" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # nothing fetched: no scripts, links, images, fonts or imports; the only URL is SVG's
    # namespace name, which is never fetched
    for needle in ("<link", "src=", "@import", "url(", "<iframe", "<object"):
        assert needle not in html.replace("img src=x", ""), needle
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in html


def test_the_page_draws_lanes_events_obligations_and_flags(demo: Cli, tmp_path: Path) -> None:
    page, out = page_of(demo, tmp_path, "dan-globex", "--as-of", DEMO_TODAY)
    html = page.read_text(encoding="utf-8")
    for role in ("requester", "referrer", "target"):
        assert f'<g class="lane" data-role="{role}">' in html
    assert len(re.findall(r'<g class="event', html)) == len(out["events"])
    for event in out["events"]:
        assert f'data-seq="{event["seq"]}"' in html
    assert re.search(r'<g class="obligation (open|met)" data-kind="follow-up-overdue"', html)
    for flag in out["flags"]:
        assert f'<g class="flag" data-kind="{flag["kind"]}"' in html
    assert "days later" in html  # recorded after the fact


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


@needs_chromium
def test_chromium_renders_the_demo_page_with_its_lanes_and_events(
    demo: Cli, tmp_path: Path
) -> None:
    page, out = page_of(demo, tmp_path, "ana-acme", "--as-of", DEMO_TODAY)
    result = chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout.decode("utf-8")
    assert "<svg" in dom and "</svg>" in dom
    lanes = re.findall(r'<g class="lane" data-role="(\w+)"', dom)
    assert lanes[:3] == ["requester", "referrer", "target"]
    seqs = {int(s) for s in re.findall(r'<g class="event[^"]*" data-seq="(\d+)"', dom)}
    assert seqs == {e["seq"] for e in out["events"]}
    assert re.search(
        r'<g class="event retracted" data-seq="\d+" data-type="interview-scheduled"', dom
    )
    assert 'class="retracts"' in dom
    assert 'data-chain="ok"' in dom
    steps = re.findall(r'<li class="step[^"]*" data-seq="(\d+)"', dom)
    assert len(steps) == len([e for e in out["events"] if e["type"] != "event-retracted"])


@needs_chromium
def test_chromium_takes_a_screenshot_of_the_page(demo: Cli, tmp_path: Path) -> None:
    page, _ = page_of(demo, tmp_path, "dan-globex", "--as-of", DEMO_TODAY)
    shot = tmp_path / "dan-globex.png"
    result = chromium(
        f"--screenshot={shot}", "--window-size=1400,900", page.as_uri(), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 900)
    assert len(data) > 20_000  # a drawn page, not a blank one


def test_the_demo_json_and_page_agree_on_the_events(demo: Cli, tmp_path: Path) -> None:
    page, out = page_of(demo, tmp_path, "ivan-umbrella", "--as-of", DEMO_TODAY)
    html = page.read_text(encoding="utf-8")
    assert orjson.dumps(out)  # the JSON is unchanged by writing the page
    for event in out["events"]:
        assert f'data-id="{event["id"]}"' in html
