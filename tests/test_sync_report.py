"""The HTML report, opened in a real headless browser (Debian's chromium): charts drawn as
inline SVG, tables matching the history, nothing loaded from outside. The history's views
(days, weeks, goals, sessions, events, approximate times) are checked on both back ends:
an SQLite file and a PostgreSQL database."""
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
        if i % 288 == 143 and i // 288 in (2, 5):
            st.event({"type": "retro_goal", "goal": 100, "backward": 100})
        if i % 288 == 145 and i // 288 == 5:
            st.event({"type": "retro_long", "by": "steps", "steps": 500, "dur_ms": 301000,
                      "limit_ms": 300000, "limit_steps": 500})
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


class Tables(HTMLParser):
    """The cell texts of each <table id=...>, row by row."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.cur = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.cur = self.tables.setdefault(a.get("id", ""), [])
        elif tag == "tr" and self.cur is not None:
            self.cur.append([])
        elif tag in ("td", "th") and self.cur is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.cur[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.cur = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table(html_text, tid):
    p = Tables()
    p.feed(html_text)
    return p.tables[tid]


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
    # one session a day: the sessions table holds exactly those rows (not the events')
    sessions = table(text, "sessions")
    assert len(sessions) - 1 == sum(d["sessions"] for d in rows) == 10
    assert all(r[2] == "1 min 50 s" and r[3] == "180" and r[5] == "98/min" for r in sessions[1:])
    # the long-session cue and the goal records: in the days table and in the events table
    days_t = table(text, "days")
    col = days_t[0].index("long-session cues")
    assert sorted(int(r[col]) for r in days_t[1:]) == [0] * (len(rows) - 1) + [1]
    (long_day,) = [d for d in rows if d["long_cues"]]
    assert [r[col] for r in days_t[1:] if r[0] == long_day["date"]] == ["1"]
    events = table(text, "events")[1:]
    kinds = [r[2] for r in events]
    assert kinds.count("long retro session") == 1 and kinds.count("retro goal reached") == 2
    assert kinds.count("stumble") == 1 and len(events) == 4       # boots are not shown
    assert "301 s, 500 steps: time for a break" in body
    assert "100 backward steps (goal 100)" in body
    assert [d for d in rows if d["goal_reached"]]
    # these records were placed by a clock the host set: no time is marked approximate
    assert "~" not in "".join(r[0] for r in events + sessions[1:])


def test_empty_history_report(tmp_path):
    with History(tmp_path / "h.db") as h:
        out = write_report(h, tmp_path / "r.html")
    dom, _ = browser_dom(out, tmp_path)
    assert "No steps in the history yet" in " ".join(dom.text)


# ---- a small history with known numbers, over two weeks ------------------------------------
import datetime as dt
import json

from host_tools import history_cmd
from host_tools.history_db import weeks
from host_tools.link_client import Record
from host_tools.report_cmd import render

SESSION = {"type": "retro_session", "steps": 130, "backward": 120, "unknown": 6, "forward": 4,
           "dur_ms": 95000, "cadence": 82, "unknown_pm": 46, "long": 0}
LONG = {"type": "retro_long", "by": "time", "steps": 420, "dur_ms": 300000,
        "limit_ms": 300000, "limit_steps": 500}
STUMBLE = {"type": "fall", "kind": "stumble", "activity": "walk_backward", "peak_mg": 2500,
           "tilt_deg": 0}
FALL = {"type": "fall", "kind": "fall", "activity": "walk_forward", "peak_mg": 4100,
        "tilt_deg": 80}


def monday_two_weeks_ago():
    today = dt.date.today()
    return today - dt.timedelta(days=today.weekday() + 14)


def at(day: dt.date, hour: int, minute: int = 0) -> float:
    return dt.datetime.combine(day, dt.time(hour, minute)).timestamp()


def put(h, uid, items, now, settings, sid="s1", boot=1, offset=0, estimated=False,
        seq0=None):
    """Stores [(time, (fwd, bwd, unk)) or (time, event dict)] as one synced batch of one boot
    whose uptime 0 is at `offset` (None: a boot the host could not place)."""
    seq = seq0 if seq0 is not None else h.last_seq("dev" if uid is None else uid, sid) + 1
    recs = []
    for t, what in items:
        up = int(t - (offset or 0))
        if isinstance(what, dict):
            recs.append(Record(seq, boot, 2, up, data=what))
        else:
            recs.append(Record(seq, boot, 1, up, *what, dur=300))
        seq += 1
    boots = [(boot, offset, None, estimated)]
    return h.store_batch(uid, sid, {"board": "sim"}, boots, recs, now, settings)


def two_weeks(db):
    """Week 1: Monday, Wednesday, Sunday; week 2: Monday, Tuesday (a device with goal 100),
    in a new history at `db` (a file or a PostgreSQL URL)."""
    m = monday_two_weeks_ago()
    d = [m, m + dt.timedelta(days=2), m + dt.timedelta(days=6), m + dt.timedelta(days=7),
         m + dt.timedelta(days=8)]
    items = [
        (at(d[0], 9), (500, 0, 10)), (at(d[0], 10), (0, 120, 6)), (at(d[0], 10), SESSION),
        (at(d[0], 10, 5), {"type": "retro_goal", "goal": 100, "backward": 100}),
        (at(d[1], 9), (300, 40, 0)), (at(d[1], 11), STUMBLE),
        (at(d[2], 8), (1000, 0, 0)), (at(d[2], 9), (0, 450, 20)), (at(d[2], 9), SESSION),
        (at(d[2], 9, 5), LONG), (at(d[2], 9, 6), LONG), (at(d[2], 10), SESSION),
        (at(d[3], 9), (200, 90, 3)), (at(d[3], 12), FALL), (at(d[3], 12, 1), STUMBLE),
        (at(d[4], 9), (10, 200, 0)), (at(d[4], 9), SESSION), (at(d[4], 9, 10), LONG),
    ]
    h = History(db)
    put(h, "dev-a", items, at(d[4], 20), {"retro_goal": 100, "cues": 1})
    return h, d


WEEK1 = {"days": 3, "forward": 1800, "backward": 610, "unknown": 36, "total": 2446,
         "goal_days": 2, "sessions": 3, "long_cues": 2, "stumbles": 1, "falls": 0}
WEEK2 = {"days": 2, "forward": 210, "backward": 290, "unknown": 3, "total": 503,
         "goal_days": 1, "sessions": 1, "long_cues": 1, "stumbles": 1, "falls": 1}


def _day(date, device, fwd, bwd, unk, goal, sessions, long_cues, stumbles, falls):
    """A row of the history's daily view."""
    return {"date": date, "device": device, "forward": fwd, "backward": bwd, "unknown": unk,
            "total": fwd + bwd + unk, "goal_reached": goal, "sessions": sessions,
            "long_cues": long_cues, "stumbles": stumbles, "falls": falls}


