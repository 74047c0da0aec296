"""Fault-injection suite: the real console script against real card images under failure.

A package, so its modules are imported as ``faults.<name>`` and never clash with the test
modules of the same base name one folder up (``tests/`` itself stays a plain folder on
``sys.path``, which keeps ``cardimage`` importable).
"""
