"""Protobuf payloads into JSON values, from the registry's schema and its references.

How the descriptors are built, and why:

- A schema the registry holds as a serialized ``FileDescriptorProto`` (base64; what
  confluent-kafka's ``ProtobufSerializer`` registers, and what Apicurio returns as it was
  given) is already a descriptor: it is decoded and added to a pool, no parsing at all.
- A schema held as ``.proto`` text (what Confluent's registry returns, or Java producers
  register) is compiled by ``protoc`` itself, as grpcio-tools ships it, in process: the
  reference compiler resolves names, imports, maps, ``optional`` and options exactly as the
  producer's build did. A pure-Python parser (``proto-schema-parser``) gives only a syntax
  tree, and turning that into descriptors would mean re-implementing protoc's resolution.

Each schema id gets a pool of its own, so two versions of one ``.proto`` file (same name,
same package) live side by side. Well-known imports (``google/protobuf/*.proto``) come from
the protobuf package. The JSON is Protobuf's canonical mapping with the field names as
written in the schema and fields at their default value included (so every record of a
schema has the same fields): int64 as strings, bytes as base64, enums by name,
``Timestamp`` as RFC 3339.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import os
import tempfile
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError

from .._extras import require
from .client import RegistryError, RegistrySchema
from .framing import read_message_indexes

Named = list[tuple[str, RegistrySchema]]


def build(
    schema_id: int, schema: RegistrySchema, resolve: Callable[[RegistrySchema], Named]
) -> Callable[[bytes], Any]:
    """A function from a Protobuf payload (after the 5-byte frame, indexes first) to JSON.

    :param resolve: the schemas ``schema`` references, as (import name, schema), deepest first.
    """
    references = resolve(schema)
    files = _file_protos(schema_id, schema, references)
    pool = descriptor_pool.DescriptorPool()
    for file_proto in files:
        _add_with_well_known(pool, file_proto)
    main = files[-1]
    classes: dict[tuple[int, ...], Any] = {}

    def decode(payload: bytes) -> Any:
        indexes, start = read_message_indexes(payload, 0)
        key = tuple(indexes)
        cls = classes.get(key)
        if cls is None:
            descriptor = pool.FindMessageTypeByName(_message_name(main, indexes))
            cls = classes[key] = message_factory.GetMessageClass(descriptor)
        message = cls.FromString(payload[start:])
        return json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    return decode


def _file_protos(
    schema_id: int, schema: RegistrySchema, references: Named
) -> list[descriptor_pb2.FileDescriptorProto]:
    """The references' files then the schema's, as descriptors."""
    named = [*references, (f"registry-schema-{schema_id}.proto", schema)]
    decoded = [_as_descriptor(item.text) for _, item in named]
    if all(file_proto is not None for file_proto in decoded):
        return [file_proto for file_proto in decoded if file_proto is not None]
    return _compile(named)


def _as_descriptor(text: str) -> descriptor_pb2.FileDescriptorProto | None:
    """A base64 serialized ``FileDescriptorProto``, or ``None`` when ``text`` is not one."""
    try:
        raw = base64.b64decode(text, validate=True)  # .proto text has spaces: not base64
        file_proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
    except (binascii.Error, DecodeError):
        return None
    return file_proto if file_proto.name else None


def _compile(named: Named) -> list[descriptor_pb2.FileDescriptorProto]:
    """``.proto`` texts compiled by protoc, imports included, dependencies first."""
    protoc = require("grpc_tools.protoc", "Protobuf schemas held as .proto text", "registry")
    include = os.path.join(os.path.dirname(str(protoc.__file__)), "_proto")
    with tempfile.TemporaryDirectory(prefix="kafkasse-proto-") as folder:
        for name, item in named:
            path = os.path.join(folder, name)
            if not os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep):
                raise RegistryError(f"a schema reference names a file outside its folder: {name}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as out:
                out.write(item.text)
        output = os.path.join(folder, "out.pb")
        status = protoc.main(
            [
                "protoc",
                f"-I{folder}",
                f"-I{include}",
                "--include_imports",
                f"--descriptor_set_out={output}",
                named[-1][0],
            ]
        )
        if status != 0 or not os.path.exists(output):
            raise RegistryError("protoc could not compile the schema's .proto text")
        with open(output, "rb") as data:
            files = descriptor_pb2.FileDescriptorSet.FromString(data.read()).file
    return list(files)


def _add_with_well_known(
    pool: descriptor_pool.DescriptorPool, file_proto: descriptor_pb2.FileDescriptorProto
) -> None:
    for dependency in file_proto.dependency:
        if dependency.startswith("google/protobuf/"):
            _add_well_known(pool, dependency)
    try:
        pool.FindFileByName(file_proto.name)
    except KeyError:
        pool.Add(file_proto)


def _add_well_known(pool: descriptor_pool.DescriptorPool, name: str) -> None:
    """``google/protobuf/timestamp.proto`` from ``google.protobuf.timestamp_pb2``."""
    try:
        pool.FindFileByName(name)
        return
    except KeyError:
        pass
    module_name = "google.protobuf." + name[len("google/protobuf/") : -len(".proto")] + "_pb2"
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError:
        raise RegistryError(f"unknown well-known import {name}") from None
    file_proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(file_proto)
    for dependency in file_proto.dependency:
        _add_well_known(pool, dependency)
    pool.Add(file_proto)


def _message_name(file_proto: descriptor_pb2.FileDescriptorProto, indexes: list[int]) -> str:
    """The full name of the message the indexes point at in ``file_proto``."""
    messages = file_proto.message_type
    names = [file_proto.package] if file_proto.package else []
    for index in indexes:
        if index >= len(messages):
            raise ValueError(f"message index {index} is past the schema's messages")
        names.append(messages[index].name)
        messages = messages[index].nested_type
    return ".".join(names)
