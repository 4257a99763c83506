from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

CONFIRMATION_STATE_ANSWERED: ConfirmationState
CONFIRMATION_STATE_CANCELLED: ConfirmationState
CONFIRMATION_STATE_EXPIRED: ConfirmationState
CONFIRMATION_STATE_PENDING: ConfirmationState
CONFIRMATION_STATE_UNSPECIFIED: ConfirmationState
DESCRIPTOR: _descriptor.FileDescriptor
TASK_STATUS_CANCELLED: TaskStatus
TASK_STATUS_FAILED: TaskStatus
TASK_STATUS_RUNNING: TaskStatus
TASK_STATUS_STALLED: TaskStatus
TASK_STATUS_SUCCEEDED: TaskStatus
TASK_STATUS_UNSPECIFIED: TaskStatus
TASK_STATUS_WAITING_CONFIRMATION: TaskStatus

class Component(_message.Message):
    __slots__ = ["button", "checkbox", "id", "number_input", "select", "text", "text_input"]
    class Style(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = []
    class Button(_message.Message):
        __slots__ = ["action", "label", "style", "value"]
        ACTION_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        STYLE_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        action: str
        label: str
        style: Component.Style
        value: _struct_pb2.Struct
        def __init__(self, label: _Optional[str] = ..., action: _Optional[str] = ..., style: _Optional[_Union[Component.Style, str]] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    class Checkbox(_message.Message):
        __slots__ = ["default_value", "label"]
        DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        default_value: bool
        label: str
        def __init__(self, label: _Optional[str] = ..., default_value: bool = ...) -> None: ...
    class NumberInput(_message.Message):
        __slots__ = ["default_value", "label", "max", "min", "required", "step"]
        DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        MAX_FIELD_NUMBER: _ClassVar[int]
        MIN_FIELD_NUMBER: _ClassVar[int]
        REQUIRED_FIELD_NUMBER: _ClassVar[int]
        STEP_FIELD_NUMBER: _ClassVar[int]
        default_value: float
        label: str
        max: float
        min: float
        required: bool
        step: float
        def __init__(self, label: _Optional[str] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., step: _Optional[float] = ..., required: bool = ..., default_value: _Optional[float] = ...) -> None: ...
    class Option(_message.Message):
        __slots__ = ["label", "value"]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        label: str
        value: str
        def __init__(self, value: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...
    class Select(_message.Message):
        __slots__ = ["default_value", "label", "multiple", "options", "required"]
        DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        MULTIPLE_FIELD_NUMBER: _ClassVar[int]
        OPTIONS_FIELD_NUMBER: _ClassVar[int]
        REQUIRED_FIELD_NUMBER: _ClassVar[int]
        default_value: str
        label: str
        multiple: bool
        options: _containers.RepeatedCompositeFieldContainer[Component.Option]
        required: bool
        def __init__(self, label: _Optional[str] = ..., options: _Optional[_Iterable[_Union[Component.Option, _Mapping]]] = ..., default_value: _Optional[str] = ..., multiple: bool = ..., required: bool = ...) -> None: ...
    class Text(_message.Message):
        __slots__ = ["text"]
        TEXT_FIELD_NUMBER: _ClassVar[int]
        text: str
        def __init__(self, text: _Optional[str] = ...) -> None: ...
    class TextInput(_message.Message):
        __slots__ = ["default_value", "label", "max_length", "pattern", "pattern_description", "placeholder", "required"]
        DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
        PATTERN_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
        PATTERN_FIELD_NUMBER: _ClassVar[int]
        PLACEHOLDER_FIELD_NUMBER: _ClassVar[int]
        REQUIRED_FIELD_NUMBER: _ClassVar[int]
        default_value: str
        label: str
        max_length: int
        pattern: str
        pattern_description: str
        placeholder: str
        required: bool
        def __init__(self, label: _Optional[str] = ..., placeholder: _Optional[str] = ..., default_value: _Optional[str] = ..., required: bool = ..., max_length: _Optional[int] = ..., pattern: _Optional[str] = ..., pattern_description: _Optional[str] = ...) -> None: ...
    BUTTON_FIELD_NUMBER: _ClassVar[int]
    CHECKBOX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_INPUT_FIELD_NUMBER: _ClassVar[int]
    SELECT_FIELD_NUMBER: _ClassVar[int]
    STYLE_DANGER: Component.Style
    STYLE_PRIMARY: Component.Style
    STYLE_SECONDARY: Component.Style
    STYLE_UNSPECIFIED: Component.Style
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TEXT_INPUT_FIELD_NUMBER: _ClassVar[int]
    button: Component.Button
    checkbox: Component.Checkbox
    id: str
    number_input: Component.NumberInput
    select: Component.Select
    text: Component.Text
    text_input: Component.TextInput
    def __init__(self, id: _Optional[str] = ..., text: _Optional[_Union[Component.Text, _Mapping]] = ..., button: _Optional[_Union[Component.Button, _Mapping]] = ..., text_input: _Optional[_Union[Component.TextInput, _Mapping]] = ..., select: _Optional[_Union[Component.Select, _Mapping]] = ..., checkbox: _Optional[_Union[Component.Checkbox, _Mapping]] = ..., number_input: _Optional[_Union[Component.NumberInput, _Mapping]] = ...) -> None: ...

class Confirmation(_message.Message):
    __slots__ = ["action", "answer_time", "answered_by", "answerers", "components", "create_time", "defaulted", "expire_time", "id", "request_id", "resolve_time", "state", "surface_id", "task_id", "timeout_action", "title", "values"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    ANSWERERS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEFAULTED_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SURFACE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_ACTION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    action: str
    answer_time: _timestamp_pb2.Timestamp
    answered_by: str
    answerers: _containers.RepeatedScalarFieldContainer[str]
    components: _containers.RepeatedCompositeFieldContainer[Component]
    create_time: _timestamp_pb2.Timestamp
    defaulted: bool
    expire_time: _timestamp_pb2.Timestamp
    id: str
    request_id: str
    resolve_time: _timestamp_pb2.Timestamp
    state: ConfirmationState
    surface_id: str
    task_id: str
    timeout_action: str
    title: str
    values: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., task_id: _Optional[str] = ..., surface_id: _Optional[str] = ..., title: _Optional[str] = ..., components: _Optional[_Iterable[_Union[Component, _Mapping]]] = ..., state: _Optional[_Union[ConfirmationState, str]] = ..., action: _Optional[str] = ..., values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., answerers: _Optional[_Iterable[str]] = ..., timeout_action: _Optional[str] = ..., answered_by: _Optional[str] = ..., answer_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., defaulted: bool = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ["attempt", "cancel_reason", "cancel_requested", "checkpoint", "create_time", "end_time", "error_details", "error_message", "id", "kind", "label", "lease_duration", "lease_expire_time", "owner", "pending_confirmation", "progress", "result", "revision", "stall_time", "status", "update_time"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_DETAILS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PENDING_CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STALL_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    cancel_reason: str
    cancel_requested: bool
    checkpoint: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    error_details: _struct_pb2.Struct
    error_message: str
    id: str
    kind: str
    label: str
    lease_duration: _duration_pb2.Duration
    lease_expire_time: _timestamp_pb2.Timestamp
    owner: str
    pending_confirmation: Confirmation
    progress: float
    result: _struct_pb2.Struct
    revision: int
    stall_time: _timestamp_pb2.Timestamp
    status: TaskStatus
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., owner: _Optional[str] = ..., kind: _Optional[str] = ..., label: _Optional[str] = ..., status: _Optional[_Union[TaskStatus, str]] = ..., progress: _Optional[float] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., error_message: _Optional[str] = ..., cancel_requested: bool = ..., pending_confirmation: _Optional[_Union[Confirmation, _Mapping]] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[int] = ..., error_details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., cancel_reason: _Optional[str] = ..., attempt: _Optional[int] = ..., lease_expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., lease_duration: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., stall_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TaskStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ConfirmationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