def test_weeks_sum_days_per_week_and_device():
    rows = [_day("2026-03-02", "a", 10, 5, 1, True, 1, 1, 0, 0),
            _day("2026-03-08", "a", 7, 3, 0, False, 2, 0, 1, 1),
            _day("2026-03-08", "b", 1, 2, 3, True, 0, 2, 0, 0),
            _day("2026-03-09", "a", 100, 50, 0, True, 3, 1, 0, 0)]
    w = weeks(list(reversed(rows)))        # in any order
    assert [(x["week"], x["device"]) for x in w] == [("2026-03-02", "a"), ("2026-03-02", "b"),
                                                   ("2026-03-09", "a")]
    assert w[0] == {"week": "2026-03-02", "device": "a", "days": 2, "forward": 17,
                    "backward": 8, "unknown": 1, "total": 26, "goal_days": 1, "sessions": 3,
                    "long_cues": 1, "stumbles": 1, "falls": 1}
    assert (w[1]["days"], w[1]["total"], w[1]["goal_days"], w[1]["long_cues"]) == (1, 6, 1, 2)
    assert (w[2]["days"], w[2]["total"], w[2]["goal_days"], w[2]["sessions"],
            w[2]["long_cues"]) == (1, 150, 1, 3, 1)


def test_weeks_of_a_synced_history(history_db):
    h, d = two_weeks(history_db)
    with h:
        rows = h.days()
        w = weeks(rows)
    assert [r["date"] for r in rows] == [x.isoformat() for x in d]
    assert [(r["sessions"], r["long_cues"], r["stumbles"], r["falls"]) for r in rows] == \
        [(1, 0, 0, 0), (0, 0, 1, 0), (2, 2, 0, 0), (0, 0, 1, 1), (1, 1, 0, 0)]
    assert [r["goal_reached"] for r in rows] == [True, False, True, False, True]
    assert [x["week"] for x in w] == [d[0].isoformat(), d[3].isoformat()]
    for got, want in zip(w, (WEEK1, WEEK2)):
        assert {k: got[k] for k in want} == want


