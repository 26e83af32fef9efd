"""What the shared tail has open in this worker, for an app of your own (docs/shared-tail.md).

The shared tail itself lives in :mod:`kafkasse_wsgi._tail`; this module only names its
documented view.
"""

from __future__ import annotations

from ._tail.registry import describe_hubs

__all__ = ["describe_hubs"]
