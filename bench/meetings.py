#!/usr/bin/env python3
"""Turns bench/mixing.sh's calls into meetings of three through yunhu's admin API.

Watches yunhu's event log (read-only) for calls bridged after event id FIRST_EVENT and asks for
each, once: POST /yunhu/v1/tenants/CORP/calls/{call_id}/meeting {"to": GUEST}. When the first leg
of a meeting ends (the carrier hanging up; the phones never do), yunhu keeps the other two talking,
so the bench hangs the call up: POST .../calls/{call_id}/hangup. Stops after WANT calls are over or
when STOP_FILE exists. Prints how many meetings were asked for, refused, and hung up.

    meetings.py DB HTTP_PORT TOKEN CORP GUEST FIRST_EVENT WANT STOP_FILE
"""
import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request


def post(port, token, path, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else b"",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    db_path, port, token, corp, guest, first, want, stop = sys.argv[1:9]
    first, want = int(first), int(want)
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    asked, refused, hung, done = set(), 0, set(), set()
    last = first
    errors = {}
    while len(done) < want and not os.path.exists(stop):
        rows = db.execute("SELECT id, call_id, kind FROM events WHERE id > ? ORDER BY id", (last,)).fetchall()
        for eid, call_id, kind in rows:
            last = eid
            if kind == "bridged" and call_id not in asked:
                asked.add(call_id)
                status, text = post(port, token, f"/yunhu/v1/tenants/{corp}/calls/{call_id}/meeting", {"to": guest})
                if status != 200:
                    refused += 1
                    errors[status] = text
            elif kind == "leg_ended" and call_id in asked and call_id not in hung:
                hung.add(call_id)
                post(port, token, f"/yunhu/v1/tenants/{corp}/calls/{call_id}/hangup", None)
            elif kind == "hung_up" and call_id in asked:
                done.add(call_id)
        time.sleep(0.05)
    print(f"meetings asked {len(asked)}, refused {refused}, hung up by the bench {len(hung)}, ended {len(done)}")
    for status, text in errors.items():
        print(f"  refused with {status}: {text[:200]}")


if __name__ == "__main__":
    main()
