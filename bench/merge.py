"""Merge benchmark: how long from an identify's 202 until the figures count one person.

Starts the embedded deployment (``manage.py serve --no-demo``) in a temporary var dir
(bench/stack.py), and for each of N visitors: sends an anonymous pageview and waits until
it is stored; then sends the sign-up that carries both the user id and the anonymous id,
and polls the persons API (``?distinct_id=<anonymous id>``) until that person holds the user
id too: from then on every figure counts the two ids as one person (they all read the same
overrides). Prints p50, p95 and max of the delay from the sign-up's 202, and checks on the
last visitor that today's active users count one person, not two.

    .venv/bin/python bench/merge.py [--visitors 30] [--keep-var]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

try:
    import requests
except ImportError:
    sys.exit("bench/merge.py needs the project's virtualenv: run it as .venv/bin/python bench/merge.py")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import Stack, StackError, wait_for  # noqa: E402

TARGET_SECONDS = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=30)
    parser.add_argument("--keep-var", action="store_true")
    args = parser.parse_args()
    stack = Stack("embedded", keep_var=args.keep_var, label="merge", extra_env={"LOG_LEVEL": "WARNING"})
    try:
        stack.prepare()
        keys = stack.bootstrap()
        stack.start()
        ingest = {"X-API-Key": keys["api_key"]}
        reader = {"Authorization": f"Bearer {keys['personal_api_key']}"}
        persons_url = f"{stack.base_url}/api/v1/projects/{keys['project_id']}/persons"
        delays = []
        for n in range(args.visitors):
            anon, user = str(uuid.uuid4()), f"user-{n}"

            def ids_of(distinct_id: str) -> list[str]:
                results = requests.get(persons_url, params={"distinct_id": distinct_id}, headers=reader, timeout=10).json()["results"]
                return results[0]["distinct_ids"] if results else []

            assert requests.post(f"{stack.base_url}/api/v1/events", json={"event": "$pageview", "anonymous_id": anon}, headers=ingest, timeout=10).status_code == 202
            wait_for(lambda: ids_of(anon), 30, "the pageview to be stored")
            signup = {"event": "signed_up", "user_id": user, "anonymous_id": anon}
            answered = requests.post(f"{stack.base_url}/api/v1/events", json=signup, headers=ingest, timeout=10)
            accepted_at = time.monotonic()
            assert answered.status_code == 202
            wait_for(lambda: user in ids_of(anon), 30, "the merge")
            delays.append(time.monotonic() - accepted_at)
        dau = requests.get(
            f"{stack.base_url}/api/v1/projects/{keys['project_id']}/insights/active-users", params={"range": "24h", "interval": "day"}, headers=reader, timeout=10
        ).json()["dau"]
        ordered = sorted(delays)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
        print(f"visitors: {args.visitors}; one person each after the merge: today's active users {max(dau)} (of {2 * args.visitors} ids)")
        print(f"sign-up 202 -> merged in the figures: p50 {statistics.median(delays):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s")
        verdict = "PASS" if ordered[-1] <= TARGET_SECONDS else "MISS"
        print(f"[{verdict}] every merge within {TARGET_SECONDS:.0f} s (the flush runs every FLUSH_INTERVAL_SECONDS, 1 s)")
        return 0 if max(dau) == args.visitors else 1
    except StackError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.cleanup()


if __name__ == "__main__":
    sys.exit(main())
