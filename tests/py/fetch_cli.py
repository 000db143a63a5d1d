#!/usr/bin/env python3
"""End-to-end tests of `scratchcv fetch` against tests/py/fetch_server.py on 127.0.0.1.

usage: fetch_cli.py PATH/TO/scratchcv
Test files are generated here with names that carry their SHA-256 prefix (computed by
hashlib, so a successful fetch also cross-checks our SHA-256 against Python's).
"""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetch_server  # noqa: E402

CLI = None
TORCHVISION_RESNET = "/usr/lib/python3/dist-packages/torchvision/models/resnet.py"


def make_file(root, stem, size, seed, full_hash=False):
    data = bytes((i * 2654435761 + seed * 97 + (i >> 7)) & 0xFF for i in range(size))
    h = hashlib.sha256(data).hexdigest()
    name = "%s-%s.pth" % (stem, h if full_hash else h[:8])
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)
    return name, data


class FetchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="scv_fetch_")
        cls.served = os.path.join(cls.tmp, "served")
        os.mkdir(cls.served)
        cls.name, cls.data = make_file(cls.served, "testnet", 300_001, 1)
        cls.full_name, cls.full_data = make_file(cls.served, "fullhash", 1_048_589, 2, True)
        cls.server = fetch_server.Server(cls.served, stall_seconds=8).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.cache = tempfile.mkdtemp(dir=self.tmp, prefix="cache_")
        self.server.log.clear()

    def url(self, mode):
        return "http://127.0.0.1:%d/%s/" % (self.server.port, mode)

    def run_cli(self, *args, env=None):
        e = dict(os.environ)
        for k in ("SCV_CACHE_DIR", "SCV_MODEL_BASE_URL", "XDG_CACHE_HOME"):
            e.pop(k, None)
        e.update(env or {})
        return subprocess.run([CLI, "fetch", *args], capture_output=True, text=True, env=e,
                              timeout=60)

    def fetch(self, mode, name=None, *extra):
        return self.run_cli("--file", name or self.name, "--base-url", self.url(mode), "--cache",
                            self.cache, *extra)

    def final(self, name=None):
        return os.path.join(self.cache, name or self.name)

    def assert_no_final(self, r, *words, name=None):
        name = name or self.name
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.final(name)), "file under the final name after failure")
        lines = r.stderr.strip().splitlines()
        msg = lines[-1]
        self.assertTrue(msg.startswith("scratchcv fetch: "), r.stderr)
        for w in words:
            self.assertIn(w, msg)
        # The error says which URL to download by hand and where to put it.
        self.assertRegex(msg, r"download http://127\.0\.0\.1:\d+/\w+/%s to %s$" %
                         (re.escape(name), re.escape(self.final(name))))
        return msg

    def assert_good(self, r, name=None, data=None):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.final(name))
        with open(self.final(name), "rb") as f:
            self.assertEqual(f.read(), data if data is not None else self.data)
        self.assertFalse(os.path.exists(self.final(name) + ".part"))

    def make_part(self, content):
        with open(self.final() + ".part", "wb") as f:
            f.write(content)

    # -- success paths ---------------------------------------------------------------------------
    def test_good_download_lands_in_cache(self):
        r = self.fetch("good")
        self.assert_good(r)
        self.assertIn("downloading " + self.url("good") + self.name, r.stderr)
        self.assertIn("took", r.stderr)  # final progress line (stderr is not a TTY here)
        # ... in the progress style of every command: bar, done/total, rate, time taken
        self.assertRegex(r.stderr, r"\[#{30}\] [\d.]+/[\d.]+ MB  [\d.]+ MB/s  took [\d.]+s")
        self.assertEqual(self.server.log, [("good", self.name, None)])
        # Second run: verified copy already there, no request.
        r2 = self.fetch("good")
        self.assert_good(r2)
        self.assertIn("already in the cache", r2.stderr)
        self.assertEqual(len(self.server.log), 1)

    def test_full_length_hash_matches_hashlib(self):
        r = self.fetch("good", self.full_name)
        self.assert_good(r, self.full_name, self.full_data)

    def test_redirect_is_followed(self):
        self.assert_good(self.fetch("redirect"))
        self.assertEqual([m for m, _, _ in self.server.log], ["redirect", "good"])

    def test_corrupt_cached_file_is_replaced(self):
        with open(self.final(), "wb") as f:
            f.write(b"not the model")
        r = self.fetch("good")
        self.assert_good(r)
        self.assertIn("downloading it again", r.stderr)

    def test_env_cache_and_base_url(self):
        env_cache = os.path.join(self.cache, "from_env", "nested")
        r = self.run_cli("--file", self.name, "--quiet",
                         env={"SCV_CACHE_DIR": env_cache, "SCV_MODEL_BASE_URL": self.url("good")})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), os.path.join(env_cache, self.name))
        self.assertEqual(r.stderr, "")  # --quiet
        self.assertTrue(os.path.isfile(os.path.join(env_cache, self.name)))

    # -- failures: nothing under the final name, a one-line reason -------------------------------
    def test_checksum_mismatch(self):
        msg = self.assert_no_final(self.fetch("wrong"), "checksum mismatch",
                                   self.url("wrong") + self.name)
        self.assertIn("should start with " + self.name.split("-")[1][:8], msg)
        self.assertFalse(os.path.exists(self.final() + ".part"), "bad download kept")

    def test_server_error(self):
        self.assert_no_final(self.fetch("error500"), "HTTP 500", self.url("error500") + self.name)
        self.assertFalse(os.path.exists(self.final() + ".part"))

    def test_not_found(self):
        self.assert_no_final(self.fetch("good", "absent-0123abcd.pth"), "HTTP 404",
                             name="absent-0123abcd.pth")

    def test_connection_refused(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        base = "http://127.0.0.1:%d/models/" % port
        r = self.run_cli("--file", self.name, "--base-url", base, "--cache", self.cache)
        self.assertNotEqual(r.returncode, 0)
        msg = r.stderr.strip().splitlines()[-1]
        self.assertIn("cannot connect", msg)
        self.assertIn("download %s%s to %s" % (base, self.name, self.final()), msg)
        self.assertFalse(os.path.exists(self.final()))

    def test_interrupted_then_resumed(self):
        msg = self.assert_no_final(self.fetch("truncate"), "interrupted",
                                   self.url("truncate") + self.name)
        self.assertIn("partial download kept", msg)
        part = self.final() + ".part"
        half = len(self.data) // 2
        self.assertEqual(os.path.getsize(part), half)
        self.server.log.clear()
        r = self.fetch("good")
        self.assert_good(r)
        self.assertIn("resuming", r.stderr)
        self.assertEqual(self.server.log, [("good", self.name, "bytes=%d-" % half)])

    def test_resume_when_server_ignores_range(self):
        self.make_part(self.data[:1000])
        r = self.fetch("norange")
        self.assert_good(r)
        self.assertIn("ignored the request to resume at byte 1000", r.stderr)
        self.assertEqual(self.server.log, [("norange", self.name, "bytes=1000-")])

    def test_resume_with_bad_prefix_restarts_from_zero(self):
        self.make_part(b"\x00" * 5000)
        r = self.fetch("good")
        self.assert_good(r)
        self.assertIn("failed its checksum; starting again", r.stderr)
        self.assertEqual([g for _, _, g in self.server.log], ["bytes=5000-", None])

    def test_resume_of_complete_part(self):
        self.make_part(self.data)  # server answers 416: nothing after the end
        self.assert_good(self.fetch("good"))
        self.assertEqual(self.server.log, [("good", self.name, "bytes=%d-" % len(self.data))])

    def test_resume_answered_with_wrong_range(self):
        self.make_part(self.data[:7000])
        self.assert_good(self.fetch("badrange"))
        self.assertEqual([g for _, _, g in self.server.log], ["bytes=7000-", None])

    def test_stalled_transfer_times_out(self):
        msg = self.assert_no_final(self.fetch("stall", None, "--timeout", "1"), "timed out")
        self.assertTrue(os.path.exists(self.final() + ".part"))

    # -- the real table and argument errors ------------------------------------------------------
    def test_list_matches_torchvision(self):
        with open(TORCHVISION_RESNET) as f:
            names = re.findall(r'url="https://download\.pytorch\.org/models/([^"]+)"', f.read())
        self.assertGreaterEqual(len(names), 17)
        r = self.run_cli("--list", "--cache", self.cache)
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = re.findall(r"\S+\.pth", r.stdout)
        self.assertEqual(sorted(listed), sorted(names))
        self.assertIn("# cache: " + self.cache, r.stdout)
        for n in ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth", "wide_resnet50_2-9ba9bcbe.pth"):
            self.assertIn(n, r.stdout)

    def test_default_cache_locations(self):
        r = self.run_cli("--list", env={"XDG_CACHE_HOME": "/xdg"})
        self.assertIn("# cache: /xdg/scratchcv\n", r.stdout)
        r = self.run_cli("--list", env={"HOME": "/home/someone"})
        self.assertIn("# cache: /home/someone/.cache/scratchcv\n", r.stdout)
        r = self.run_cli("--list", env={"SCV_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/xdg"})
        self.assertIn("# cache: /c\n", r.stdout)

    def test_arch_requests_official_names(self):
        for weights, name in (("V1", "resnet50-0676ba61.pth"), ("v2", "resnet50-11ad3fa6.pth"),
                              ("DEFAULT", "resnet50-11ad3fa6.pth")):
            self.server.log.clear()
            r = self.run_cli("resnet50", "--weights", weights, "--base-url", self.url("good"),
                             "--cache", self.cache)
            self.assertNotEqual(r.returncode, 0)
            msg = r.stderr.strip().splitlines()[-1]
            self.assertIn("HTTP 404", msg)
            self.assertIn("download %s%s to %s/%s" % (self.url("good"), name, self.cache, name),
                          msg)
            self.assertEqual(self.server.log, [("good", name, None)])

    def test_bad_arguments(self):
        r = self.run_cli("resnet51")
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown architecture 'resnet51'", r.stderr)
        r = self.run_cli("resnet18", "--weights", "V2")
        self.assertIn("no weights 'V2' for resnet18", r.stderr)
        r = self.run_cli("--file", "model.pth", "--cache", self.cache)
        self.assertIn("carries no SHA-256 prefix", r.stderr)
        r = self.run_cli("--file", "../evil-0123abcd.pth", "--cache", self.cache)
        self.assertIn("bad file name", r.stderr)
        r = self.run_cli()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("which model?", r.stderr)


if __name__ == "__main__":
    CLI = sys.argv.pop(1)
    unittest.main(verbosity=2)
