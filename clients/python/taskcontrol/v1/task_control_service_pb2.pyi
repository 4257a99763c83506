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

class ClaimTaskRequest(_message.Message):
    __slots__ = ["lease_duration", "request_id", "task_id"]
    LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    lease_duration: _duration_pb2.Duration
    request_id: str
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., lease_duration: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ClaimTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class CompleteTaskRequest(_message.Message):
    __slots__ = ["attempt", "result", "task_id"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    result: _struct_pb2.Struct
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., result: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

class CompleteTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class CreateTaskRequest(_message.Message):
    __slots__ = ["checkpoint", "kind", "label", "lease_duration", "owner", "request_id"]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _struct_pb2.Struct
    kind: str
    label: str
    lease_duration: _duration_pb2.Duration
    owner: str
    request_id: str
    def __init__(self, owner: _Optional[str] = ..., kind: _Optional[str] = ..., label: _Optional[str] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., request_id: _Optional[str] = ..., lease_duration: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CreateTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ...) -> None: ...

class EmitProgressRequest(_message.Message):
    __slots__ = ["attempt", "checkpoint", "label", "progress", "task_id"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    checkpoint: _struct_pb2.Struct
    label: str
    progress: float
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., progress: _Optional[float] = ..., label: _Optional[str] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

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
    __slots__ = ["attempt", "details", "error_message", "task_id"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    details: _struct_pb2.Struct
    error_message: str
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., error_message: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

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

class HeartbeatRequest(_message.Message):
    __slots__ = ["attempt", "task_id"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ["cancel_requested", "found", "lease_expire_time", "status"]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    cancel_requested: bool
    found: bool
    lease_expire_time: _timestamp_pb2.Timestamp
    status: _task_pb2.TaskStatus
    def __init__(self, found: bool = ..., status: _Optional[_Union[_task_pb2.TaskStatus, str]] = ..., cancel_requested: bool = ..., lease_expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTaskEventsRequest(_message.Message):
    __slots__ = ["page_size", "page_token", "task_id"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTaskEventsResponse(_message.Message):
    __slots__ = ["events", "next_page_token"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[WatchTasksResponse]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[WatchTasksResponse, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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
    __slots__ = ["answerers", "attempt", "components", "request_id", "task_id", "timeout", "timeout_action", "title"]
    ANSWERERS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_ACTION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    answerers: _containers.RepeatedScalarFieldContainer[str]
    attempt: int
    components: _containers.RepeatedCompositeFieldContainer[_task_pb2.Component]
    request_id: str
    task_id: str
    timeout: _duration_pb2.Duration
    timeout_action: str
    title: str
    def __init__(self, task_id: _Optional[str] = ..., title: _Optional[str] = ..., components: _Optional[_Iterable[_Union[_task_pb2.Component, _Mapping]]] = ..., request_id: _Optional[str] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., attempt: _Optional[int] = ..., answerers: _Optional[_Iterable[str]] = ..., timeout_action: _Optional[str] = ...) -> None: ...

class RequestConfirmationResponse(_message.Message):
    __slots__ = ["pending", "resolved"]
    class Pending(_message.Message):
        __slots__ = ["confirmation"]
        CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
        confirmation: _task_pb2.Confirmation
        def __init__(self, confirmation: _Optional[_Union[_task_pb2.Confirmation, _Mapping]] = ...) -> None: ...
    class Resolved(_message.Message):
        __slots__ = ["action", "answered_by", "cancel_requested", "confirmation_id", "defaulted", "outcome", "values"]
        ACTION_FIELD_NUMBER: _ClassVar[int]
        ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
        CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
        CONFIRMATION_ID_FIELD_NUMBER: _ClassVar[int]
        DEFAULTED_FIELD_NUMBER: _ClassVar[int]
        OUTCOME_FIELD_NUMBER: _ClassVar[int]
        VALUES_FIELD_NUMBER: _ClassVar[int]
        action: str
        answered_by: str
        cancel_requested: bool
        confirmation_id: str
        defaulted: bool
        outcome: _task_pb2.ConfirmationState
        values: _struct_pb2.Struct
        def __init__(self, confirmation_id: _Optional[str] = ..., outcome: _Optional[_Union[_task_pb2.ConfirmationState, str]] = ..., action: _Optional[str] = ..., values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., cancel_requested: bool = ..., answered_by: _Optional[str] = ..., defaulted: bool = ...) -> None: ...
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
    __slots__ = ["attempt", "checkpoint", "label", "progress", "task_id"]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    checkpoint: _struct_pb2.Struct
    label: str
    progress: float
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., progress: _Optional[float] = ..., checkpoint: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., label: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

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
