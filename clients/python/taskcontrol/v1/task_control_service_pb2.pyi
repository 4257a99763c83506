from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from taskcontrol.v1 import task_pb2 as _task_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CancelTaskRequest(_message.Message):
    __slots__ = ["reason", "task_id"]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    reason: str
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class CompleteTaskRequest(_message.Message):
    __slots__ = ["result", "task_id"]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Struct
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CompleteTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class CreateTaskRequest(_message.Message):
    __slots__ = ["checkpoint", "kind", "label", "owner", "request_id"]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _struct_pb2.Struct
    kind: str
    label: str
    owner: str
    request_id: str
    def __init__(self, owner: _Optional[str] = ..., kind: _Optional[str] = ..., label: _Optional[str] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class EmitProgressRequest(_message.Message):
    __slots__ = ["checkpoint", "label", "progress", "task_id"]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _struct_pb2.Struct
    label: str
    progress: float
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., progress: _Optional[float] = ..., label: _Optional[str] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class EmitProgressResponse(_message.Message):
    __slots__ = ["cancel_requested", "found", "status"]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    cancel_requested: bool
    found: bool
    status: _task_pb2.TaskStatus
    def __init__(self, found: bool = ..., status: _Optional[_Union[_task_pb2.TaskStatus, str]] = ..., cancel_requested: bool = ...) -> None: ...

class FailTaskRequest(_message.Message):
    __slots__ = ["details", "error_message", "task_id"]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    details: _struct_pb2.Struct
    error_message: str
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., error_message: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class FailTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ["task_id"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ["owner", "page_size", "page_token", "statuses"]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    owner: str
    page_size: int
    page_token: str
    statuses: _containers.RepeatedScalarFieldContainer[_task_pb2.TaskStatus]
    def __init__(self, owner: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[_task_pb2.TaskStatus, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ["next_page_token", "tasks"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    tasks: _containers.RepeatedCompositeFieldContainer[_task_pb2.Task]
    def __init__(self, tasks: _Optional[_Iterable[_Union[_task_pb2.Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RequestConfirmationRequest(_message.Message):
    __slots__ = ["components", "request_id", "task_id", "timeout", "title"]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    components: _containers.RepeatedCompositeFieldContainer[_task_pb2.Component]
    request_id: str
    task_id: str
    timeout: _duration_pb2.Duration
    title: str
    def __init__(self, task_id: _Optional[str] = ..., title: _Optional[str] = ..., components: _Optional[_Iterable[_Union[_task_pb2.Component, _Mapping]]] = ..., request_id: _Optional[str] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RequestConfirmationResponse(_message.Message):
    __slots__ = ["pending", "resolved"]
    class Pending(_message.Message):
        __slots__ = ["confirmation"]
        CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
        confirmation: _task_pb2.Confirmation
        def __init__(self, confirmation: _Optional[_Union[_task_pb2.Confirmation, _Mapping]] = ...) -> None: ...
    class Resolved(_message.Message):
        __slots__ = ["action", "cancel_requested", "confirmation_id", "outcome", "values"]
        ACTION_FIELD_NUMBER: _ClassVar[int]
        CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
        CONFIRMATION_ID_FIELD_NUMBER: _ClassVar[int]
        OUTCOME_FIELD_NUMBER: _ClassVar[int]
        VALUES_FIELD_NUMBER: _ClassVar[int]
        action: str
        cancel_requested: bool
        confirmation_id: str
        outcome: _task_pb2.ConfirmationState
        values: _struct_pb2.Struct
        def __init__(self, confirmation_id: _Optional[str] = ..., outcome: _Optional[_Union[_task_pb2.ConfirmationState, str]] = ..., action: _Optional[str] = ..., values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., cancel_requested: bool = ...) -> None: ...
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    pending: RequestConfirmationResponse.Pending
    resolved: RequestConfirmationResponse.Resolved
    def __init__(self, pending: _Optional[_Union[RequestConfirmationResponse.Pending, _Mapping]] = ..., resolved: _Optional[_Union[RequestConfirmationResponse.Resolved, _Mapping]] = ...) -> None: ...

class ResolveConfirmationRequest(_message.Message):
    __slots__ = ["action", "confirmation_id", "values"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    action: str
    confirmation_id: str
    values: _struct_pb2.Struct
    def __init__(self, confirmation_id: _Optional[str] = ..., action: _Optional[str] = ..., values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ResolveConfirmationResponse(_message.Message):
    __slots__ = ["confirmation"]
    CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
    confirmation: _task_pb2.Confirmation
    def __init__(self, confirmation: _Optional[_Union[_task_pb2.Confirmation, _Mapping]] = ...) -> None: ...

class StreamProgressRequest(_message.Message):
    __slots__ = ["emit", "update"]
    EMIT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    emit: EmitProgressRequest
    update: UpdateProgressRequest
    def __init__(self, update: _Optional[_Union[UpdateProgressRequest, _Mapping]] = ..., emit: _Optional[_Union[EmitProgressRequest, _Mapping]] = ...) -> None: ...

class StreamProgressResponse(_message.Message):
    __slots__ = ["cancel_requested_task_ids", "emitted", "not_applied", "not_found", "received", "updated"]
    CANCEL_REQUESTED_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    EMITTED_FIELD_NUMBER: _ClassVar[int]
    NOT_APPLIED_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    cancel_requested_task_ids: _containers.RepeatedScalarFieldContainer[str]
    emitted: int
    not_applied: int
    not_found: int
    received: int
    updated: int
    def __init__(self, received: _Optional[int] = ..., updated: _Optional[int] = ..., emitted: _Optional[int] = ..., not_found: _Optional[int] = ..., not_applied: _Optional[int] = ..., cancel_requested_task_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateProgressRequest(_message.Message):
    __slots__ = ["checkpoint", "label", "progress", "task_id"]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _struct_pb2.Struct
    label: str
    progress: float
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., progress: _Optional[float] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., label: _Optional[str] = ...) -> None: ...

class UpdateProgressResponse(_message.Message):
    __slots__ = ["applied", "cancel_requested", "found", "status"]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    cancel_requested: bool
    found: bool
    status: _task_pb2.TaskStatus
    def __init__(self, found: bool = ..., applied: bool = ..., status: _Optional[_Union[_task_pb2.TaskStatus, str]] = ..., cancel_requested: bool = ...) -> None: ...

class WatchTasksRequest(_message.Message):
    __slots__ = ["after_sequence", "include_snapshot", "owner", "task_ids"]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    include_snapshot: bool
    owner: str
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, owner: _Optional[str] = ..., task_ids: _Optional[_Iterable[str]] = ..., include_snapshot: bool = ..., after_sequence: _Optional[int] = ...) -> None: ...

class WatchTasksResponse(_message.Message):
    __slots__ = ["bookmark", "confirmation_requested", "confirmation_resolved", "progress", "sequence", "snapshot", "snapshot_end", "status_changed", "task_created", "time"]
    class Bookmark(_message.Message):
        __slots__ = []
        def __init__(self) -> None: ...
    class ConfirmationRequested(_message.Message):
        __slots__ = ["confirmation"]
        CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
        confirmation: _task_pb2.Confirmation
        def __init__(self, confirmation: _Optional[_Union[_task_pb2.Confirmation, _Mapping]] = ...) -> None: ...
    class ConfirmationResolved(_message.Message):
        __slots__ = ["confirmation"]
        CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
        confirmation: _task_pb2.Confirmation
        def __init__(self, confirmation: _Optional[_Union[_task_pb2.Confirmation, _Mapping]] = ...) -> None: ...
    class Progress(_message.Message):
        __slots__ = ["checkpoint", "label", "owner", "persisted", "progress", "task_id"]
        CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        OWNER_FIELD_NUMBER: _ClassVar[int]
        PERSISTED_FIELD_NUMBER: _ClassVar[int]
        PROGRESS_FIELD_NUMBER: _ClassVar[int]
        TASK_ID_FIELD_NUMBER: _ClassVar[int]
        checkpoint: _struct_pb2.Struct
        label: str
        owner: str
        persisted: bool
        progress: float
        task_id: str
        def __init__(self, task_id: _Optional[str] = ..., owner: _Optional[str] = ..., progress: _Optional[float] = ..., label: _Optional[str] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., persisted: bool = ...) -> None: ...
    class Snapshot(_message.Message):
        __slots__ = ["task"]
        TASK_FIELD_NUMBER: _ClassVar[int]
        task: _task_pb2.Task
        def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...
    class SnapshotEnd(_message.Message):
        __slots__ = []
        def __init__(self) -> None: ...
    class StatusChanged(_message.Message):
        __slots__ = ["task"]
        TASK_FIELD_NUMBER: _ClassVar[int]
        task: _task_pb2.Task
        def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...
    class TaskCreated(_message.Message):
        __slots__ = ["task"]
        TASK_FIELD_NUMBER: _ClassVar[int]
        task: _task_pb2.Task
        def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...
    BOOKMARK_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_END_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    TASK_CREATED_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    bookmark: WatchTasksResponse.Bookmark
    confirmation_requested: WatchTasksResponse.ConfirmationRequested
    confirmation_resolved: WatchTasksResponse.ConfirmationResolved
    progress: WatchTasksResponse.Progress
    sequence: int
    snapshot: WatchTasksResponse.Snapshot
    snapshot_end: WatchTasksResponse.SnapshotEnd
    status_changed: WatchTasksResponse.StatusChanged
    task_created: WatchTasksResponse.TaskCreated
    time: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot: _Optional[_Union[WatchTasksResponse.Snapshot, _Mapping]] = ..., snapshot_end: _Optional[_Union[WatchTasksResponse.SnapshotEnd, _Mapping]] = ..., task_created: _Optional[_Union[WatchTasksResponse.TaskCreated, _Mapping]] = ..., progress: _Optional[_Union[WatchTasksResponse.Progress, _Mapping]] = ..., confirmation_requested: _Optional[_Union[WatchTasksResponse.ConfirmationRequested, _Mapping]] = ..., confirmation_resolved: _Optional[_Union[WatchTasksResponse.ConfirmationResolved, _Mapping]] = ..., status_changed: _Optional[_Union[WatchTasksResponse.StatusChanged, _Mapping]] = ..., bookmark: _Optional[_Union[WatchTasksResponse.Bookmark, _Mapping]] = ...) -> None: ...
