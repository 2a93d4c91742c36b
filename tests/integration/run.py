"""Runs the integration tests (tests/integration/test_*.py, or the files
the patterns given name) and ends with one '<label>: N passed, N failed'
line (label 'integration' unless --label says otherwise). An agent that
exited uncleanly (a sanitizer's report) counts as a failed test. Exit 1 if
anything failed."""
import argparse
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
args = argparse.ArgumentParser()
args.add_argument("--label", default="integration")
args.add_argument("patterns", nargs="*", default=["test_*.py"])
opts = args.parse_args()
suite = unittest.TestSuite(unittest.defaultTestLoader.discover(here, pattern=p) for p in opts.patterns)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
import harness  # noqa: E402 (the tests' own copy, loaded by discover)
for exit_report in harness.UNCLEAN_EXITS:
    print("UNCLEAN EXIT: " + exit_report)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses) + len(harness.UNCLEAN_EXITS)
skipped = len(result.skipped)
passed = max(0, result.testsRun - failed - skipped)
print("%s: %d passed, %d failed, %d skipped" % (opts.label, passed, failed, skipped))
sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
