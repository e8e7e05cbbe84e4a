"""The audit's HTML page: self-contained, escaped, and rendered by a real headless Chromium."""

from __future__ import annotations

import json
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


# -- dense runs and long names ----------------------------------------------------------------

LONG_NAME = ("Maximiliana Wolfeschlegelsteinhausenbergerdorff-" * 5)[:200]
LONG_COMPANY = ("International Consolidated Widgets and Sprockets Holdings " * 4)[:200].strip()


def dense_story(cli: Cli) -> str:
    """A referral with 40 events within one hour, whose people have long names."""
    at = "2026-10-05T09:{:02d}:00Z"
    for handle, name in (("ana", LONG_NAME), ("carol", "Carol " + "Chen" * 40), ("bob", "Bob")):
        cli.record({"type": "person-added", "handle": handle, "name": name, "at": at.format(0)})
    events: list[dict[str, Any]] = [
        {"type": "referral-requested", "referral": "r1", "by": "ana", "referrer": "carol",
         "company": LONG_COMPANY, "target": "bob"},
        {"type": "request-vetted", "referral": "r1", "by": "carol", "decision": "accept",
         "knows_work": True},
        {"type": "introduction-made", "referral": "r1", "by": "carol", "to": "bob"},
    ]  # fmt: skip
    for n in range(37):
        kind = ("follow-up-sent", "thank-you-sent")[n % 2]
        to = "bob" if kind == "follow-up-sent" else "carol"
        events.append({"type": kind, "referral": "r1", "by": "ana", "to": to})
    for minute, event in enumerate(events, start=1):
        cli.record({**event, "at": at.format(minute)})
    return "r1"


# Written into the page by the page itself, in Chromium: every label's box on the screen,
# the pairs that overlap, the counted markers, and whether anything runs off the page.
PROBE = """<script>
const texts = [...document.querySelectorAll("svg text")].filter(t => t.textContent.trim());
const boxes = texts.map(t => { const r = t.getBoundingClientRect();
  return {text: t.textContent, left: r.left, top: r.top, right: r.right, bottom: r.bottom,
          lane: t.closest("g.lane") !== null}; });
const overlaps = [];
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const a = boxes[i], b = boxes[j];
  if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
    overlaps.push([a.text, b.text]);
}
const axis = Math.min(...[...document.querySelectorAll("g.lane line")].map(l => l.getBoundingClientRect().left));
const clusters = [...document.querySelectorAll("g.cluster")].map(g => ({
  count: Number(g.dataset.count), shown: (g.querySelector("text.count") || {}).textContent,
  events: document.querySelectorAll('g.event[data-run="' + g.dataset.run + '"]').length}));
const parties = [...document.querySelectorAll(".party, .party *")].filter(e => e.scrollWidth > e.clientWidth + 1).length;
const pre = document.createElement("pre"); pre.id = "probe";
pre.textContent = JSON.stringify({labels: boxes.length, overlaps, clusters, axis,
  laneRight: Math.max(...boxes.filter(b => b.lane).map(b => b.right)),
  events: document.querySelectorAll("g.event").length, parties,
  overflow: document.documentElement.scrollWidth - window.innerWidth});
document.body.appendChild(pre);
</script>"""


def probed(page: Path, tmp_path: Path) -> dict[str, Any]:
    """Run PROBE in the page (a copy that allows it: the page itself runs no script)."""
    import html as html_module

    text = page.read_text(encoding="utf-8")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    copy = tmp_path / f"probed-{page.name}"
    copy.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = chromium("--window-size=1400,900", "--dump-dom", copy.as_uri(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout.decode("utf-8"), re.DOTALL)
    assert found, result.stdout[-2000:]
    return json.loads(html_module.unescape(found.group(1)))


@needs_chromium
def test_the_probe_sees_labels_that_overprint(tmp_path: Path) -> None:
    """The check below can fail: two labels drawn on each other are found."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><svg viewBox="0 0 400 100" width="400"><g class="lane">'
        '<text x="200" y="50">introduction-made</text><text x="210" y="52">thank-you-sent</text>'
        '<line x1="100" y1="60" x2="300" y2="60"/></g></svg></body></html>',
        encoding="utf-8",
    )
    seen = probed(page, tmp_path)
    assert seen["labels"] == 2 and seen["overlaps"] == [["introduction-made", "thank-you-sent"]]
    assert seen["laneRight"] > seen["axis"]


@needs_chromium
def test_dense_events_collapse_and_labels_never_overprint(sqlite_cli: Cli, tmp_path: Path) -> None:
    referral = dense_story(sqlite_cli)
    page, out = page_of(sqlite_cli, tmp_path, referral, "--as-of", "2026-10-05T12:00:00Z")
    assert len(out["events"]) == 40
    seen = probed(page, tmp_path)
    assert seen["overlaps"] == [], seen["overlaps"]
    assert seen["labels"] >= 10  # lanes, axis, the events' and obligations' labels
    # 40 events within the hour: the dense runs are counted markers, each showing its count
    assert seen["clusters"], "no dense run was collapsed"
    for cluster in seen["clusters"]:
        assert cluster["count"] >= 2 and cluster["shown"] == str(cluster["count"])
        assert cluster["events"] == cluster["count"]  # every event is still in the page
    assert seen["events"] == 40
    assert max(c["count"] for c in seen["clusters"]) >= 10
    # the long names are cut beside the lanes and wrap in the page: nothing runs off it
    assert seen["laneRight"] <= seen["axis"]
    assert seen["overflow"] <= 0 and seen["parties"] == 0
    html = page.read_text(encoding="utf-8")
    assert re.search(r">Maximiliana Wolfeschle\w*…</text>", html)  # cut beside the lane
    assert LONG_NAME in html  # whole in the party's card, and in the lane's tooltip
    shot = tmp_path / "dense.png"
    result = chromium(
        f"--screenshot={shot}", "--window-size=1400,900", page.as_uri(), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1400, 900)
    assert len(data) > 20_000


@needs_chromium
def test_the_demo_pages_never_overprint(demo: Cli, tmp_path: Path) -> None:
    for referral in ("ana-acme", "dan-globex", "ivan-umbrella", "maya-hooli"):
        page, _ = page_of(demo, tmp_path, referral, "--as-of", DEMO_TODAY)
        seen = probed(page, tmp_path)
        assert seen["overlaps"] == [], (referral, seen["overlaps"])
        assert seen["laneRight"] <= seen["axis"], referral
