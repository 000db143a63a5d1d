"""What runs on a Dask worker for `python3 -m scratchcv.cluster` (a module of its own, so that
tasks refer to it by name and its model cache lives once per worker process)."""
import os
import threading

from ._scratchcv import Classifier

_cache = {}
_lock = threading.Lock()


def classifier(opts):
    """The worker's Classifier for these options, loaded on first use and kept (one per worker
    thread, since a Classifier runs one image at a time)."""
    key = (opts, threading.get_ident())
    with _lock:
        c = _cache.get(key)
    if c is None:
        o = dict(opts)
        c = Classifier(o.pop("model"), o.pop("threads"), **o)
        with _lock:
            _cache[key] = c
    return c


def classify_batch(paths, cwd, opts, k):
    """JSON lines of `classify --jsonl` for `paths` (as listed on the client, relative to the
    client's directory `cwd`)."""
    here = os.getcwd()
    real = paths if here == cwd else [p if os.path.isabs(p) else os.path.join(cwd, p)
                                      for p in paths]
    return classifier(opts).json_records(real, k, names=list(paths))
