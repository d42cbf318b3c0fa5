"""The HTML report, opened in a real headless browser (Debian's chromium): charts drawn as
inline SVG, tables matching the history, nothing loaded from outside."""
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser

import pytest

from host_tools.history_db import History
from host_tools.link_client import parse_records
from host_tools.mpcompat import firmware_module
from host_tools.report_cmd import ADVICE, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Clock:
    t = 0

    def __call__(self):
        return self.t


def month_history(tmp_path, days=10):
    """A history filled the real way: store.py records, parsed as a sync parses them."""
    store = firmware_module("store")
    clk = Clock()
    st = store.Store(str(tmp_path / "flash"), clk, save_every_s=3600)
    now = time.time()
    st.set_time(int(now) - days * 86400, 0)
    for i in range(days * 288):
        if (i % 288) in range(90, 250) and i % 3:
            st.add_steps(50 + i % 30, 30 if (i % 288) in range(140, 146) else 0, i % 2)
        if i % 288 == 146:
            st.event({"type": "retro_session", "steps": 180, "backward": 180, "unknown": 0,
                      "forward": 0, "dur_ms": 110000, "cadence": 98, "unknown_pm": 0, "long": 0})
        if i % 288 == 200 and i // 288 == 3:
            st.event({"type": "fall", "kind": "stumble", "activity": "walk_backward",
                      "peak_mg": 2900, "tilt_deg": 0})
        clk.t += 300
        st.poll()
    st.cut()
    buf = bytearray(4096)
    recs = []
    n = 0
    while True:
        c, used = st.read_since(n, buf)
        if not c:
            break
        recs += parse_records(bytes(buf[:used]))
        n = recs[-1].seq
    h = History(tmp_path / "h.db")
    h.store_batch("dev-a", st.sid, {"board": "sim"}, [list(b) for b in st.boots()], recs, now,
                  {"retro_goal": 100})
    return h, st


class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def browser_dom(path, tmp_path):
    if not CHROMIUM:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chr'}",
                        "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    d = Dom()
    d.feed(r.stdout)
    return d, r.stdout


def test_report_in_a_real_browser(tmp_path):
    h, st = month_history(tmp_path)
    try:
        out = write_report(h, tmp_path / "report.html", days=30)
        rows = h.days()
    finally:
        h.close()
    html = out.read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html), "external resource"
    dom, text = browser_dom(out, tmp_path)
    charts = [a for t, a in dom.tags if t == "svg" and "chart" in a.get("class", "")]
    assert len(charts) >= 3
    bars = [a for t, a in dom.tags if t == "rect" and a.get("class") == "bar"]
    assert len(bars) >= 2 * len(rows)            # forward and unknown bars each day at least
    goals = [a for t, a in dom.tags if t == "line" and a.get("class") == "goal"]
    assert goals and all(a["y1"] == goals[0]["y1"] for a in goals)   # goal 100 every day
    body = re.sub(r"\s+", " ", " ".join(dom.text))
    assert ADVICE in body
    total = sum(d["total"] for d in rows)
    assert f"{total} steps" in body and total == sum(st.totals())
    day_rows = text.split('id="days"')[1].split("</table>")[0].count("<tr>") - 1
    assert day_rows == len(rows)
    assert "stumble while walking backward, peak 2.9 g" in body
    assert text.count("<tr>", text.index('id="sessions"')) >= len(rows)
    assert [d for d in rows if d["goal_reached"]]


def test_empty_history_report(tmp_path):
    with History(tmp_path / "h.db") as h:
        out = write_report(h, tmp_path / "r.html")
    dom, _ = browser_dom(out, tmp_path)
    assert "No steps in the history yet" in " ".join(dom.text)
