"""A clinic's history: wearers' labels (`retrostep label`), the clinic view (`history` and
`report --all-devices`, each device's page linked), and many stations syncing at once, on
both back ends (an SQLite file and a PostgreSQL database); the clinic benchmark's quick run."""
import datetime as dt
import json
import queue
import threading
import time

import pytest

from host_tools import cli
from host_tools.bench_clinic import MonthDevice
from host_tools.history_db import History
from host_tools.sync_cmd import sync_device
from test_sync_report import FALL, LONG, SESSION, STUMBLE, at, browser_dom, put, table


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def three_devices(db):
    """dev-a: two days this week and one older (goal 300); dev-b: today, a fall (goal 100),
    synced last; dev-c: synced eight days ago, nothing this week."""
    today = dt.date.today()
    ago = [today - dt.timedelta(days=n) for n in range(11)]
    with History(db) as h:
        put(h, "dev-c", [(at(ago[8], 9), (700, 20, 0))], at(ago[8], 20), {"retro_goal": 400})
        put(h, "dev-a", [(at(ago[10], 9), (1000, 1000, 0)),
                         (at(ago[2], 9), (300, 100, 0)),
                         (at(ago[1], 9), (500, 350, 10)), (at(ago[1], 9, 5), SESSION),
                         (at(ago[1], 9, 6), LONG), (at(ago[1], 11), STUMBLE)],
            at(ago[1], 20), {"retro_goal": 300})
        put(h, "dev-b", [(at(today, 0, 1), (200, 50, 0)), (at(today, 0, 2), FALL)],
            at(today, 0, 3), {"retro_goal": 100})
    return today


def test_labels_and_the_clinic_view(history_db, tmp_path, capsys, monkeypatch):
    db = history_db
    today = three_devices(db)
    rc, out, err = run(capsys, "label", "dev-a", "Ann  Smith", "--db", db)
    assert rc == 0 and "dev-a: labelled 'Ann Smith'" in out, err
    rc, out, err = run(capsys, "label", "dev-c", "P-017", "--db", db)
    assert rc == 0, err
    rc, out, err = run(capsys, "label", "--db", db)
    assert [ln.split(None, 1) for ln in out.splitlines()] == [
        ["dev-a", "Ann Smith"], ["dev-b", "-"], ["dev-c", "P-017"]]

    rc, out, err = run(capsys, "history", "--all-devices", "--json", "--db", db)
    assert rc == 0, err
    data = json.loads(out)
    week0 = (today - dt.timedelta(days=6)).isoformat()
    assert (data["first_day"], data["last_day"]) == (week0, today.isoformat())
    rows = data["devices"]
    assert [r["device"] for r in rows] == ["dev-b", "dev-a", "dev-c"]    # newest sync first
    b, a, c = rows
    assert (a["label"], b["label"], c["label"]) == ("Ann Smith", None, "P-017")
    assert {k: a[k] for k in ("active_days", "forward", "backward", "unknown", "total",
                              "retro_goal", "goal_days", "sessions", "long_cues", "stumbles",
                              "falls", "backward_per_day", "days")} == {
        "active_days": 2, "forward": 800, "backward": 450, "unknown": 10, "total": 1260,
        "retro_goal": 300, "goal_days": 1, "sessions": 1, "long_cues": 1, "stumbles": 1,
        "falls": 0, "backward_per_day": 64, "days": 7}    # the older day (1000 back) is not in
    assert (b["total"], b["backward"], b["goal_days"], b["falls"], b["retro_goal"]) == \
        (250, 50, 0, 1, 100)
    assert (c["total"], c["active_days"], c["retro_goal"]) == (0, 0, 400)

    rc, out, err = run(capsys, "history", "--all-devices", "--db", db)
    lines = out.splitlines()
    assert lines[0] == f"3 devices, {week0} to {today.isoformat()}, newest sync first"
    assert lines[2].split()[:2] == ["-", "dev-b"]
    ann = lines[3].split()
    assert ann[:3] == ["Ann", "Smith", "dev-a"]
    assert ann[-9:] == ["2", "1260", "450", "64/300", "1/7", "1", "1", "1", "0"]

    # a longer period takes the older day in
    rc, out, err = run(capsys, "history", "--all-devices", "--days", "30", "--json", "--db", db)
    assert [r["total"] for r in json.loads(out)["devices"]] == [250, 3260, 720]

    # one device, by its wearer's label (any case)
    rc, out, err = run(capsys, "history", "--device", "ann smith", "--json", "--db", db)
    assert rc == 0 and {d["device"] for d in json.loads(out)["days"]} == {"dev-a"}, err

    page = tmp_path / "out" / "clinic.html"
    page.parent.mkdir()
    rc, out, err = run(capsys, "report", "--all-devices", "--html", page, "--db", db)
    assert rc == 0 and "clinic view of 3 devices" in out, err
    html = page.read_text()
    t = table(html, "clinic")
    assert t[0][:3] == ["wearer", "device", "last sync"]
    assert [r[:2] for r in t[1:]] == [["(no label)", "dev-b"], ["Ann Smith", "dev-a"],
                                      ["P-017", "dev-c"]]
    assert t[2][3:] == ["2", "1260", "450", "64/300", "300", "1 of 7 days", "1", "1", "1", "0"]
    assert 'class="alert">1</td>' in html                 # dev-b's fall stands out
    for uid in ("dev-a", "dev-b", "dev-c"):
        assert f'href="clinic_devices/{uid}.html"' in html
        own = (page.parent / "clinic_devices" / f"{uid}.html").read_text()
        assert 'href="../clinic.html"' in own
        devices_shown = {r[1] for r in table(own, "days")[1:]} if uid != "dev-c" else set()
        assert devices_shown <= {uid}
    dev_a = (page.parent / "clinic_devices" / "dev-a.html").read_text()
    assert "<h1>retrostep: Ann Smith (dev-a)</h1>" in dev_a
    assert {r[1] for r in table(dev_a, "days")[1:]} == {"dev-a"}
    assert len(table(dev_a, "days")) - 1 == 3                 # 30 days: the older day too

    # a label removed by naming it; $RETROSTEP_DB names the history when --db does not
    monkeypatch.setenv("RETROSTEP_DB", str(db))
    rc, out, err = run(capsys, "label", "Ann Smith", "")
    assert rc == 0 and "dev-a: label removed" in out, err
    rc, out, err = run(capsys, "history", "--all-devices", "--json")
    assert json.loads(out)["devices"][1]["label"] is None


