"""`retrostep label DEVICE "name"`: names a device's wearer in the history (on this host, or in
the clinic's database), so that the clinic view (`history --all-devices`, `report
--all-devices`) and `--device` can say who it is. `retrostep label` alone lists the devices
and their labels; an empty name removes a label.
"""
from __future__ import annotations

from .errors import UserError
from .history_db import History, add_db_argument


def add_parser(sub):
    p = sub.add_parser("label", help="name a device's wearer (for the clinic view)",
                       description="Give a device in the history its wearer's name, shown by "
                       "`history --all-devices` and `report --all-devices`, and accepted by "
                       "--device. Without arguments, list the devices and their labels; an empty"
                       " NAME (\"\") removes a device's label.")
    p.add_argument("device", nargs="?", metavar="DEVICE",
                   help="the device: its id, the start of its id, or its current label")
    p.add_argument("name", nargs="?", metavar="NAME", help="the wearer's name or code")
    add_db_argument(p)
    return p


def run(args) -> int:
    if args.device is None:
        with History(args.db, mode="read") as hist:
            labels = hist.labels()
            devices = hist.devices()
        if not devices:
            print(f"no device in the history yet ({hist.where}); run `retrostep sync`")
        for d in devices:
            print(f"{d['uid']:24} {labels.get(d['uid'], '-')}")
        return 0
    if args.name is None:
        raise UserError('give the wearer\'s name too: retrostep label DEVICE "name" '
                        '("" removes the label)')
    name = " ".join(args.name.split())
    if len(name) > 80:
        raise UserError("a label is at most 80 characters")
    # the history must exist and know the device: a label is only written beside its steps
    with History(args.db, mode="read") as hist:
        uid = hist.find_device(args.device)
        old = hist.labels().get(uid)
    with History(args.db, mode="write") as hist:
        hist.set_label(uid, name or None)
    if name:
        print(f"{uid}: labelled {name!r}" + (f" (was {old!r})" if old and old != name else ""))
    else:
        print(f"{uid}: label removed" if old else f"{uid}: had no label")
    return 0
