"""What the PyTorch peer benchmarks share: their run options and the timed loop."""
import time


def add_run_args(ap, threads=1, batch=1, warmup=3, iters=10):
    """--threads, --batch, --warmup and --iters with these defaults."""
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--iters", type=int, default=iters)


def timed_calls(fn, iters):
    """Calls fn() iters times; returns the wall-clock and the process CPU milliseconds of the
    calls, each sorted (median: [len // 2], min: [0])."""
    wall, cpu = [], []
    for _ in range(iters):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return sorted(wall), sorted(cpu)
