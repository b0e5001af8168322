"""Every write of transfer: atomic, scoped, audited (places, requests and moves, assignment)."""

from bastion.transfer.services.assign import (
    Assignment,
    transfers_assign,
    transfers_confirm_by_crews,
    transfers_end_stays,
    transfers_flag_overdue,
)
from bastion.transfer.services.places import facility_beds_set, facility_create, vehicle_create
from bastion.transfer.services.requests import (
    MOVES,
    discharge_test_record,
    transfer_discharge,
    transfer_move,
    transfer_request,
    transfer_severity_set,
    transfers_request_group,
)

__all__ = [
    "MOVES",
    "Assignment",
    "discharge_test_record",
    "facility_beds_set",
    "facility_create",
    "transfer_discharge",
    "transfer_move",
    "transfer_request",
    "transfer_severity_set",
    "transfers_assign",
    "transfers_confirm_by_crews",
    "transfers_end_stays",
    "transfers_flag_overdue",
    "transfers_request_group",
    "vehicle_create",
]
