"""The shared tail: one consumer per topic and worker feeds every stream at the head.

- :mod:`.registry`: the hubs of this worker: found or opened for a request, closed to make room.
- :mod:`.hub`: a topic's hub, its consumer and poll loop, opened and closed per worker.
- :mod:`.decode`: a hub's records decoded once, for every client.
- :mod:`.head`: where a hub stands in each partition, and which clients its ring can take.
- :mod:`.ring`: the recent batches of one topic, decoded and formatted once for every client.
- :mod:`.attach`: whether a stream starts on the hubs (at the head, back in a ring) or reads
  through its own consumer first.
- :mod:`.source`: a stream's source on the tail: its own consumer until it catches up, then
  the hubs.
"""
