"""Batch sizing: how many records one poll takes, so a formatted batch fits its share of the
stream queue's byte budget.
"""

from __future__ import annotations

from .options import Options


def records_fitting(options: Options, bytes_per_record: float) -> int:
    """Records per poll: ``batch_size``, or fewer if their chunk would pass its share of
    ``queue_bytes`` (a ``queue_size``-th) at ``bytes_per_record``. Bounds what one batch
    weighs while it is formatted, and keeps several chunks in the queue's byte budget."""
    if bytes_per_record <= 0:
        return options.batch_size
    share = options.queue_bytes / options.queue_size
    return max(1, min(options.batch_size, int(share // bytes_per_record)))
