"""Runs last (see conftest.py): after everything the suite streamed, the broker knows no
consumer group and holds no committed offset made by us. Streams never join a group
(group_id=None) and never commit; this checks the broker agrees."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.last


def test_the_broker_lists_no_consumer_group_and_no_committed_offset_of_ours(kafka):
    groups = kafka.consumer_groups()
    ours = [g for g in groups if "KafkaSSE" in g or "kafkasse" in g.lower() or g == ""]
    assert ours == [], groups
    for group in groups:
        # Whatever groups exist (none are expected on the test broker) hold no offsets of ours.
        offsets = kafka.admin.list_consumer_group_offsets(group)
        assert not [tp for tp in offsets if "kafkasse" in tp.topic.lower()], (group, offsets)
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):  # our own broker: nobody else uses it
        assert groups == [], f"the test broker should know no group at all: {groups}"