def test_report_weekly_table(history_db):
    h, d = two_weeks(history_db)
    with h:
        page = render(h, days=30)
    t = table(page, "weeks")
    assert t[0] == ["week of", "device", "days", "total", "backward", "goal reached", "sessions",
                    "long-session cues", "stumbles", "falls"]
    want = [[d[0].isoformat(), "dev-a", "3", "2446", "610", "2 days", "3", "2", "1", "0"],
            [d[3].isoformat(), "dev-a", "2", "503", "290", "1 days", "1", "1", "1", "1"]]
    assert t[1:] == want
    # the sessions table has the sessions only; each long cue is an event row
    s = table(page, "sessions")
    assert len(s) - 1 == 4
    assert s[1][2:7] == ["1 min 35 s", "130", "120", "82/min", "4.6%"]
    ev = table(page, "events")[1:]
    assert [r[2] for r in ev].count("long retro session") == 3
    assert [r[2] for r in ev] == ["retro goal reached", "stumble", "long retro session",
                                  "long retro session", "fall", "stumble", "long retro session"]


def history_text(tmp_path, db, capsys, *extra):
    from host_tools.cli import main
    rc = main(["history", "--db", str(db), *extra])
    assert rc in (0, None)
    return capsys.readouterr().out


def test_history_text_shows_days_sessions_events_and_weeks(history_db, capsys):
    h, d = two_weeks(history_db)
    h.close()
    out = history_text(None, history_db, capsys)
    lines = out.splitlines()
    head = lines[0].split()
    assert head[:6] == ["date", "device", "forward", "backward", "unknown", "total"]
    assert " ".join(head[6:]) == "retro goal sessions long cues stumbles falls"
    by_date = {ln.split()[0]: ln.split() for ln in lines[1:6]}
    # date device forward backward unknown total goal sessions long-cues stumbles falls
    assert by_date[d[0].isoformat()] == [d[0].isoformat(), "dev-a", "500", "120", "16", "636",
                                         "120/100", "ok", "1", "0", "0", "0"]
    assert by_date[d[1].isoformat()][2:] == ["300", "40", "0", "340", "40/100", "0", "0", "1", "0"]
    assert by_date[d[2].isoformat()][2:] == ["1000", "450", "20", "1470", "450/100", "ok", "2",
                                             "2", "0", "0"]
    assert by_date[d[3].isoformat()][2:] == ["200", "90", "3", "293", "90/100", "0", "0", "1", "1"]
    # the sessions: start, duration, steps, cadence, unknown share
    i = lines.index("retro sessions")
    sess = [ln for ln in lines[i + 2:i + 6]]
    assert len(sess) == 4 and "retro sessions" not in lines[i + 6:]
    t0 = dt.datetime.fromtimestamp(at(d[0], 10)).isoformat(timespec="seconds")
    assert sess[0].split() == [t0, "dev-a", "1", "min", "35", "s", "130", "82/min", "4.6%"]
    # the events: time, kind, details (the goal, the long cues, the stumbles and the fall)
    j = lines.index("events")
    ev = lines[j + 2:]
    ev = ev[:ev.index("")] if "" in ev else ev
    assert len(ev) == 7
    t_goal = dt.datetime.fromtimestamp(at(d[0], 10, 5)).isoformat(timespec="seconds")
    assert ev[0].split() == [t_goal, "dev-a", "retro", "goal", "reached", "100", "backward",
                             "steps", "(goal", "100)"]
    assert "long retro session" in ev[2] and "300 s, 420 steps: time for a break" in ev[2]
    assert "fall" in ev[4].split() and "while walking forward, peak 4.1 g" in ev[4]
    assert "stumble" in ev[1].split() and "while walking backward" in ev[1]
    assert "~" not in out
    # the weekly view, with the long cues
    k = [n for n, ln in enumerate(lines) if ln.startswith("week of")][0]
    assert "long cues" in lines[k]
    w = [ln.split() for ln in lines[k + 1:] if ln.strip()]
    assert w == [[d[0].isoformat(), "dev-a", "3", "2446", "610", "2", "3", "2", "1", "0"],
                 [d[3].isoformat(), "dev-a", "2", "503", "290", "1", "1", "1", "1", "1"]]


