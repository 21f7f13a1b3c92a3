#!/usr/bin/env python3
"""Tests tests/browser_check.py on pages it writes to a temporary directory: a good page
passes (with a full-page screenshot), and each kind of broken page fails naming its problem.
Exits 77 (skipped) when no Chromium is installed, after checking that very notice.

    python3 tests/test_browser_check.py                 run the tests
    python3 tests/test_browser_check.py --write-good DIR  only write the good page (and its
                                                          files) into DIR, for ctest's
                                                          memwrap_add_page_check self-use
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser_check.py")
SKIP = 77


def png(width, height):
    """A small RGB gradient as PNG bytes, so the good page has a real image to decode."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\0" + bytes(c for x in range(width)
                                  for c in (255 * x // width, 255 * y // height, 160))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def page(body, title="fixture"):
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>{title}</title></head>\n<body>\n{body}\n</body></html>\n')


GOOD = page("""
<h1 id="top">Results</h1>
<table><tr><th>model</th><th>accuracy</th></tr><tr><td>mw</td><td>0.91</td></tr></table>
<svg width="200" height="100" viewBox="0 0 200 100"><polyline points="0,90 100,40 200,10"
  fill="none" stroke="steelblue" stroke-width="3"/></svg>
<p><img src="plot.png" alt="a"> <img src="img/plot%20b.png" alt="b">
   <img src="plot.png" alt="lazy" loading="lazy"></p>
<p><a href="other.html">other</a> <a href="other.html#part">part</a> <a href="#top">top</a>
   <a href="img/">folder</a> <a href="https://example.org/x">web</a>
   <a href="mailto:someone@example.org">mail</a></p>
<div style="height: 2500px; background: linear-gradient(#fff, #ccd)">tall</div>
<script>console.log("informational messages are fine"); console.info("so is this");</script>
""")


def write_good(d):
    os.makedirs(os.path.join(d, "img"), exist_ok=True)
    with open(os.path.join(d, "plot.png"), "wb") as f:
        f.write(png(64, 32))
    with open(os.path.join(d, "img", "plot b.png"), "wb") as f:
        f.write(png(16, 16))
    with open(os.path.join(d, "other.html"), "w") as f:
        f.write(page('<p id="part">other</p>'))
    with open(os.path.join(d, "good.html"), "w") as f:
        f.write(GOOD)


def run(args, env=None, timeout=120):
    t = time.monotonic()
    p = subprocess.run([sys.executable, CHECKER] + args, capture_output=True, text=True,
                       env=env, timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t


def main():
    if sys.argv[1:2] == ["--write-good"]:
        write_good(sys.argv[2])
        return 0

    d = tempfile.mkdtemp(prefix="memwrap-browser-check-test-")
    f = lambda name: os.path.join(d, name)
    write_good(d)
    with open(f("corrupt.png"), "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\nthis is not really a PNG")
    broken = {
        "absent_image.html": '<table><tr><td>x</td></tr></table><img src="absent.png">',
        "corrupt_image.html": '<img src="corrupt.png">',
        "script_error.html": '<p>x</p><script>no_such_function();</script>',
        "console_error.html": '<script>console.error("boom at step", 3)</script>',
        "console_warning.html": '<script>console.warn("careful")</script>',
        "broken_link.html": '<a href="other.html">fine</a> <a href="runs/nowhere.html#x">x</a>',
        "several.html": ('<img src="absent.png"><a href="gone.html">gone</a><script>'
                         'setTimeout(() => { throw new Error("late failure") }, 0)</script>'),
        "hang.html": '<script>while (true) {}</script>',
    }
    for name, body in broken.items():
        with open(f(name), "w") as out:
            out.write(page(body))

    # Without any Chromium the checker must say so and exit 77 (an empty PATH hides the
    # installed one). This part runs everywhere, Chromium or not.
    empty = tempfile.mkdtemp(dir=d)
    env = {k: v for k, v in os.environ.items() if k != "MEMWRAP_CHROMIUM"}
    rc, out, _ = run([f("good.html")], env=dict(env, PATH=empty))
    if rc != SKIP or "SKIPPED: no Chromium found" not in out:
        print(f"FAIL skip: expected exit 77 and the notice, got {rc}:\n{out}")
        return 1

    rc, out, _ = run([f("good.html")])
    if rc == SKIP:
        print(out.strip())
        shutil.rmtree(d)
        return SKIP

    shot = f("good-shot.png")
    private_tmp = tempfile.mkdtemp(prefix="mwbc", dir="/tmp")  # short: see browser_check.py
    cases = [
        # name, arguments, expected exit code, texts the output must contain
        ("good page passes", [f("good.html"), "--expect", "table=1", "--expect", "svg=1",
                              "--expect", "img=3", "--expect", 'a[href="other.html"]=1',
                              "--screenshot", shot],
         0, [f"ok: {f('good.html')}: 1 table, 1 svg, 3 images, no console errors"]),
        ("missing image fails", [f("absent_image.html")],
         1, ["absent.png: net::ERR_FILE_NOT_FOUND", 'img src="absent.png"> has naturalWidth 0']),
        ("undecodable image fails", [f("corrupt_image.html")],
         1, ['<img src="corrupt.png"> has naturalWidth 0']),
        ("script error fails", [f("script_error.html")],
         1, ["uncaught exception: ReferenceError: no_such_function is not defined"]),
        ("console.error fails", [f("console_error.html")], 1, ["console.error: boom at step 3"]),
        ("console.warn fails", [f("console_warning.html")], 1, ["console.warning: careful"]),
        ("broken link fails", [f("broken_link.html")],
         1, ['broken link <a href="runs/nowhere.html#x">', "1 problem\n"]),
        ("unmet --expect fails", [f("good.html"), "--expect", "img=4", "--expect", "table=1"],
         1, ["--expect img=4: found 3", "1 problem\n"]),
        ("bad selector fails", [f("good.html"), "--expect", "td[=1"], 1, ["not a valid selector"]),
        ("every problem listed", [f("several.html")],
         1, ["4 problems", "absent.png", "gone.html", "late failure"]),
        ("missing page is a usage error", [f("no-such-page.html")], 2, ["no such file"]),
    ]
    passed = failed = 0
    for name, args, want_rc, texts in cases:
        rc, out, _ = run(args)
        missing = [t for t in texts if t not in out]
        if rc == want_rc and not missing:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}: exit {rc} (wanted {want_rc}), missing {missing}\n{out}")

    # The screenshot covers the whole page, not just the 900-pixel viewport.
    try:
        width, height = png_size(shot)
        assert width >= 1280 and height >= 2500, f"screenshot is {width}x{height}"
        passed += 1
        print(f"ok   full-page screenshot ({width}x{height})")
    except (OSError, AssertionError) as e:
        failed += 1
        print(f"FAIL full-page screenshot: {e}")

    # A page that never loads times out, and the browser and its profile are gone after.
    rc, out, took = run([f("hang.html"), "--timeout", "3"], env=dict(os.environ,
                                                                       TMPDIR=private_tmp))
    left = os.listdir(private_tmp)
    alive = [pid for pid in os.listdir("/proc") if pid.isdigit() and
             private_tmp.encode() in open_cmdline(pid)]
    if rc == 1 and "timed out after 3 s" in out and took < 20 and not left and not alive:
        passed += 1
        print(f"ok   timeout cleans up ({took:.1f} s)")
    else:
        failed += 1
        print(f"FAIL timeout: exit {rc} after {took:.1f} s, left in TMPDIR {left}, "
              f"processes {alive}\n{out}")

    print(f"{passed} passed, {failed} failed")
    shutil.rmtree(private_tmp, ignore_errors=True)
    if not failed:
        shutil.rmtree(d)
    else:
        print(f"fixtures kept in {d}")
    return 1 if failed else 0


def open_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


if __name__ == "__main__":
    sys.exit(main())
