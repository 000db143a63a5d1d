"""Small pieces shared by the command-line script tests in tests/py."""
import sys


class Checks:
    """check(ok, what) prints one 'ok  '/'FAIL' line and counts the failures."""

    def __init__(self):
        self.failures = 0

    def __call__(self, ok, what):
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}")

    def exit_code(self):
        return 1 if self.failures else 0


def read_rgb(path):
    """Pixels as scratchcv keeps them (RGB or RGBA order), read with OpenCV."""
    import cv2

    a = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(a, cv2.COLOR_BGR2RGB)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA)
    return a


def exit_on_problems(problems, all_good):
    """Lists the problems and exits 1, or prints all_good when there are none."""
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print("\n" + all_good)
