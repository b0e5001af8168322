"""Bulk files of scans and of results (layouts: docs/TESTING_FORMAT.md), streamed and set-based.

A file is read in chunks of whole lines (`CHUNK_BYTES`, about 200,000 records), each parsed by
polars into columns (`reading`). Scans (`scans`) are classified in memory against what the
database holds — the registry, the round's scans and tubes, read by a few indexed queries or a
snapshot — and written by COPY; results (`results`) are staged and moved by a few set-based
statements. No statement runs per record. Records that cannot be taken are listed in the
round's exceptions (`RoundIssue`) with the file's name and line.

Each chunk is one transaction. A load killed half-way keeps the chunks it committed; loading
the same file again skips what is there (scans by (round, resident, retest) and client key,
results of tubes already resulted with the same result, exceptions by source = file and line),
so it ends with exactly the rows of one clean run. Chunk boundaries depend only on the file and
`chunk_bytes`, and a chunk sees the state the previous chunks left, in the same order either way.
"""

from bastion.testing.ingest.reading import (
    CHUNK_BYTES,
    RESULT_COLUMNS,
    SCAN_COLUMNS,
    IngestFileRejected,
    Progress,
)
from bastion.testing.ingest.results import Positive, ResultsChunk, results_load
from bastion.testing.ingest.scans import scans_load
from bastion.testing.ingest.sql import LoadReport

__all__ = [
    "CHUNK_BYTES",
    "RESULT_COLUMNS",
    "SCAN_COLUMNS",
    "IngestFileRejected",
    "LoadReport",
    "Positive",
    "Progress",
    "ResultsChunk",
    "results_load",
    "scans_load",
]
