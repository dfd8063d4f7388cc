"""pytest for CTest: exits 77 (CTest's SKIP_RETURN_CODE) when every test that ran was skipped.

pytest itself exits 0 when all tests are skipped, which CTest would count as
passed; a test that cannot run on this machine (no venv, no pip) must show
as skipped instead.
Usage: run_pytest.py [pytest arguments...]
"""
import sys

import pytest


class Outcomes:
    def __init__(self):
        self.ran = self.skipped = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.skipped):
            self.ran += 1
            self.skipped += bool(report.skipped)


def main():
    outcomes = Outcomes()
    code = pytest.main(sys.argv[1:], plugins=[outcomes])
    if code == 0 and outcomes.ran and outcomes.skipped == outcomes.ran:
        return 77
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
