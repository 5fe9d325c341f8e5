"""Fan-out: one command brings every target (tenant schema) of a database up to date, in parallel, in one process.

:func:`~sqlmig.fanout.runner.up_all` runs it; :class:`~sqlmig.fanout.report.FanoutReport` is its result.
"""

from .report import FanoutReport as FanoutReport
from .report import TargetResult as TargetResult
from .report import TargetStatus as TargetStatus
