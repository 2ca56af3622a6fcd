#!/usr/bin/env python3
"""Write DIR/usage.json for a synthetic org (`orgplan synth -o DIR`): a usage record for
every user of DIR/live.json and of the policy files (the keys under `users:`),
deterministic for a seed, in the `--usage file:` format.

    python3 tests/review/synth_usage.py DIR [END=2026-11-30] [SEED=1]

Mix: about 70% active in the last week, 12% 8-30 days ago, 8% 31-90, 5% earlier, 5% never;
about a third of the active users run no Claude Code session.
"""
import datetime
import glob
import json
import random
import re
import sys

folder = sys.argv[1]
end = datetime.date.fromisoformat(sys.argv[2] if len(sys.argv) > 2 else "2026-11-30")
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
with open(f"{folder}/live.json", encoding="utf-8") as f:
    emails = set(json.load(f)["users"])
for path in glob.glob(f"{folder}/*.yaml"):
    with open(path, encoding="utf-8") as f:
        emails.update(re.findall(r"^  ([^\s:#]+@[^\s:]+):", f.read(), re.M))
emails = sorted(emails)

users = {}
for email in emails:
    roll = rng.random()
    if roll < 0.05:
        users[email] = {"last_active": None, "chat_messages": 0, "claude_code_sessions": 0}
        continue
    if roll < 0.75:
        days = rng.randint(0, 7)
    elif roll < 0.87:
        days = rng.randint(8, 30)
    elif roll < 0.95:
        days = rng.randint(31, 90)
    else:
        days = rng.randint(91, 400)
    recent = days < 30
    users[email] = {
        "last_active": (end - datetime.timedelta(days=days)).isoformat(),
        "chat_messages": rng.randint(1, 400) if recent else 0,
        "claude_code_sessions": (rng.randint(1, 90) if rng.random() > 0.33 else 0) if recent else 0,
    }

usage = {
    "format_version": 1,
    "start": (end - datetime.timedelta(days=29)).isoformat(),
    "end": end.isoformat(),
    "users": users,
}
with open(f"{folder}/usage.json", "w", encoding="utf-8") as f:
    json.dump(usage, f, indent=1)
    f.write("\n")
print(f"wrote usage for {len(users)} users to {folder}/usage.json")