def test_the_clinic_page_in_a_real_browser(tmp_path):
    db = tmp_path / "h.sqlite"
    three_devices(db)
    from host_tools.report_cmd import write_clinic
    with History(db, mode="read") as h:
        page = write_clinic(h, tmp_path / "clinic.html")
    dom, text = browser_dom(page, tmp_path)
    links = [a["href"] for tag, a in dom.tags if tag == "a" and "href" in a]
    assert links == [f"clinic_devices/{u}.html" for u in ("dev-b", "dev-a", "dev-c")]
    bars = [a for tag, a in dom.tags if tag == "svg" and a.get("class") == "progress"]
    assert len(bars) == 3
    own, _ = browser_dom(tmp_path / links[1], tmp_path)
    assert any(tag == "a" and a.get("href") == "../clinic.html" for tag, a in own.tags)


def test_label_refusals(tmp_path, capsys):
    db = tmp_path / "new" / "h.sqlite"
    rc, out, err = run(capsys, "label", "dev-a", "Ann", "--db", db)
    assert rc == 2 and "no history there" in err
    assert not (tmp_path / "new").exists()                   # nothing made for a label
    db = tmp_path / "h.sqlite"
    three_devices(db)
    for argv, words in ((["dev-x", "Ann"], "no device 'dev-x'"),
                        (["dev-", "Ann"], "'dev-' could be any of dev-a, dev-b, dev-c"),
                        (["dev-a"], "give the wearer's name too"),
                        (["dev-a", "x" * 81], "at most 80 characters")):
        rc, out, err = run(capsys, "label", *argv, "--db", db)
        assert rc == 2 and words in err, (argv, err)
    rc, out, err = run(capsys, "history", "--device", "nobody", "--db", db)
    assert rc == 2 and "no device 'nobody'" in err


def test_many_stations_at_once_count_each_record_once(history_db):
    """Six stations sync the same three devices at the same moment (each device by every
    station, through sync_device and its own connection), then sync them all again: each
    record is stored once, and the history holds each device's own totals exactly."""
    start = time.time() - 2 * 86400
    devs = [MonthDevice(i, 2, start) for i in range(3)]
    got: queue.Queue = queue.Queue()
    barrier = threading.Barrier(6)
    failures = []

    def station():
        try:
            with History(history_db) as h:
                barrier.wait()
                for d in devs:
                    got.put((d.uid, sync_device(d, h).new))
        except Exception as e:
            failures.append(e)

    threads = [threading.Thread(target=station) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    news: dict[str, int] = {}
    while not got.empty():
        uid, n = got.get()
        news[uid] = news.get(uid, 0) + n
    assert news == {d.uid: d.count for d in devs}
    with History(history_db) as h:
        assert [sync_device(d, h).new for d in devs] == [0, 0, 0]
        for d in devs:
            assert h.totals(d.uid) == tuple(d.totals)
            seqs = [s for (s,) in h.con.execute("SELECT seq FROM records WHERE uid=? ORDER BY seq",
                                                (d.uid,)).fetchall()]
            assert seqs == list(range(1, d.count + 1))
        assert len(h.con.execute("SELECT uid FROM syncs").fetchall()) == 6 * 3 + 3


def test_bench_clinic_quick(tmp_path, pg_server):
    out = tmp_path / "b.json"
    assert cli.main(["bench", "--quick", "--only", "clinic", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())["clinic"]
    assert doc["records"] == doc["devices"] * doc["records_per_device"] > 0
    for back_end in ("postgresql", "sqlite"):
        f = doc[back_end]
        assert f["records_stored"] == f["records_new"] == doc["records"], back_end
        assert f["duplicates_refused"] == f["records_offered"] - doc["records"] > 0
        assert f["nothing_lost"] and f["nothing_doubled"] and f["device_totals_exact"]
        assert f["repeat_sync_new"] == 0 and f["records_per_s"] > 0
        assert f["clinic_view_devices"] == doc["devices"]
