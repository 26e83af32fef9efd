"""The Confluent wire format: byte 0, a 4-byte big-endian schema id, then the payload.

For Protobuf the payload starts with the message indexes: which message of the schema's file
(a path through nested messages) as zigzag varints, a count first; the single byte ``0``
stands for ``[0]``, the file's first message. Pure: bytes in, numbers out.
"""

from __future__ import annotations

import struct

MAGIC = 0
HEADER_BYTES = 5
_HEADER = struct.Struct(">BI")  # one call reads both: this runs for every record


def schema_id_of(data: bytes | bytearray | None) -> int | None:
    """The schema id of a framed value or key, or ``None`` when it is not framed.

    Id 0 is no registry's id: a key such as a small big-endian long (``00 00 00 00 07 …``)
    starts like a frame, and is left alone.
    """
    if data is None or len(data) < HEADER_BYTES:
        return None
    magic, schema_id = _HEADER.unpack_from(data)
    return schema_id if magic == MAGIC and schema_id else None


def read_message_indexes(data: bytes, position: int) -> tuple[list[int], int]:
    """The Protobuf message indexes at ``position``, and where the message itself starts.

    :raises ValueError: the bytes end inside the indexes, or hold an absurd count.
    """
    count, position = _read_zigzag(data, position)
    if count == 0:
        return [0], position
    if count < 0 or count > 64:  # a nesting deeper than 64 messages is no real schema
        raise ValueError(f"bad message index count {count}")
    indexes = []
    for _ in range(count):
        index, position = _read_zigzag(data, position)
        if index < 0:
            raise ValueError(f"bad message index {index}")
        indexes.append(index)
    return indexes, position


def _read_zigzag(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("the message indexes end early")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), position
