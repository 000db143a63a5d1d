"""`python3 -m scratchcv.cluster classify` on a Dask LocalCluster (2 worker processes on
127.0.0.1) over 300+ small photo files: one line per photo, identical to single-process
`scratchcv classify --jsonl` (but for the timing field); a worker killed mid-way; --resume after
an interrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import DARKNET, SAMPLE, SKIMAGE, run_cli

OPTS = ["--crop", "32", "--resize", "36", "--topk", "3"]
N_PHOTOS = 310


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """310 variants of the test photos (small, crops/flips/sizes, JPEG and PNG) in nested
    folders, plus two unreadable files."""
    d = tmp_path_factory.mktemp("cluster") / "photos"
    src = [SAMPLE] + [os.path.join(DARKNET, n) for n in ("dog.jpg", "eagle.jpg", "horses.jpg",
                                                         "kite.jpg", "person.jpg")]
    src += [os.path.join(SKIMAGE, n) for n in ("astronaut.png", "chelsea.png", "coffee.png",
                                               "rocket.jpg")]
    imgs = [Image.open(p).convert("RGB") for p in src if os.path.exists(p)]
    rng = np.random.default_rng(0)
    for i in range(N_PHOTOS - 2):
        img = imgs[i % len(imgs)]
        w, h = img.size
        x0, y0 = int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4))
        v = img.crop((x0, y0, x0 + w * 3 // 4, y0 + h * 3 // 4))
        v = v.resize((int(rng.integers(48, 112)), int(rng.integers(48, 112))))
        if i % 3 == 1:
            v = v.transpose(Image.FLIP_LEFT_RIGHT)
        sub = d / f"set{i % 4}" / ("deep" if i % 5 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        v.save(sub / f"v{i:03d}.{'png' if i % 4 == 0 else 'jpg'}")
    (d / "set0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (d / "set1" / "text.png").write_text("not a png")
    (d / "set1" / "notes.txt").write_text("ignored")
    return d


@pytest.fixture(scope="module")
def reference(cli, model, photo_dir):
    """Single-process `classify --jsonl --recursive` (1 thread, like each cluster task)."""
    r = run_cli(cli, "classify", photo_dir, "--recursive", "--jsonl", "--model", model,
                "--threads", 1, *OPTS, check=False)
    assert r.returncode == 1  # the two unreadable files
    lines = r.stdout.splitlines()
    assert len(lines) == N_PHOTOS
    return lines


def without_ms(line):
    rec = json.loads(line)
    rec.pop("ms", None)
    return json.dumps(rec, sort_keys=True)


def check_output(path, reference):
    lines = open(path).read().splitlines()
    files = [json.loads(l)["file"] for l in lines]
    assert len(files) == len(set(files)), "duplicate lines"
    assert len(lines) == len(reference), f"{len(lines)} lines, expected {len(reference)}"
    assert sorted(map(without_ms, lines)) == sorted(map(without_ms, reference))


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import Client, LocalCluster
    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address=None)
    client = Client(c)
    yield c, client
    client.close()
    c.close()


def command(model, photo_dir, out, scheduler, *extra):
    return [sys.executable, "-m", "scratchcv.cluster", "classify", "--scheduler", scheduler,
            str(photo_dir), "--out", str(out), "--model", model, "--batch", "8", *OPTS, *extra]


def start_run(model, photo_dir, out, scheduler, lines, timeout=60):
    """Starts a cluster run in the background; returns its Popen once `out` holds `lines` lines
    (the test fails, and the run is stopped, when it ends or stalls before)."""
    proc = subprocess.Popen(command(model, photo_dir, out, scheduler),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if os.path.exists(out) and open(out).read().count("\n") >= lines:
            return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail(f"no progress: fewer than {lines} lines in {out}")


def test_local_cluster_matches_cli(model, photo_dir, reference, tmp_path):
    out = tmp_path / "local.jsonl"
    r = subprocess.run(command(model, photo_dir, out, "local:2"), capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]  # 1: the two unreadable files, as the CLI
    check_output(out, reference)
    # Without --resume an existing output is not overwritten.
    r = subprocess.run(command(model, photo_dir, out, "local:2"), capture_output=True, text=True)
    assert r.returncode == 2 and "--resume" in r.stderr


def test_killed_worker_no_duplicates_no_gaps(model, photo_dir, reference, cluster, tmp_path):
    c, client = cluster
    out = tmp_path / "killed.jsonl"
    proc = start_run(model, photo_dir, out, c.scheduler_address, 40)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-2000:]
    check_output(out, reference)
    # The nanny restarted the worker: two workers again for the next test.
    client.wait_for_workers(2, timeout=30)


def test_resume_after_interruption(model, photo_dir, reference, cluster, tmp_path):
    c, _ = cluster
    out = tmp_path / "resumed.jsonl"
    proc = start_run(model, photo_dir, out, c.scheduler_address, 100)
    proc.kill()  # the client dies mid-way (its tasks are released by the scheduler)
    proc.wait()
    done = open(out).read().count("\n")
    assert 100 <= done < N_PHOTOS
    with open(out, "a") as f:
        f.write('{"file": "torn')  # what a crash in the middle of a write leaves
    r = subprocess.run(command(model, photo_dir, out, c.scheduler_address, "--resume"),
                       capture_output=True, text=True)
    # Exit 1 only if one of the two unreadable files was left for this run.
    assert r.returncode in (0, 1) and "not classified" not in r.stderr, r.stderr[-2000:]
    assert f"{done} of {N_PHOTOS} photos already done, {N_PHOTOS - done} to go" in r.stderr
    assert f"\n{N_PHOTOS - done} photos in " in "\n" + r.stderr
    check_output(out, reference)
    # Nothing left: a third run does nothing.
    r = subprocess.run(command(model, photo_dir, out, c.scheduler_address, "--resume"),
                       capture_output=True, text=True)
    assert r.returncode == 0 and f"{N_PHOTOS} of {N_PHOTOS} photos already done" in r.stderr


def test_cli_resume_matches(cli, model, photo_dir, reference, tmp_path):
    """The CLI's own --resume: interrupted run (a prefix plus a torn line), then resumed."""
    out = tmp_path / "cli.jsonl"
    out.write_text("\n".join(reference[:50]) + "\n" + reference[50][:30])
    r = run_cli(cli, "classify", photo_dir, "--recursive", "--resume", out, "--model", model,
                "--threads", 1, *OPTS, check=False)
    assert f"50 of {N_PHOTOS} photos already done, {N_PHOTOS - 50} to go" in r.stderr
    check_output(out, reference)
