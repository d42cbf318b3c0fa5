"""`retrostep report`: a self-contained HTML page of the history (inline SVG charts, no
external files): daily forward and backward steps, backward steps against the retro goal,
a weekly view, the latest day in 5-minute bins, retro sessions and events.

`--all-devices` writes the clinic view instead: one page listing every device, newest
sync first, with its wearer's label, the week's steps, backward steps against its goal,
long-session cues, stumbles and falls, each row linking to that device's own page (the
page above for that device alone, in a folder beside it)."""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
import re
from pathlib import Path

from .history_cmd import (APPROX_NOTE, add_view_arguments, collect, describe, duration,
                          unknown_share)
from .history_db import History, add_db_argument

ADVICE = ("A few hundred backward steps a day (300 to 500 is typical), on a flat, clear "
          "surface, slowly. Talk to a doctor first if you have vertigo or a balance "
          "disorder, severe arthritis, recent surgery or a neurological condition.")

FWD = "#3b78b5"
BWD = "#e08a1e"
UNK = "#9aa3ab"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:980px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em}
.muted{color:#666} .advice{background:#f3f6f9;border-left:4px solid #3b78b5;padding:.6em 1em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0} th,td{padding:.25em .7em;
text-align:right;border-bottom:1px solid #e3e3e3} th{background:#f6f6f6}
td.l,th.l{text-align:left} .ok{color:#2a7a2a;font-weight:600}
.alert{color:#b3261e;font-weight:600} a{color:#2b5f91} .nw{white-space:nowrap}
.approx{text-decoration:underline dotted;cursor:help}
.legend span{display:inline-block;margin-right:1.2em} .sw{display:inline-block;width:.9em;
height:.9em;vertical-align:middle;margin-right:.3em}
svg text{font-size:11px;fill:#444}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _when(e: dict) -> str:
    """An event's time; "~" in front, with a title saying why, when it is approximate."""
    if e.get("approx_time"):
        return (f'<span class="approx" title="{_e(APPROX_NOTE)}">~{_e(e["time"])}</span>')
    return _e(e["time"])


def _nice_max(v: float) -> float:
    if v <= 0:
        return 10
    import math
    p = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * p:
            return m * p
    return 10 * p


def bar_chart(labels: list[str], series: list[tuple[str, str, list[float]]], title: str,
              line: list[float] | None = None, line_label: str = "", width=940, height=260,
              label_every: int = 1) -> str:
    """Stacked bars (one stack per label) and an optional dashed line, as inline SVG."""
    n = max(1, len(labels))
    left, right, top, bottom = 50, 10, 24, 40
    w = width - left - right
    h = height - top - bottom
    tot = [sum(s[2][i] for s in series) for i in range(len(labels))]
    ymax = _nice_max(max(tot + (line or []) + [1]))
    bw = w / n
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'aria-label="{_e(title)}" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           f'<text x="{left}" y="14" style="font-weight:600">{_e(title)}</text>']
    for k in range(5):
        v = ymax * k / 4
        y = top + h - h * k / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" '
                   f'stroke="#e5e5e5"/><text x="{left - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{v:g}</text>')
    for i, lab in enumerate(labels):
        x = left + i * bw
        y = top + h
        for name, color, vals in series:
            v = vals[i]
            if v <= 0:
                continue
            bh = h * v / ymax
            y -= bh
            out.append(f'<rect class="bar" x="{x + bw * 0.12:.1f}" y="{y:.1f}" '
                       f'width="{max(bw * 0.76, 0.5):.1f}" height="{bh:.1f}" fill="{color}">'
                       f'<title>{_e(lab)}: {_e(name)} {v:g}</title></rect>')
        if i % label_every == 0:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{top + h + 14}" '
                       f'text-anchor="middle">{_e(lab)}</text>')
    if line:
        # one dashed step per day: the goal can change from one day to the next
        for i, v in enumerate(line):
            y = top + h - h * v / ymax
            out.append(f'<line class="goal" x1="{left + i * bw + 1:.1f}" y1="{y:.1f}" '
                       f'x2="{left + (i + 1) * bw - 1:.1f}" y2="{y:.1f}" stroke="#c0392b" '
                       f'stroke-width="2" stroke-dasharray="5 3"><title>{_e(labels[i])}: '
                       f'{_e(line_label)} {v:g}</title></line>')
    out.append(f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#999"/>')
    out.append("</svg>")
    return "".join(out)


def legend(items) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i class="sw" style="background:{c}"></i>{_e(n)}</span>' for n, c in items) + "</div>"


def _head(title: str) -> list[str]:
    return ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>", f"<style>{CSS}</style></head><body>"]


def render(hist: History, days: int | None = 30, now: dt.datetime | None = None,
           device: str | None = None, back: str | None = None) -> str:
    """The report's page; of one device only when `device` (a uid) is given, with a link
    back to the clinic view when `back` is."""
    now = now or dt.datetime.now()
    data = collect(hist, days, device)
    rows = data["days"]
    label = hist.labels().get(device) if device else None
    who = f"{label} ({device})" if label else device
    parts = _head(f"retrostep report: {who}" if device else "retrostep report")
    if back:
        parts.append(f'<p><a id="back" href="{_e(back)}">&larr; all devices</a></p>')
    parts += [f"<h1>retrostep: {_e(who)}</h1>" if device else
              "<h1>retrostep: steps and retro walking</h1>",
              f'<p class="muted">Generated {now:%Y-%m-%d %H:%M} from {_e(hist.where)}. '
              "Every step counts once: total = forward + backward + steps of unknown "
              "direction.</p>",
              f'<p class="advice" id="advice">{_e(ADVICE)}</p>']
    if not rows:
        parts.append('<p id="empty">No steps from this device in this period.</p></body></html>'
                     if device else '<p id="empty">No steps in the history yet: run <code>'
                     "retrostep sync</code> with the device attached.</p></body></html>")
        return "".join(parts)
    devices = sorted({d["device"] for d in rows})
    # per date over all devices, every day of the period (at least a week) on the axis
    have = sorted({d["date"] for d in rows})
    d0 = min(dt.date.fromisoformat(have[0]),
             dt.date.fromisoformat(have[-1]) - dt.timedelta(days=6))
    ndays = (dt.date.fromisoformat(have[-1]) - d0).days + 1
    dates = [(d0 + dt.timedelta(days=i)).isoformat() for i in range(ndays)]
    goal0 = max(d["retro_goal"] for d in rows)
    agg = {x: {"forward": 0, "backward": 0, "unknown": 0, "goal": goal0} for x in dates}
    for d in rows:
        a = agg[d["date"]]
        for k in ("forward", "backward", "unknown"):
            a[k] += d[k]
        a["goal"] = d["retro_goal"]
    labels = [x[5:] for x in dates]
    every = max(1, len(dates) // 15)
    total_all = sum(a["forward"] + a["backward"] + a["unknown"] for a in agg.values())
    last = have[-1]
    la = agg[last]
    parts.append(f'<p id="summary">Devices: {_e(", ".join(devices))}. {len(have)} days, '
                 f'<b>{total_all}</b> steps. Latest day {last}: '
                 f'<b>{la["forward"] + la["backward"] + la["unknown"]}</b> steps, '
                 f'{la["backward"]} backward of a retro goal of {la["goal"]}.</p>')
    parts.append("<h2>Daily steps</h2>")
    parts.append(legend([("forward", FWD), ("backward", BWD), ("unknown direction", UNK)]))
    parts.append(bar_chart(labels, [("forward", FWD, [agg[x]["forward"] for x in dates]),
                                    ("backward", BWD, [agg[x]["backward"] for x in dates]),
                                    ("unknown", UNK, [agg[x]["unknown"] for x in dates])],
                           "Steps per day", label_every=every))
    parts.append("<h2>Backward steps and the retro goal</h2>")
    parts.append(legend([("backward steps", BWD), ("daily retro goal (dashed)", "#c0392b")]))
    parts.append(bar_chart(labels, [("backward", BWD, [agg[x]["backward"] for x in dates])],
                           "Backward steps per day against the goal",
                           line=[agg[x]["goal"] for x in dates], line_label="retro goal",
                           label_every=every))
    # the latest day in 5-minute bins, summed per hour for legibility
    hours_f = [0] * 24
    hours_b = [0] * 24
    hours_u = [0] * 24
    for t, f, b, u in hist.bins(last, device):
        hr = dt.datetime.fromtimestamp(t).hour
        hours_f[hr] += f
        hours_b[hr] += b
        hours_u[hr] += u
    parts.append(f"<h2>{last} by hour</h2>")
    parts.append(bar_chart([f"{h:02d}" for h in range(24)],
                           [("forward", FWD, hours_f), ("backward", BWD, hours_b),
                            ("unknown", UNK, hours_u)], f"Steps per hour on {last}",
                           height=200))
    parts.append("<h2>Weekly view</h2><table id=\"weeks\"><tr><th class=l>week of</th>"
                 "<th class=l>device</th><th>days</th><th>total</th><th>backward</th>"
                 "<th>goal reached</th><th>sessions</th><th>long-session cues</th><th>stumbles</th>"
                 "<th>falls</th></tr>")
    for w in data["weeks"]:
        parts.append(f"<tr><td class=l>{w['week']}</td><td class=l>{_e(w['device'])}</td>"
                     f"<td>{w['days']}</td><td>{w['total']}</td><td>{w['backward']}</td>"
                     f"<td>{w['goal_days']} days</td><td>{w['sessions']}</td>"
                     f"<td>{w['long_cues']}</td><td>{w['stumbles']}</td><td>{w['falls']}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Days</h2><table id=\"days\"><tr><th class=l>date</th><th class=l>device"
                 "</th><th>total</th><th>forward</th><th>backward</th><th>unknown</th>"
                 "<th>retro goal</th><th>sessions</th><th>long-session cues</th>"
                 "<th>stumbles</th><th>falls</th></tr>")
    for d in reversed(rows):
        ok = ' <span class="ok">reached</span>' if d["goal_reached"] else ""
        parts.append(f"<tr><td class=l>{d['date']}</td><td class=l>{_e(d['device'])}</td>"
                     f"<td>{d['total']}</td><td>{d['forward']}</td><td>{d['backward']}</td>"
                     f"<td>{d['unknown']}</td><td>{d['backward']}/{d['retro_goal']}{ok}</td>"
                     f"<td>{d['sessions']}</td><td>{d['long_cues']}</td><td>{d['stumbles']}"
                     f"</td><td>{d['falls']}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Retro sessions</h2>")
    if data["sessions"]:
        parts.append('<table id="sessions"><tr><th class=l>start</th><th class=l>device</th>'
                     "<th>duration</th><th>steps</th><th>backward</th><th>cadence</th>"
                     "<th>unknown share</th><th>long</th></tr>")
        for s in data["sessions"][-200:]:
            parts.append(f"<tr><td class=l>{_when(s)}</td><td class=l>{_e(s['device'])}"
                         f"</td><td>{duration(s.get('dur_ms'))}</td><td>{s.get('steps', '')}"
                         f"</td><td>{s.get('backward', '')}</td><td>{s.get('cadence', '')}/min"
                         f"</td><td>{unknown_share(s)}</td>"
                         f"<td>{'yes' if s.get('long') else ''}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No retro session recorded in this period.</p>")
    parts.append("<h2>Events</h2>")
    shown = [e for e in data["events"] if e.get("type") not in ("boot",)]
    if shown:
        parts.append('<table id="events"><tr><th class=l>time</th><th class=l>device</th>'
                     "<th class=l>event</th><th class=l>details</th></tr>")
        for e in shown[-300:]:
            parts.append(f"<tr><td class=l>{_when(e)}</td><td class=l>{_e(e['device'])}"
                         f"</td><td class=l>{_e(describe(e)[0])}</td><td class=l>"
                         f"{_e(describe(e)[1])}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No events in this period.</p>")
    if any(e.get("approx_time") for e in shown + data["sessions"][-200:]):
        parts.append(f'<p class="muted" id="approx-note">{_e(APPROX_NOTE)}.</p>')
    parts.append("</body></html>")
    return "".join(parts)


def render_clinic(hist: History, days: int, links: dict[str, str],
                  now: dt.datetime | None = None) -> str:
    """The clinic view: every device over the last `days` days, newest sync first, each
    linking to its own page (links: uid -> relative address)."""
    now = now or dt.datetime.now()
    rows = hist.clinic(days)
    parts = _head("retrostep: all devices")
    parts.append("<h1>retrostep: all devices</h1>")
    if not rows:
        parts.append(f'<p class="muted">Generated {now:%Y-%m-%d %H:%M} from {_e(hist.where)}.</p>'
                     '<p id="empty">No device in the history yet: run <code>retrostep sync'
                     "</code> with a device attached.</p></body></html>")
        return "".join(parts)
    first, last = rows[0]["first_day"], rows[0]["last_day"]
    falls = sum(c["falls"] for c in rows)
    parts.append(f'<p class="muted">Generated {now:%Y-%m-%d %H:%M} from {_e(hist.where)}: '
                 f"{len(rows)} devices, {first} to {last} ({rows[0]['days']} days), the most "
                 "recently synced first. A wearer's label is set with <code>retrostep label "
                 'DEVICE "name"</code>.</p>')

    def n(k, one, many):
        v = sum(c[k] for c in rows)
        return f"{v} {one if v == 1 else many}"
    parts.append(f'<p id="summary">{n("total", "step", "steps")}, '
                 f'{n("backward", "backward", "backward")}; '
                 f'{n("long_cues", "long-session cue", "long-session cues")}, '
                 f'{n("stumbles", "stumble", "stumbles")}, '
                 + (f'<span class="alert">{n("falls", "fall", "falls")}</span>' if falls
                    else "no falls") + ".</p>")
    parts.append('<table id="clinic"><tr><th class=l>wearer</th><th class=l>device</th>'
                 "<th class=l>last sync</th><th>days with steps</th><th>steps</th>"
                 "<th>backward</th><th>backward a day / goal</th><th>retro goal</th>"
                 "<th>goal reached</th><th>sessions</th><th>long-session cues</th>"
                 "<th>stumbles</th><th>falls</th></tr>")
    for c in rows:
        uid = c["device"]
        name = _e(c["label"] or "(no label)")
        if uid in links:
            name = f'<a href="{_e(links[uid])}">{name}</a>'
        goal = c["retro_goal"] or 0
        share = min(1.0, c["backward_per_day"] / goal) if goal else 0.0
        bar = (f'<svg class="progress" width="60" height="8" role="img" aria-label="'
               f'{round(share * 100)}% of the goal"><rect width="60" height="8" fill="#eee"/>'
               f'<rect width="{60 * share:.1f}" height="8" fill="{BWD}"/></svg>')
        sync = (c["last_sync"] or "never").replace("T", " ")[:16]
        fall_cls = ' class="alert"' if c["falls"] else ""
        parts.append(f"<tr><td class=l>{name}</td><td class=l>{_e(uid)}</td>"
                     f"<td class='l nw'>{_e(sync)}</td><td>{c['active_days']}</td><td>{c['total']}"
                     f"</td><td>{c['backward']}</td><td>{c['backward_per_day']}/{goal} {bar}"
                     f"</td><td>{goal}</td><td>{c['goal_days']} of {c['days']} days</td>"
                     f"<td>{c['sessions']}</td><td>{c['long_cues']}</td><td>{c['stumbles']}</td>"
                     f"<td{fall_cls}>{c['falls']}</td></tr>")
    parts.append("</table>")
    parts.append(f'<p class="advice" id="advice">{_e(ADVICE)}</p></body></html>')
    return "".join(parts)


def page_name(uid: str) -> str:
    """A file name for a device's page: its id where it is safe, else made safe and told
    apart by a hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", uid)[:60]
    if safe != uid or safe.startswith("."):
        safe = f"{safe.lstrip('.')}-{hashlib.sha1(uid.encode()).hexdigest()[:8]}"
    return safe + ".html"


def write_clinic(hist: History, path: Path, days: int = 7) -> Path:
    """The clinic view at `path` and each device's page in the folder beside it named after
    it (clinic.html: clinic_devices/UID.html); every page written whole or not at all."""
    path = Path(path)
    folder = path.with_name(path.stem + "_devices")
    links = {c["device"]: f"{folder.name}/{page_name(c['device'])}" for c in hist.clinic(days)}
    for uid, link in links.items():
        page = render(hist, max(days, 30), device=uid, back=f"../{path.name}")
        _write_page(path.parent / link, page)
    _write_page(path, render_clinic(hist, days, links))
    return path


def write_report(hist: History, path: Path, days: int | None = 30,
                 device: str | None = None) -> Path:
    """Writes the page whole or not at all (a temporary file beside it, renamed)."""
    path = Path(path)
    _write_page(path, render(hist, days, device=device))
    return path


def _write_page(path: Path, page: str):
    from .errors import UserError
    if path.is_dir():
        raise UserError(f"{path} is a folder; give the report a file name")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def default_report_path(hist: History, name: str = "report.html") -> Path:
    """Beside an SQLite history; in the current folder for a database server's."""
    return hist.path.with_name(name) if hist.path is not None else Path(name)


def add_parser(sub):
    p = sub.add_parser("report", help="write an HTML report of the history",
                       description="A self-contained HTML page with charts of daily forward "
                       "and backward steps, the retro goal, a weekly view, sessions and events.")
    p.add_argument("--html", type=Path, default=None, metavar="FILE",
                   help="the page to write (default: report.html, or clinic.html with "
                   "--all-devices, beside an SQLite history, else in the current folder)")
    p.add_argument("--days", type=int, default=None, metavar="N",
                   help="the last N days, today included (default 30; 7 with --all-devices, "
                   "whose device pages show at least 30)")
    add_view_arguments(p, "the last 7 days")
    add_db_argument(p)
    return p


def run(args) -> int:
    from .errors import UserError
    from .paths import check_output
    if args.days is not None and args.days < 1:
        raise UserError("--days must be 1 or more")
    if args.html:
        check_output(args.html, "--html")
    with History(args.db, mode="read") as hist:
        if args.all_devices:
            out = write_clinic(hist, args.html or default_report_path(hist, "clinic.html"),
                               args.days or 7)
            n = len(hist.clinic(args.days or 7))
            print(f"clinic view of {n} devices written to {out} (their pages in "
                  f"{out.with_name(out.stem + '_devices')})")
            return 0
        device = hist.find_device(args.device) if args.device else None
        out = write_report(hist, args.html or default_report_path(hist), args.days or 30, device)
    print(f"report written to {out}")
    return 0
