"""Classify many photos on a Dask cluster (one machine or many).

    python3 -m scratchcv.cluster classify --scheduler ADDRESS|local:N DIR... --out results.jsonl
        [--model M] [--batch B] [--resume] [--topk K] [--threads T] [--resize N] [--crop N]

Lists the photos under DIR (recursively, as `scratchcv classify --recursive`), splits them into
tasks of B photos, and writes one JSON line per photo to --out as tasks finish, in the schema of
`scratchcv classify --jsonl` (same lines, in completion order). Each worker loads the model once
and keeps it. A worker that dies has its tasks re-run by Dask on the others; the client writes
each task's lines exactly once. --resume skips photos already in --out (a torn last line of an
interrupted run is dropped first) and appends the others.

--scheduler local:N starts a cluster of N worker processes on this machine; otherwise give the
address of a running `dask scheduler` (workers: `dask worker ADDRESS --nthreads 1`). Photo paths
and the model path must be valid on every worker (a shared filesystem); relative paths are taken
from this directory.
"""
import argparse
import json
import os
import sys
import time


def _parse(argv):
    p = argparse.ArgumentParser(prog="python3 -m scratchcv.cluster",
                                description="Classify photos on a Dask cluster.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classify", help="classify every photo under DIR... into a JSONL file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("dirs", nargs="+", metavar="DIR", help="photo folders (searched recursively) or files")
    c.add_argument("--scheduler", required=True,
                   help="Dask scheduler address (tcp://host:8786) or local:N for N local workers")
    c.add_argument("--out", required=True, help="JSONL output file")
    c.add_argument("--model", default=None, help="model file or architecture name (default: resnet50)")
    c.add_argument("--batch", type=int, default=16, help="photos per task (default 16)")
    c.add_argument("--resume", action="store_true", help="continue --out: skip photos already in it")
    c.add_argument("--topk", type=int, default=5, help="classes per photo (default 5)")
    c.add_argument("--threads", type=int, default=1, help="threads per classifier (default 1)")
    c.add_argument("--resize", type=int, default=None, help="shorter side before cropping")
    c.add_argument("--crop", type=int, default=224, help="centre crop size (default 224)")
    c.add_argument("--retries", type=int, default=3,
                   help="resubmit a task that failed (e.g. its workers kept dying) this often")
    return p.parse_args(argv)


def _fail(msg, code=2):
    print(f"scratchcv.cluster: {msg}", file=sys.stderr)
    return code


def classify(args):
    import scratchcv
    from . import _cluster_worker

    if args.batch < 1 or args.topk < 1 or args.threads < 1 or args.retries < 0:
        return _fail("--batch, --topk and --threads must be >= 1, --retries >= 0")
    try:
        files = scratchcv._scratchcv.list_image_files(args.dirs, True)
    except scratchcv.Error as e:
        return _fail(str(e))
    total = len(files)
    if args.resume:
        try:
            done = set(scratchcv._scratchcv.jsonl_done_files(args.out, True))
        except scratchcv.Error as e:
            return _fail(str(e))
        files = [f for f in files if f not in done]
        print(f"{args.out}: {total - len(files)} of {total} photos already done, "
              f"{len(files)} to go", file=sys.stderr, flush=True)
        if not files:
            return 0
    elif os.path.exists(args.out) and os.path.getsize(args.out) > 0:
        return _fail(f"{args.out} exists: pass --resume to continue it, or remove it")
    if args.model and os.path.sep in args.model and not os.path.exists(args.model):
        return _fail(f"{args.model}: no such model file")
    model = os.path.abspath(args.model) if args.model and os.path.exists(args.model) else args.model
    opts = tuple(sorted({"model": model, "threads": args.threads, "crop": args.crop,
                         "resize": args.resize}.items()))
    # Check the options once here, so a bad model is one clear error, not a failure per task.
    try:
        scratchcv.Classifier(model, 1, crop=args.crop, resize=args.resize)
    except (scratchcv.Error, ValueError, FileNotFoundError) as e:
        return _fail(str(e))

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if args.scheduler.startswith("local:"):
        try:
            n = int(args.scheduler[len("local:"):])
            assert n >= 1
        except (ValueError, AssertionError):
            return _fail(f"--scheduler local:N needs a worker count N >= 1, got '{args.scheduler}'")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(args.scheduler, timeout="20s")
        except OSError as e:
            return _fail(f"cannot reach the scheduler at {args.scheduler}: {e}")

    cwd = os.getcwd()
    batches = [files[i:i + args.batch] for i in range(0, len(files), args.batch)]
    written = set()
    failed = errors = 0
    shown = 0.0
    t0 = time.perf_counter()
    try:
        with open(args.out, "a", encoding="utf-8") as out:
            def submit(i, attempt):
                f = client.submit(_cluster_worker.classify_batch, batches[i], cwd, opts,
                                  args.topk, key=f"scratchcv-classify-{os.getpid()}-{i}-{attempt}",
                                  pure=False)
                meta[f.key] = (i, attempt)
                return f

            meta = {}
            pending = as_completed([submit(i, 0) for i in range(len(batches))])
            for fut in pending:
                i, attempt = meta.pop(fut.key)
                try:
                    lines = fut.result()
                except Exception as e:  # a task's workers kept dying, or the task raised
                    if attempt < args.retries:
                        pending.add(submit(i, attempt + 1))
                    else:
                        failed += len(batches[i])
                        print(f"scratchcv.cluster: task of {len(batches[i])} photos from "
                              f"{batches[i][0]} failed: {e}", file=sys.stderr)
                    continue
                # One write per task: a crash leaves complete lines plus at most one torn line.
                new = [l for l, f in zip(lines, batches[i]) if f not in written]
                written.update(batches[i])
                errors += sum('"error":' in l and "top" not in json.loads(l) for l in new)
                if new:
                    out.write("".join(l + "\n" for l in new))
                    out.flush()
                now = time.perf_counter()
                if now - shown >= 1 or len(written) == len(files):
                    shown = now
                    print(f"{len(written)}/{len(files)} photos", file=sys.stderr, flush=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    dt = time.perf_counter() - t0
    print(f"{len(written)} photos in {dt:.1f} s ({len(written) / dt if dt > 0 else 0:.1f} "
          f"photos/s) -> {args.out}", file=sys.stderr)
    if failed:
        return _fail(f"{failed} photos not classified; run again with --resume", 1)
    if errors:
        return _fail(f"{errors} photos could not be read (their lines hold the error)", 1)
    return 0


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.command == "classify":
        return classify(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