def test_history_text_prints_the_weekly_view_for_a_single_day(history_db, capsys):
    today = dt.date.today()
    with History(history_db) as h:
        put(h, "dev-b", [(at(today, 0, 1), (40, 12, 1))], at(today, 0, 2), {"retro_goal": 10})
    out = history_text(None, history_db, capsys)
    lines = out.splitlines()
    assert "no retro session in this period" in lines and "no events in this period" in lines
    k = [n for n, ln in enumerate(lines) if ln.startswith("week of")]
    assert len(k) == 1
    monday = today - dt.timedelta(days=today.weekday())
    assert lines[k[0] + 1].split() == [monday.isoformat(), "dev-b", "1", "53", "12", "1", "0",
                                       "0", "0", "0"]


def test_history_json_keeps_its_fields_and_adds_weekly_long_cues(history_db, capsys):
    h, d = two_weeks(history_db)
    h.close()
    data = json.loads(history_text(None, history_db, capsys, "--json"))
    assert set(data) == {"days", "sessions", "events", "weeks"}
    old_day = {"date", "device", "forward", "backward", "unknown", "total", "retro_goal",
               "goal_reached", "sessions", "long_cues", "stumbles", "falls", "events"}
    assert all(old_day <= set(r) for r in data["days"])
    assert data["days"][2]["events"] == 4              # a session, two long cues, a session
    old_week = {"week", "device", "total", "forward", "backward", "unknown", "goal_days",
                "sessions", "falls", "stumbles", "days"}
    assert all(old_week <= set(w) for w in data["weeks"])
    assert [w["long_cues"] for w in data["weeks"]] == [2, 1]
    assert len(data["sessions"]) == 4 and len(data["events"]) == 7


