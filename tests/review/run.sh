#!/usr/bin/env bash
# The HTML review report in a real browser, as CI runs it (.ci/run calls this script):
# headless Chromium from Debian's packages (installed here when /usr/bin/chromium is
# missing and we are root) loads the page from disk with networking off, and the checks
# read the rendered DOM:
#   1. the example org's report: headline figures, charts, findings and every user row;
#   2. nothing was requested from elsewhere: the page's tags name no URL, every host name
#      resolves to nothing (--host-resolver-rules), and the net log of the page load holds
#      no request but the browser's own (a control page with an external image shows the
#      check sees page requests);
#   3. a 100,000-user report (SIZE=…) opens and renders its capped table.
# Artifacts in target/review-artifacts/: the pages, rendered DOMs, net logs, screenshots.
set -euo pipefail
cd "$(dirname "$0")/../.."

ART=target/review-artifacts
SIZE=${SIZE:-100000}
mkdir -p "$ART"
ART=$(cd "$ART" && pwd)

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "tests/review/run.sh needs /usr/bin/chromium (apt-get install chromium, as root)" >&2
    exit 1
  fi
  echo "-- installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
chromium --version 2>/dev/null

if [ -z "${ORGPLAN_BIN:-}" ]; then
  cargo build --locked --quiet
  ORGPLAN_BIN=$PWD/target/debug/orgplan
fi

# chromium NAME ARGS...: headless, no network, a fresh profile; the net log to NAME.netlog.json.
browse() {
  local name=$1
  shift
  local profile
  profile=$(mktemp -d)
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --host-resolver-rules="MAP * ~NOTFOUND" --hide-scrollbars \
    --log-net-log="$ART/$name.netlog.json" "$@" 2>>"$ART/chromium.log"
  rm -rf "$profile"
}

# URLs in a net log that the browser itself asks for (update checks, account lookups),
# left out; anything else was asked for by the page.
page_requests() {
  grep -o '"url":"[^"]*"' "$1" | sed 's/^"url":"//; s/"$//' | sort -u |
    grep -v -E '^(file:|data:|about:|chrome:)' |
    grep -v -E '^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)(/|:|$)' || true
}

echo "-- the example org's report"
"$ORGPLAN_BIN" review --usage file:tests/fixtures/review/usage.json --as-of 2026-11-30 \
  --format html -o "$ART/review.html"
browse review --dump-dom "file://$ART/review.html" >"$ART/review.dom.html"
browse review-shot --window-size=1280,2000 --screenshot="$ART/review.png" "file://$ART/review.html" >/dev/null
python3 - "$ART/review.dom.html" <<'PY'
import glob, html.parser, re, sys

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.stack, self.rows, self.cells, self.tags = {}, [], [], None, []
        self.table = None
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.stack.append(attrs["id"]); self.ids[attrs["id"]] = ""
        else:
            self.stack.append(None)
        if tag == "table":
            self.table = attrs.get("id")
        if tag == "tr" and self.table == "users-table":
            self.cells = []
        if tag == "td" and self.cells is not None:
            self.cells.append("")
    def handle_endtag(self, tag):
        if tag == "tr" and self.cells:
            self.rows.append(self.cells)
        if tag == "tr":
            self.cells = None
        if self.stack:
            self.stack.pop()
    def handle_data(self, data):
        for i in self.stack:
            if i is not None:
                self.ids[i] += data
        if self.cells:
            self.cells[-1] += data

page = Page()
page.feed(open(sys.argv[1], encoding="utf-8").read())
figures = {k: page.ids.get(f"fig-{k}") for k in ["users", "active", "inactive", "unknown", "warnings", "suggestions"]}
expected = {"users": "21", "active": "15", "inactive": "4", "unknown": "1", "warnings": "6", "suggestions": "4"}
assert figures == expected, f"headline figures {figures} != {expected}"
assert page.ids.get("as-of") == "2026-11-30", page.ids.get("as-of")
for chart in ["chart-seats", "chart-activity"]:
    assert chart in page.ids, f"no {chart}"
assert "Findings (9)" in page.ids.get("findings", ""), page.ids.get("findings")
# The declared users: the keys under `users:` in the example policies.
policy = sorted({m for f in glob.glob("policies/*.yaml")
                 for m in re.findall(r"^  ([a-z0-9.-]+@[a-z0-9.-]+):", open(f, encoding="utf-8").read(), re.M)})
emails = sorted(row[0] for row in page.rows)
assert emails == sorted(policy), f"user rows {emails} != policy users {policy}"
frank = next(r for r in page.rows if r[0] == "frank.mueller@acme.com")
assert frank[6:9] == ["2026-08-03", "119", "0"] and frank[10] == "inactive-user", frank
for tag, attrs in page.tags:
    for name, value in attrs.items():
        if name in ("src", "href", "action", "srcset", "poster") or (value and ("http:" in value or "https:" in value)):
            raise SystemExit(f"<{tag} {name}={value!r}> names a resource")
print(f"   ok: headline figures, charts, 9 findings, {len(page.rows)} user rows, no resource named")
PY
requests=$(page_requests "$ART/review.netlog.json")
if [ -n "$requests" ]; then
  echo "the report page requested: $requests" >&2
  exit 1
fi
echo "   ok: the net log of the page load has no request from the page"

echo "-- control: the net-log check sees a page's request"
printf '<!DOCTYPE html><p>control</p><img src="http://review-control.invalid/pixel.png">\n' >"$ART/control.html"
browse control --dump-dom "file://$ART/control.html" >/dev/null
if ! page_requests "$ART/control.netlog.json" | grep -q 'review-control.invalid'; then
  echo "the control page's request is not in its net log: the check would see nothing" >&2
  exit 1
fi
echo "   ok: the control page's image request is caught"

echo "-- a $SIZE-user report opens"
BIG=$(mktemp -d)
trap 'rm -rf "$BIG"' EXIT
"$ORGPLAN_BIN" synth --users "$SIZE" --seed 1 -o "$BIG" >/dev/null
python3 tests/review/synth_usage.py "$BIG" 2026-11-30 1 >/dev/null
"$ORGPLAN_BIN" review -p "$BIG" --live "file:$BIG/live.json" --usage "file:$BIG/usage.json" \
  --format html -o "$ART/review-large.html"
start=$(date +%s%N)
browse review-large --dump-dom "file://$ART/review-large.html" >"$ART/review-large.dom.html"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
browse review-large-shot --window-size=1280,1200 --screenshot="$ART/review-large.png" \
  "file://$ART/review-large.html" >/dev/null
rows=$(grep -o '<tr' "$ART/review-large.dom.html" | wc -l)
users=$(grep -o 'id="fig-users">[0-9]*' "$ART/review-large.dom.html" | grep -o '[0-9]*$' || echo 0)
if [ "$users" -lt "$SIZE" ]; then
  echo "the $SIZE-user page shows $users users" >&2
  exit 1
fi
if [ "$users" -gt 5000 ] && ! grep -q 'id="rows-note"' "$ART/review-large.dom.html"; then
  echo "the $users-user page does not say its table is capped" >&2
  exit 1
fi
echo "   ok: $users users, $(du -h "$ART/review-large.html" | cut -f1) page, $rows table rows, DOM rendered in ${ms} ms"
echo "-- review report checks passed; screenshots in $ART"
