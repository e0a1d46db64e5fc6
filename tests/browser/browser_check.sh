#!/usr/bin/env bash
# browser_check.sh - a real browser against one of the tour's HTTP servers.
#
# Usage: browser_check.sh SERVER DOCS_DIR [--iterative]
#
# Serves a copy of DOCS_DIR (docs/) with SERVER on a free port, plus a test
# page that holds every page of the tour in an iframe: headless Chromium
# loads them over parallel keep-alive connections, as it would for a
# reader. When everything has loaded, the page's script writes what the
# browser rendered into the DOM (each frame's title and first line, the
# index's chapter cards) and every request's HTTP status (the Resource
# Timing API); Chromium prints that DOM (--dump-dom) and this script
# checks it against the files. Then the server's own log: every request
# answered 200, fewer connections than requests (keep-alive was used),
# and exit status 0 on SIGTERM. --iterative (chapter 1's server, one
# connection at a time): a kept-alive connection is closed as soon as
# another client waits, so with the browser's parallel connections each
# request may get its own; only the rest is checked.
#
# Exit status 0 when all holds, 1 when not (with the reason), 77 (skipped,
# with the reason) when Chromium is not installed.
set -euo pipefail

server=$1
docs=$2
iterative=${3:-}
browser=$(command -v chromium || command -v chromium-browser ||
          command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "SKIP: no Chromium on PATH (apt-get install chromium)"
    exit 77
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- server log"; cat "$tmp/server.out" "$tmp/server.err" 2>/dev/null
    echo "--- rendered"; cat "$tmp/result" 2>/dev/null || true
    exit 1
}

# The docroot: the tour's pages and the test page framing each of them.
mkdir "$tmp/www"
cp -R "$docs"/. "$tmp/www/"
pages=(index.html)
for f in "$tmp"/www/*.md; do
    pages+=("$(basename "$f")")
done
{
    echo '<!DOCTYPE html><html><head><meta charset="utf-8">'
    echo '<link rel="icon" href="data:,"><title>browser check</title></head><body>'
    for p in "${pages[@]}"; do
        echo "<iframe src=\"$p\"></iframe>"
    done
    cat <<'HTML'
<pre id="result"></pre>
<script>
// After the load event every frame has loaded (or failed): report what
// was rendered and how each request ended, one line each.
window.addEventListener('load', function () {
  var out = [];
  document.querySelectorAll('iframe').forEach(function (f) {
    var d = f.contentDocument;
    var first = d && d.body ? d.body.innerText.split('\n')[0] : '(none)';
    var cards = d ? d.querySelectorAll('.cards li').length : -1;
    out.push('frame ' + f.getAttribute('src') + ' | ' + (d ? d.title : '') +
             ' | ' + cards + ' | ' + first);
  });
  performance.getEntriesByType('resource').forEach(function (e) {
    out.push('status ' + e.responseStatus + ' ' + e.name);
  });
  out.push('done');
  document.getElementById('result').textContent = out.join('\n');
});
</script></body></html>
HTML
} >"$tmp/www/check.html"

# The server, on a free port; wait (bounded) for its "listening on" line.
"$server" 0 "$tmp/www" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
port=
for _ in $(seq 200); do
    port=$(sed -n '1s/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/server.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start"
    sleep 0.05
done
[ -n "$port" ] || fail "no 'listening on' line from the server within 10 s"

# The browser. --no-sandbox: CI runs as root, where Chromium's sandbox
# refuses to start.
timeout 90 "$browser" --headless --no-sandbox --disable-gpu \
    --user-data-dir="$tmp/profile" --no-first-run \
    --dump-dom "http://127.0.0.1:$port/check.html" \
    >"$tmp/dom" 2>"$tmp/browser.err" || {
    cat "$tmp/browser.err"; fail "chromium failed (status $?)"; }
sed -n '/<pre id="result">/,/<\/pre>/p' "$tmp/dom" |
    sed -e 's/<pre id="result">//' -e 's/<\/pre>//' \
        -e 's/&amp;/\&/g' -e 's/&lt;/</g' -e 's/&gt;/>/g' >"$tmp/result"
grep -qx done "$tmp/result" || fail "the page's report is missing"

# What the browser rendered, against the files.
for p in "${pages[@]}"; do
    line=$(grep -F "frame $p | " "$tmp/result") || fail "no frame for $p"
    if [ "$p" = index.html ]; then
        title=$(sed -n 's:.*<title>\(.*\)</title>.*:\1:p' "$docs/index.html")
        cards=$(grep -c '^ *<li[ >]' "$docs/index.html")
        want="frame index.html | $title | $cards | "
        case "$line" in "$want"*) ;; *) fail "index.html: '$line', want '$want...'";; esac
    else
        first=$(head -n 1 "$docs/$p")
        [ "$line" = "frame $p |  | 0 | $first" ] ||
            fail "$p rendered as '$line', first line of the file is '$first'"
    fi
    grep -qx "status 200 http://127.0.0.1:$port/$p" "$tmp/result" ||
        fail "$p: no 200 in the browser's resource timing"
done
bad=$(grep '^status ' "$tmp/result" | grep -v '^status 200 ' || true)
[ -z "$bad" ] || fail "requests that did not end in 200: $bad"

# The server's side: stop it, then read its log.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[ "$status" = 0 ] || fail "the server exited with status $status on SIGTERM"
requests=$(grep -c '^\[[0-9]*\] GET ' "$tmp/server.out" || true)
answered=$(grep -c '^\[[0-9]*\] GET /[^ ]* 200$' "$tmp/server.out" || true)
connections=$(grep -c '^\[[0-9]*\] connected from ' "$tmp/server.out" || true)
want=$((${#pages[@]} + 1))
[ "$requests" = "$want" ] || fail "$requests requests in the log, want $want"
[ "$answered" = "$requests" ] || fail "only $answered of $requests requests answered 200"
if [ "$iterative" != --iterative ]; then
    [ "$connections" -lt "$requests" ] ||
        fail "$connections connections for $requests requests: no keep-alive"
fi
echo "ok: ${#pages[@]} pages rendered, $requests requests on $connections connections, all 200"