def test_a_past_day_keeps_the_goal_in_force_on_it(history_db):
    m = monday_two_weeks_ago()
    d1, d2, d3 = m, m + dt.timedelta(days=1), m + dt.timedelta(days=2)
    with History(history_db) as h:
        # day 1, synced that evening with goal 100: 150 backward steps reach it
        put(h, "dev-c", [(at(d1, 9), (100, 150, 0))], at(d1, 20), {"retro_goal": 100})
        assert [(r["retro_goal"], r["goal_reached"]) for r in h.days()] == [(100, True)]
        # the goal is raised to 300 and seen at the next sync, on day 2 (200 backward steps)
        put(h, "dev-c", [(at(d2, 9), (50, 200, 0))], at(d2, 20), {"retro_goal": 300})
        # day 3: 350 backward steps, synced with the same settings again
        put(h, "dev-c", [(at(d3, 9), (0, 350, 0))], at(d3, 20), {"retro_goal": 300})
        rows = h.days()
        assert [(r["date"], r["retro_goal"], r["goal_reached"]) for r in rows] == [
            (d1.isoformat(), 100, True), (d2.isoformat(), 300, False),
            (d3.isoformat(), 300, True)]
        assert [g for _, g in [(a, s["retro_goal"]) for a, s in h.settings_history("dev-c")]] \
            == [100, 300]                               # recorded when they changed only
        # the report draws each day's own goal
        page = render(h, days=30)
    cells = {r[0]: r[6] for r in table(page, "days")[1:]}
    assert cells[d1.isoformat()] == "150/100 reached"
    assert cells[d2.isoformat()] == "200/300"
    goals = re.findall(r'class="goal"[^>]*><title>([^<]*)</title>', page)
    assert f"{d1.isoformat()[5:]}: retro goal 100" in goals
    assert f"{d2.isoformat()[5:]}: retro goal 300" in goals


def test_a_day_before_any_sync_takes_the_goal_its_own_record_names(history_db):
    m = monday_two_weeks_ago()
    d1, d2 = m, m + dt.timedelta(days=1)
    with History(history_db) as h:
        # first sync on day 2 (goal now 500); day 1's goal record says the goal was 100 then
        put(h, "dev-d", [(at(d1, 9), (0, 120, 0)),
                         (at(d1, 9, 5), {"type": "retro_goal", "goal": 100, "backward": 100}),
                         (at(d1, 10), (0, 30, 0)), (at(d2, 9), (0, 200, 0))],
            at(d2, 20), {"retro_goal": 500})
        assert [(r["retro_goal"], r["goal_reached"]) for r in h.days()] == [(100, True),
                                                                          (500, False)]


def test_approximate_times_are_marked_in_the_report(history_db, capsys):
    m = monday_two_weeks_ago()
    with History(history_db) as h:
        # a placed boot, then a boot the host could only estimate
        put(h, "dev-e", [(at(m, 9), (100, 50, 0)), (at(m, 9, 1), STUMBLE)], at(m, 20),
            {"retro_goal": 40})
        put(h, "dev-e", [(at(m, 21), (0, 80, 0)), (at(m, 21, 1), SESSION),
                         (at(m, 21, 2), FALL)], at(m, 22), {"retro_goal": 40}, boot=2,
            offset=int(at(m, 0)), estimated=True)
        events = h.events()
        page = render(h, days=30)
    assert [(e["type"], e["approx_time"]) for e in events] == [
        ("fall", False), ("retro_session", True), ("fall", True)]
    ev = table(page, "events")[1:]
    t_st = dt.datetime.fromtimestamp(at(m, 9, 1)).isoformat(timespec="seconds")
    t_fall = dt.datetime.fromtimestamp(at(m, 21, 2)).isoformat(timespec="seconds")
    assert [(r[0], r[2]) for r in ev] == [(t_st, "stumble"), ("~" + t_fall, "fall")]
    assert table(page, "sessions")[1][0].startswith("~")
    spans = re.findall(r'<span class="approx" title="([^"]*)">~([^<]*)</span>', page)
    assert [s[1] for s in spans][-1] == t_fall and len(spans) == 2
    assert all("approximate" in s[0] for s in spans)
    assert 'id="approx-note"' in page
    # and in `retrostep history`
    out = history_text(None, history_db, capsys).splitlines()
    assert [ln.split()[0] for ln in out if ln.startswith("  ") and "dev-e" in ln] == [
        "~" + dt.datetime.fromtimestamp(at(m, 21, 1)).isoformat(timespec="seconds"),
        t_st, "~" + t_fall]
