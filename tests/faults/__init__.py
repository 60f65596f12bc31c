"""Helpers that break things for real: processes that the fault-injection tests SIGKILL."""
