"""Verify: each down undoes its up, checked on a scratch database with catalog snapshots."""

from .scratch import VerifyProblem, VerifyReport, verify

__all__ = ["VerifyProblem", "VerifyReport", "verify"]
