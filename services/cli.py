"""`signpost`: the command line for data officers and ops.

  signpost run                                 everything in the foreground (what `make run` does)
  signpost import-return FILE --la-code 305 --return-id R1
                                               send an LA return CSV to the intake, with a progress bar
  signpost rebuild alerts                      replay the intake topics into fresh alert state (online via the
                                               running service with an admin token, or offline when it is stopped)
  signpost rebuild referrals                   replay the alerts and children topics into the referrals store,
                                               delivering nothing (stop the referrals service first)
  signpost hash-token                          print the sha256 entry for a token (read from stdin)
  signpost --version                           the version and the commit it was built from
  signpost export child CHILD_ID [--received YYYY-MM-DD]
                                               subject access: everything held about a child, one zip
                                               (JSON + CSV), with the request's due date (admin token)
  signpost erase child CHILD_ID --reason TEXT   erasure where lawful (a child recorded in error), every store
  signpost webhook-secret                      print a new Standard Webhooks signing secret (whsec_...)
  signpost pseudonym-key                       print a new pseudonym key (SIGNPOST_PSEUDONYM_KEY)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm


def _import_return(args: argparse.Namespace) -> int:
    path = Path(args.file)
    token = args.token or os.environ.get("SIGNPOST_TOKEN")
    if not token:
        print("a token is needed: --token or SIGNPOST_TOKEN (an intake token from the tokens file)", file=sys.stderr)  # noqa: T201
        return 2
    size = path.stat().st_size
    params = {"la_code": args.la_code, "return_id": args.return_id}
    if args.period_start:
        params["period_start"] = args.period_start
    if args.period_end:
        params["period_end"] = args.period_end

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as f, tqdm(total=size, unit="B", unit_scale=True, desc=f"uploading {path.name}") as bar:
            while block := f.read(256 * 1024):
                bar.update(len(block))
                yield block

    response = httpx.post(
        f"{args.url.rstrip('/')}/v1/la-returns/csv",
        params=params,
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        timeout=httpx.Timeout(300.0, connect=10.0),
    )
    body: dict[str, Any] = response.json() if response.headers.get("content-type", "").endswith("json") else {"detail": response.text}
    if response.status_code in (200, 202):
        print(f"{body.get('status')}: return {body.get('id')} with {body.get('records')} records")  # noqa: T201
        return 0
    print(f"refused ({response.status_code}): {body.get('detail') or body.get('title')}", file=sys.stderr)  # noqa: T201
    for err in body.get("errors") or []:
        line = f" (line {err['line']})" if "line" in err else ""
        print(f"  {'.'.join(str(p) for p in err['loc'])}{line}: {err['msg']}", file=sys.stderr)  # noqa: T201
    return 1


def _rebuild(args: argparse.Namespace) -> int:
    """Online when the alerts service answers (it pauses its stages and rebuilds itself), else offline here."""
    from services.alerts.rebuild import alerts_service_answers, rebuild
    from services.common import logs
    from services.common.settings import Settings

    logs.setup("cli", "WARNING")
    settings = Settings()
    if args.service == "referrals":
        return _rebuild_referrals(settings, args)
    if alerts_service_answers(settings):
        return _rebuild_online(settings, args)
    report = asyncio.run(rebuild(settings, progress=not args.quiet))
    print(  # noqa: T201
        f"rebuilt in {report.seconds:.1f}s: {report.events} intake events, {report.suspensions} school suspensions replayed; "
        f"{report.alerts_changed} alerts changed; consumer generation {report.generation}"
    )
    return 0


def _rebuild_referrals(settings, args: argparse.Namespace) -> int:  # noqa: ANN001
    from services.common.generations import ServiceRunning
    from services.referrals.rebuild import rebuild

    try:
        report = asyncio.run(rebuild(settings, progress=not args.quiet))
    except ServiceRunning as exc:
        print(f"not rebuilding: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"rebuilt in {report.seconds:.1f}s: {report.messages} messages replayed; {report.referrals_changed} referral changes "  # noqa: T201
          f"(nothing delivered); consumer generation {report.generation}")
    return 0


def _rebuild_online(settings, args: argparse.Namespace) -> int:  # noqa: ANN001
    import time

    token = args.token or os.environ.get("SIGNPOST_TOKEN")
    if not token:
        print("the alerts service is running: an admin token is needed (--token or SIGNPOST_TOKEN)", file=sys.stderr)  # noqa: T201
        return 2
    base = f"http://{settings.host}:{settings.alerts_port}/v1/admin/rebuild"
    headers = {"Authorization": f"Bearer {token}"}
    started = httpx.post(base, headers=headers, timeout=30)
    if started.status_code != 202:
        print(f"not started ({started.status_code}): {started.text}", file=sys.stderr)  # noqa: T201
        return 1
    with tqdm(desc="rebuilding", unit=" events", disable=args.quiet) as bar:
        while True:
            state = httpx.get(base, headers=headers, timeout=30).json()
            done = sum((state.get("progress") or {}).values())
            bar.update(done - bar.n)
            if state["status"] != "running":
                break
            time.sleep(0.5)
    if state["status"] != "done":
        print(f"rebuild {state['status']}: {state.get('error')}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"rebuilt: {state['events']} intake events replayed; {state['alerts_changed']} alerts changed; consumer generation {state['generation']}")  # noqa: T201
    return 0


def _hash_token(_: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip()
    print(f'sha256: "{hashlib.sha256(token.encode()).hexdigest()}"')  # noqa: T201
    return 0


def _export_child(args: argparse.Namespace) -> int:
    """R-SAR: each service's part (alerts first: it knows the child's intake keys), one archive."""
    from datetime import date

    from services.common import subject_access
    from services.common.calendar import BANK_HOLIDAYS_FILE, SHIPPED_DIR, load_bank_holidays

    token = args.token or os.environ.get("SIGNPOST_TOKEN")
    if not token:
        print("an admin token is needed: --token or SIGNPOST_TOKEN", file=sys.stderr)  # noqa: T201
        return 2
    received = date.fromisoformat(args.received) if args.received else date.today()
    due = subject_access.due_date(received, load_bank_holidays(SHIPPED_DIR / BANK_HOLIDAYS_FILE))
    headers = {"Authorization": f"Bearer {token}", "X-Signpost-Purpose": f"subject access request received {received.isoformat()}"}
    parts: dict[str, dict] = {}
    with httpx.Client(timeout=120, headers=headers) as client:
        keys: list[str] = []
        for service, url, params in (("alerts", args.alerts_url, None), ("referrals", args.referrals_url, None), ("intake", args.intake_url, "keys")):
            answer = client.get(f"{url}/v1/admin/children/{args.child_id}/export", params={"key": keys} if params else None)
            if answer.status_code != 200:
                print(f"{service}: HTTP {answer.status_code}", file=sys.stderr)  # noqa: T201 - never the body: it may quote data
                return 1
            body = answer.json()
            keys = keys or body["keys"]
            parts[service] = body["parts"]
    out = Path(args.out or f"sar-{args.child_id}-{received.isoformat()}.zip")
    out.write_bytes(subject_access.archive(args.child_id, received, due, parts))
    os.chmod(out, 0o600)
    print(f"{out}: {sum(len(rows) for p in parts.values() for rows in p.values())} records; received {received}, due {due}")  # noqa: T201
    return 0


def _erase_child(args: argparse.Namespace) -> int:
    """Erasure where lawful: the intake's events (by the keys the alerts service knows), then the
    referrals store, then the alerts store; each service audits it with the reason."""
    token = args.token or os.environ.get("SIGNPOST_TOKEN")
    if not token:
        print("an admin token is needed: --token or SIGNPOST_TOKEN", file=sys.stderr)  # noqa: T201
        return 2
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
        found = client.get(f"{args.alerts_url}/v1/admin/children/{args.child_id}/export")
        if found.status_code != 200:
            print(f"alerts: HTTP {found.status_code}", file=sys.stderr)  # noqa: T201
            return 1
        keys = found.json()["keys"]
        for service, url in (("intake", args.intake_url), ("referrals", args.referrals_url), ("alerts", args.alerts_url)):
            done = client.post(f"{url}/v1/admin/children/{args.child_id}/erase", json={"reason": args.reason, "keys": keys})
            if done.status_code != 200:
                print(f"{service}: HTTP {done.status_code}; run the command again to finish", file=sys.stderr)  # noqa: T201
                return 1
            deleted = {k: v for k, v in done.json()["deleted"].items() if v}
            print(f"{service}: deleted {deleted or 'nothing'}")  # noqa: T201
    print("the Kafka topics keep the child's events until their retention expires: docs/data-protection.md")  # noqa: T201
    return 0


def _webhook_secret(_: argparse.Namespace) -> int:
    import base64
    import secrets

    print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())  # noqa: T201
    return 0


def _pseudonym_key(_: argparse.Namespace) -> int:
    import secrets

    print(secrets.token_hex(32))  # noqa: T201
    return 0


def _run(_: argparse.Namespace) -> int:
    from services.run import main as run_main

    return run_main([])


def main(argv: list[str] | None = None) -> int:
    from services.common.version import build

    parser = argparse.ArgumentParser(prog="signpost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"signpost {build().describe()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run everything in the foreground (the embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set)").set_defaults(func=_run)

    imp = sub.add_parser("import-return", help="send an LA return CSV to the intake service (all or nothing)")
    imp.add_argument("file", help="CSV with a header row; columns as in the README")
    imp.add_argument("--la-code", required=True, help="3-digit DfE LA code, e.g. 305")
    imp.add_argument("--return-id", required=True, help="your id for this return: sending it again is a no-op")
    imp.add_argument("--period-start", help="YYYY-MM-DD (default: the earliest start_date)")
    imp.add_argument("--period-end", help="YYYY-MM-DD (default: the latest start_date)")
    imp.add_argument("--url", default=os.environ.get("SIGNPOST_INTAKE_URL", "http://127.0.0.1:8001"), help="intake service URL (env SIGNPOST_INTAKE_URL)")
    imp.add_argument("--token", help="intake bearer token (default: env SIGNPOST_TOKEN)")
    imp.set_defaults(func=_import_return)

    reb = sub.add_parser("rebuild", help="rebuild a service's state from the event log (stop the service first)")
    reb.add_argument("service", choices=["alerts", "referrals"], help="alerts: online or offline; referrals: offline (stop it first)")
    reb.add_argument("--quiet", action="store_true", help="no progress bars")
    reb.add_argument("--token", help="admin token, when the service is running (default: env SIGNPOST_TOKEN)")
    reb.set_defaults(func=_rebuild)

    sub.add_parser("hash-token", help="read a token on stdin, print its tokens-file sha256 entry").set_defaults(func=_hash_token)

    exp = sub.add_parser("export", help="subject access: everything held about a child in one archive")
    exp.add_argument("what", choices=["child"])
    exp.add_argument("child_id", help="the child's id (ch_...), as alerts and referrals show it")
    exp.add_argument("--received", help="YYYY-MM-DD the request was received (default today): the due date counts from it")
    exp.add_argument("--out", help="the zip to write (default sar-<child>-<received>.zip)")
    exp.add_argument("--token", help="admin bearer token (default: env SIGNPOST_TOKEN)")
    for svc, port in (("intake", 8001), ("alerts", 8002), ("referrals", 8003)):
        exp.add_argument(f"--{svc}-url", default=os.environ.get(f"SIGNPOST_{svc.upper()}_URL", f"http://127.0.0.1:{port}"))
    exp.set_defaults(func=_export_child)

    era = sub.add_parser("erase", help="erasure where lawful (a child recorded in error) from every store")
    era.add_argument("what", choices=["child"])
    era.add_argument("child_id")
    era.add_argument("--reason", required=True, help="why erasure is lawful (audited), e.g. 'recorded in error, ticket 123'")
    era.add_argument("--token", help="admin bearer token (default: env SIGNPOST_TOKEN)")
    for svc, port in (("intake", 8001), ("alerts", 8002), ("referrals", 8003)):
        era.add_argument(f"--{svc}-url", default=os.environ.get(f"SIGNPOST_{svc.upper()}_URL", f"http://127.0.0.1:{port}"))
    era.set_defaults(func=_erase_child)

    sub.add_parser("webhook-secret", help="print a new webhook signing secret (Standard Webhooks whsec_ form)").set_defaults(func=_webhook_secret)
    sub.add_parser("pseudonym-key", help="print a new pseudonym key for SIGNPOST_PSEUDONYM_KEY").set_defaults(func=_pseudonym_key)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
