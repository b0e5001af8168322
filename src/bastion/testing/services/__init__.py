"""Every write of mass testing, by subject: rounds (`rounds`), scans (`scans`, and the prepared
SQL fast way in `scans_fast`), the lab's receipts and results (`lab`), and the listing of what a
round refused (`refusals`).

A scan or a result that cannot be taken is refused with a clear error and listed in the
round's exceptions (`RoundIssue`), written in a transaction of its own so that the refusal of
the record never loses the record of the refusal. Devices retry: a scan or a result carrying a
client key that was already taken returns the first answer and changes nothing.
"""

from bastion.testing.services.lab import TubeResulted, tube_receive, tube_result
from bastion.testing.services.refusals import Issue, issue_of, issue_record, lists_refusals
from bastion.testing.services.rounds import round_close, round_deadline_pass, round_open, scan_time_problem
from bastion.testing.services.scans import scan_record
from bastion.testing.services.scans_fast import ScanTaken
from bastion.testing.sql import bulk_loads_wait

__all__ = [
    "Issue",
    "ScanTaken",
    "TubeResulted",
    "bulk_loads_wait",
    "issue_of",
    "issue_record",
    "lists_refusals",
    "round_close",
    "round_deadline_pass",
    "round_open",
    "scan_record",
    "scan_time_problem",
    "tube_receive",
    "tube_result",
]
