#!/usr/bin/env python3
"""Loads an HTML page in headless Chromium and fails on anything a reader would see broken.

    python3 tests/browser_check.py PAGE.html [--expect SELECTOR=MIN ...]
                                             [--screenshot OUT.png] [--timeout S]

Problems (each listed, exit 1): console messages of level error or warning, uncaught
exceptions, failed resource loads, <img> elements that did not decode (naturalWidth 0),
<a href> links to local files that do not exist, and --expect selectors matched fewer than MIN
times. Exit 0 prints one summary line; exit 2 is bad usage or a browser that would not start;
exit 77 means no Chromium was found (ctest reports it as skipped).

The browser is found as $MEMWRAP_CHROMIUM, else chromium-headless-shell (Debian's package of
that name), else chromium. It is driven over the DevTools protocol through
--remote-debugging-pipe (it reads commands on fd 3 and writes replies on fd 4, each a JSON text
ended by a NUL byte), so only the standard library is needed.
"""
import argparse
import base64
import fcntl
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SKIP = 77
SKIP_NOTICE = ("SKIPPED: no Chromium found; install chromium-headless-shell to run the "
               "page checks")
VIEWPORT = (1280, 900)
MAX_SHOT_HEIGHT = 16384  # Chromium's largest texture; taller pages are cut there
SETTLE_S = 0.3  # quiet time after load for late console messages (timers, image decodes)


class Timeout(Exception):
    pass


class BrowserError(Exception):
    pass


