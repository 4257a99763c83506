"""Conversions between the contract's messages and plain Python values."""

from __future__ import annotations

import datetime
from typing import Any, Mapping, Optional

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

_WKT_STRUCT = "google.protobuf.Struct"
_WKT_TIMESTAMP = "google.protobuf.Timestamp"
_WKT_DURATION = "google.protobuf.Duration"


def to_struct(value: Optional[Mapping[str, Any]]) -> Optional[struct_pb2.Struct]:
    """Returns ``value`` as a ``google.protobuf.Struct``, or None for None."""
    if value is None:
        return None
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _enum_prefix(enum: EnumDescriptor) -> str:
    """The prefix buf wants on every value of ``enum``, e.g. ``TASK_STATUS_``."""
    names = [str(value.name) for value in enum.values]
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return prefix[: prefix.rfind("_") + 1]


def enum_name(enum: EnumDescriptor, number: int) -> str:
    """Returns an enum value's lowercase short name, e.g. ``waiting_confirmation`` for
    ``TASK_STATUS_WAITING_CONFIRMATION`` (the seed's spelling)."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    return str(value.name)[len(_enum_prefix(enum)) :].lower()


def _field_value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        full_name = field.message_type.full_name
        if full_name == _WKT_STRUCT:
            return json_format.MessageToDict(value)
        if full_name == _WKT_TIMESTAMP:
            return value.ToDatetime(tzinfo=datetime.timezone.utc)
        if full_name == _WKT_DURATION:
            return value.ToTimedelta()
        return to_dict(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_name(field.enum_type, value)
    return value


def to_dict(message: Message) -> dict[str, Any]:
    """Returns a contract message as a dict keyed by the contract's snake_case field names.

    Every field is present: unset message fields (and unset proto3 ``optional`` fields) are
    None, enums are lowercase short names (``"running"``), Structs are dicts, Timestamps are
    aware UTC datetimes, int64 fields are ints. Of a oneof only the member that is set
    appears.
    """
    result: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.label == FieldDescriptor.LABEL_REPEATED:
            result[field.name] = [
                _field_value(field, item) for item in getattr(message, field.name)
            ]
            continue
        oneof = field.containing_oneof
        has_presence = field.type == FieldDescriptor.TYPE_MESSAGE or oneof is not None
        if has_presence and not message.HasField(field.name):
            if oneof is None or oneof.name.startswith("_"):
                result[field.name] = None
            continue
        result[field.name] = _field_value(field, getattr(message, field.name))
    return result