def find_chromium():
    """Returns the browser's path, None when none is installed; a bad $MEMWRAP_CHROMIUM is an
    error rather than a skip, since someone asked for that browser by name."""
    wanted = os.environ.get("MEMWRAP_CHROMIUM")
    if wanted:
        path = shutil.which(wanted)
        if not path:
            raise BrowserError(f"MEMWRAP_CHROMIUM={wanted} is not an executable")
        return path
    for name in ("chromium-headless-shell", "chromium"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with a throw-away profile, talking CDP over two pipes.
    Always used in a `with`: leaving it kills every browser process and removes the profile."""

    def __init__(self, binary, deadline):
        self.deadline = deadline
        self.events = []  # every event received, in order; the checks read them at the end
        self.next_id = 0
        self.buffer = b""
        self.proc = self.to_browser = self.from_browser = None
        # Chromium puts a Unix socket in $TMPDIR (set to this directory below, so that
        # everything it leaves is removed with it); such paths must fit in 108 bytes.
        base = tempfile.gettempdir()
        self.tmp = tempfile.mkdtemp(prefix="memwrap-browser-",
                                    dir=base if len(base) <= 40 else "/tmp")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        args = [binary, "--headless", "--remote-debugging-pipe",
                f"--user-data-dir={os.path.join(self.tmp, 'profile')}",
                f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--mute-audio",
                "--hide-scrollbars", "--disable-gpu", "--disable-dev-shm-usage",
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root
        try:
            self._start(args)
        except OSError as e:
            self.close()
            raise BrowserError(f"could not start {binary}: {e}") from None

    def _start(self, args):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def place_pipes():
            # In the child: move the pipe ends to fds 3 and 4, where Chromium expects them.
            # Copy above 10 first so that neither dup2 clobbers the other end.
            r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        try:
            with open(self.stderr_path, "wb") as err:
                # A new session, so that close() can kill the whole group: Debian's wrappers
                # run the real binary as a child rather than exec it, and Chromium forks
                # helpers.
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err,
                                             pass_fds=(3, 4), preexec_fn=place_pipes,
                                             start_new_session=True,
                                             # its stray temporary files land in ours too
                                             env=dict(os.environ, TMPDIR=self.tmp))
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc is not None:
            # Ask first, so Chromium reaps its own helpers (killed, they linger as zombies
            # until init collects them); then kill the group in any case. The leader is
            # waited for without being reaped, so the group's id cannot be reused meanwhile.
            try:
                self.send("Browser.close")
            except (BrowserError, OSError):
                pass
            end = time.monotonic() + 3
            while time.monotonic() < end and not os.waitid(
                    os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG):
                time.sleep(0.02)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None
        for fd in (self.to_browser, self.from_browser):
            if fd is not None:
                os.close(fd)
        self.to_browser = self.from_browser = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stderr_tail(self, lines=20):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            try:
                data = data[os.write(self.to_browser, data):]
            except BrokenPipeError:
                raise BrowserError("the browser closed its DevTools pipe") from None
        return self.next_id

    def receive(self):
        """Next message, as a dict; raises Timeout past the deadline."""
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Timeout()
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("the browser exited unexpectedly")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None):
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        wanted = self.send(method, params, session)
        while True:
            msg = self.receive()
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, match, since=0):
        """Waits for an event for which match(event) holds, among those received from
        index `since` on."""
        if any(match(msg) for msg in self.events[since:]):
            return
        while True:
            msg = self.receive()
            if "method" in msg:
                self.events.append(msg)
                if match(msg):
                    return

    def drain(self, seconds):
        """Keeps collecting events for a short while (bounded by the deadline)."""
        end = min(time.monotonic() + seconds, self.deadline)
        saved, self.deadline = self.deadline, end
        try:
            while True:
                msg = self.receive()
                if "method" in msg:
                    self.events.append(msg)
        except Timeout:
            pass
        finally:
            self.deadline = saved


# Runs in the page after load: waits for every image (lazy ones made eager), then reports what
# the checks need. Resolves to a JSON-able object.
PAGE_SCRIPT = r"""
(async (selectors) => {
  const imgs = [...document.images];
  for (const img of imgs) if (img.loading === 'lazy') img.loading = 'eager';
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  const counts = {};
  for (const sel of selectors) {
    try { counts[sel] = document.querySelectorAll(sel).length; }
    catch (e) { counts[sel] = String(e.message || e); }
  }
  const root = document.documentElement;
  return {
    tables: document.querySelectorAll('table').length,
    svgs: document.querySelectorAll('svg').length,
    images: imgs.length,
    brokenImages: imgs.filter(img => img.naturalWidth === 0)
                      .map(img => img.getAttribute('src') || img.outerHTML.slice(0, 80)),
    links: [...document.querySelectorAll('a[href]')]
             .map(a => [a.getAttribute('href'), a.href]),
    counts: counts,
    width: Math.max(root.scrollWidth, document.body ? document.body.scrollWidth : 0),
    height: Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0),
  };
})
"""


def remote_text(arg):
    """A console argument (a CDP RemoteObject) as the console would print it."""
    if "value" in arg:
        return str(arg["value"])
    return arg.get("description") or arg.get("unserializableValue") or arg.get("type", "?")


def where(url, line):
    name = urllib.parse.unquote(url.rsplit("/", 1)[-1]) if url else ""
    return f" ({name}:{line + 1})" if name and line is not None else ""


def event_problems(events):
    """Console errors and warnings, uncaught exceptions and failed loads, in arrival order."""
    problems = []
    urls = {}  # Network requestId -> URL, to name what failed
    failed_urls = set()
    for ev in events:
        method, p = ev["method"], ev.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[p["requestId"]] = p["request"]["url"]
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            url = urls.get(p["requestId"], "?")
            failed_urls.add(url)
            problems.append(f"failed to load {url}: {p.get('errorText', '')}".rstrip(": "))
    for ev in events:
        method, p = ev["method"], ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning",
                                                                        "assert"):
            frames = (p.get("stackTrace") or {}).get("callFrames") or [{}]
            text = " ".join(remote_text(a) for a in p.get("args", []))
            problems.append(f"console.{p['type']}: {text}"
                            f"{where(frames[0].get('url'), frames[0].get('lineNumber'))}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = (d.get("exception") or {}).get("description") or d.get("text", "")
            problems.append(f"uncaught exception: {text.splitlines()[0] if text else '?'}"
                            f"{where(d.get('url'), d.get('lineNumber'))}")
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            # A failed load is also logged here; it is already listed above.
            if e.get("level") in ("error", "warning") and e.get("url") not in failed_urls:
                problems.append(f"{e.get('source', 'browser')} {e['level']}: {e.get('text')}"
                                f"{where(e.get('url'), e.get('lineNumber'))}")
    return problems


def missing_links(links):
    """Relative (or file:) links whose target is not on disk; web links and #fragments are
    not checked. Chromium has already resolved each href against the page (and any <base>)."""
    problems = []
    for raw, resolved in links:
        if raw.startswith("#"):
            continue
        url = urllib.parse.urlsplit(resolved)
        if url.scheme != "file":
            continue
        path = urllib.request.url2pathname(url.path)
        if not os.path.exists(path):
            problems.append(f'broken link <a href="{raw}">: {path} does not exist')
    return problems


def parse_expect(text):
    # rsplit: selectors may contain '=' themselves (a[href="x"]=2)
    sel, sep, num = text.rpartition("=")
    if not sep or not sel or not num.isdigit():
        raise argparse.ArgumentTypeError(f"expected SELECTOR=MIN, got {text!r}")
    return sel, int(num)


def check(binary, page, expects, screenshot, timeout):
    """Returns (problems, summary facts)."""
    deadline = time.monotonic() + timeout
    with Browser(binary, deadline) as b:
        try:
            target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = b.call("Target.attachToTarget",
                         {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                b.call(f"{domain}.enable", session=sid)
            b.call("Emulation.setDeviceMetricsOverride",
                   {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1,
                    "mobile": False}, sid)
            # The load event of this navigation, told from about:blank's by its loaderId
            # (it may arrive before the reply to Page.navigate).
            b.call("Page.setLifecycleEventsEnabled", {"enabled": True}, sid)
            since = len(b.events)
            nav = b.call("Page.navigate", {"url": page.as_uri()}, sid)
            if nav.get("errorText"):
                return [f"could not open the page: {nav['errorText']}"], None
            b.wait_for(lambda ev: ev["method"] == "Page.lifecycleEvent"
                       and ev["params"]["name"] == "load"
                       and ev["params"]["loaderId"] == nav.get("loaderId"), since)
            res = b.call("Runtime.evaluate",
                         {"expression": f"{PAGE_SCRIPT}({json.dumps([sel for sel, _ in expects])})",
                          "awaitPromise": True, "returnByValue": True}, sid)
            if "exceptionDetails" in res:
                raise BrowserError(f"page script failed: {res['exceptionDetails'].get('text')}")
            facts = res["result"]["value"]
            b.drain(SETTLE_S)
            if screenshot:
                write_screenshot(b, sid, facts, screenshot)
        except Timeout:
            # What arrived before the timeout (a script error, say) may explain it.
            return ([f"timed out after {timeout:g} s (the page never finished loading?)"]
                    + event_problems(b.events)), None
        except BrowserError as e:
            tail = b.stderr_tail()
            raise BrowserError(f"{e}\n--- browser stderr (last lines) ---\n{tail}") from None
    problems = event_problems(b.events)
    problems += [f"image did not load: <img src=\"{src}\"> has naturalWidth 0"
                 for src in facts["brokenImages"]]
    problems += missing_links(facts["links"])
    for sel, least in expects:
        n = facts["counts"][sel]
        if isinstance(n, str):
            problems.append(f"--expect {sel}: not a valid selector ({n})")
        elif n < least:
            problems.append(f"--expect {sel}={least}: found {n}")
    return problems, facts


def write_screenshot(b, sid, facts, out):
    # The viewport grows to the whole page first, so the capture is the full page (and
    # captureBeyondViewport covers browsers where that alone is not enough).
    width = max(VIEWPORT[0], facts["width"])
    height = min(max(VIEWPORT[1], facts["height"]), MAX_SHOT_HEIGHT)
    b.call("Emulation.setDeviceMetricsOverride",
           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, sid)
    shot = b.call("Page.captureScreenshot",
                  {"format": "png", "captureBeyondViewport": True,
                   "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
                  sid)
    tmp = f"{out}.tmp"
    with open(tmp, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    os.replace(tmp, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page", help="the HTML file to load")
    ap.add_argument("--expect", action="append", default=[], type=parse_expect,
                    metavar="SELECTOR=MIN", help="fail unless SELECTOR matches >= MIN times")
    ap.add_argument("--screenshot", metavar="OUT.png", help="write a full-page PNG")
    ap.add_argument("--timeout", type=float, default=30.0, metavar="S",
                    help="give up after S seconds (default 30)")
    args = ap.parse_args()
    page = pathlib.Path(args.page).resolve()
    if not page.is_file():
        print(f"browser_check: {args.page}: no such file", file=sys.stderr)
        return 2
    # ctest and CI stop tests with SIGTERM: turn it into an exit so the browser is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        binary = find_chromium()
        if binary is None:
            print(SKIP_NOTICE)
            return SKIP
        problems, facts = check(binary, page, args.expect, args.screenshot, args.timeout)
    except BrowserError as e:
        print(f"browser_check: {args.page}: {e}", file=sys.stderr)
        return 2
    if problems:
        print(f"FAIL: {args.page}: {len(problems)} problem{'s' * (len(problems) != 1)}")
        for p in problems:
            print(f"  - {p}")
        return 1
    n = lambda k, one, many: f"{facts[k]} {one if facts[k] == 1 else many}"
    print(f"ok: {args.page}: {n('tables', 'table', 'tables')}, {facts['svgs']} svg, "
          f"{n('images', 'image', 'images')}, no console errors"
          + (f" (screenshot: {args.screenshot})" if args.screenshot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
