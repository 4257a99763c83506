"""UI primitives for confirmation surfaces: the SDK ``Builder`` and its components.

They mirror the seed's ``module_sdk.ui`` and serialise into the contract's ``Component``
messages::

    builder = ui.Builder()
    builder.add(ui.Text("confirm_text", "A model with the same name already exists. Replace it?"))
    builder.add(ui.Button("confirm_replace", label="Replace", action="system.task.confirm_replace",
                          value={"replace_existing": True}))
    decision = await client.tasks.request_confirmation(task_id, builder)
    if decision.get("replace_existing"): ...

The server checks every answer against the inputs' rules (``TextInput`` ``max_length`` and
``pattern``, ``Select`` ``multiple`` and ``required``, ``NumberInput`` bounds and step) and
sends the person back to the form with a field violation; the worker only ever sees an answer
that passed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

from taskcontrol._convert import to_struct
from taskcontrol.v1 import task_pb2

__all__ = [
    "Builder",
    "Button",
    "Checkbox",
    "Component",
    "NumberInput",
    "Option",
    "Select",
    "Text",
    "TextInput",
]

_STYLES = {
    "primary": task_pb2.Component.STYLE_PRIMARY,
    "secondary": task_pb2.Component.STYLE_SECONDARY,
    "danger": task_pb2.Component.STYLE_DANGER,
}


@dataclass
class Text:
    """Static text shown on the surface."""

    id: str
    text: str

    def to_proto(self) -> task_pb2.Component:
        """Returns the contract's ``Component`` message."""
        return task_pb2.Component(id=self.id, text=task_pb2.Component.Text(text=self.text))


@dataclass
class Button:
    """A button; clicking it answers the confirmation with ``action``.

    ``style`` is a rendering hint: ``"primary"``, ``"secondary"``, ``"danger"`` or None.
    ``value`` (a JSON-like dict) is merged into the decision when this button is clicked
    (or taken by the timeout as ``timeout_action``); its keys must differ from every input's
    id.
    """

    id: str
    label: str = ""
    action: str = ""
    style: Optional[str] = None
    value: Optional[Mapping[str, Any]] = None

    def to_proto(self) -> task_pb2.Component:
        """Returns the contract's ``Component`` message.

        Raises ValueError for an unknown style.
        """
        style = task_pb2.Component.STYLE_UNSPECIFIED
        if self.style is not None:
            try:
                style = _STYLES[self.style.lower()]
            except KeyError:
                raise ValueError(
                    f"unknown button style {self.style!r}; use one of {sorted(_STYLES)}"
                ) from None
        return task_pb2.Component(
            id=self.id,
            button=task_pb2.Component.Button(
                label=self.label, action=self.action, style=style, value=to_struct(self.value)
            ),
        )


@dataclass
class TextInput:
    """A single-line text input; its answer value is a string keyed by ``id``.

    ``max_length`` bounds it in characters (0: the service's 4,096); ``pattern`` is an RE2
    regular expression the whole value must match (an empty optional value is not checked),
    and ``pattern_description`` is what the person is told when it does not.
    """

    id: str
    label: str = ""
    placeholder: str = ""
    default_value: str = ""
    required: bool = False
    max_length: int = 0
    pattern: str = ""
    pattern_description: str = ""

    def to_proto(self) -> task_pb2.Component:
        """Returns the contract's ``Component`` message."""
        return task_pb2.Component(
            id=self.id,
            text_input=task_pb2.Component.TextInput(
                label=self.label,
                placeholder=self.placeholder,
                default_value=self.default_value,
                required=self.required,
                max_length=self.max_length,
                pattern=self.pattern,
                pattern_description=self.pattern_description,
            ),
        )


@dataclass
class Option:
    """One choice of a :class:`Select`; ``label`` defaults to the value in the UI."""

    value: str
    label: str = ""


@dataclass
class Select:
    """A choice among ``options`` (strings or :class:`Option`); its answer value is the
    chosen option's value, keyed by ``id`` (with ``multiple``: a list of the chosen values).
    ``required``: an answer must choose one (at least one when ``multiple``)."""

    id: str
    label: str = ""
    options: Sequence[Union[str, Option]] = ()
    default_value: str = ""
    multiple: bool = False
    required: bool = False

    def to_proto(self) -> task_pb2.Component:
        """Returns the contract's ``Component`` message."""
        options = [
            task_pb2.Component.Option(value=o.value, label=o.label)
            if isinstance(o, Option)
            else task_pb2.Component.Option(value=o)
            for o in self.options
        ]
        return task_pb2.Component(
            id=self.id,
            select=task_pb2.Component.Select(
                label=self.label,
                options=options,
                default_value=self.default_value,
                multiple=self.multiple,
                required=self.required,
            ),
        )


@dataclass
class Checkbox:
    """A yes/no checkbox; its answer value is a bool keyed by ``id``."""

    id: str
    label: str = ""
    default_value: bool = False

    def to_proto(self) -> task_pb2.Component:
        """Returns the contract's ``Component`` message."""
        return task_pb2.Component(
            id=self.id,
            checkbox=task_pb2.Component.Checkbox(
                label=self.label, default_value=self.default_value
            ),
        )


@dataclass
class NumberInput:
    """A number input; its answer value is a number keyed by ``id``, at least ``min`` and at
    most ``max`` (each when given) and ``min`` (or 0) plus a whole multiple of ``step``."""

    id: str
    label: str = ""
    min: Optional[float] = None
    max: Optional[float] = None
    step: Optional[float] = None
    required: bool = False
    default_value: Optional[float] = None

    def to_proto(self) -> task_pb2.Component:
        """Returns the contract's ``Component`` message."""
        number = task_pb2.Component.NumberInput(label=self.label, required=self.required)
        for name in ("min", "max", "step", "default_value"):
            given = getattr(self, name)
            if given is not None:
                setattr(number, name, float(given))
        return task_pb2.Component(id=self.id, number_input=number)


Component = Union[Text, Button, TextInput, Select, Checkbox, NumberInput]
"""Any UI primitive a :class:`Builder` accepts."""


@dataclass
class Builder:
    """Collects the components of a confirmation surface, in order.

    ``title`` is the dialog's heading (sent as the request's ``title``).
    """

    title: str = ""
    components: list[Component] = field(default_factory=list)

    def add(self, *components: Component) -> Builder:
        """Appends components to the surface and returns the builder (calls chain)."""
        for component in components:
            if not isinstance(component, (Text, Button, TextInput, Select, Checkbox, NumberInput)):
                raise TypeError(f"not a taskcontrol.ui component: {component!r}")
            self.components.append(component)
        return self

    def to_proto(self) -> list[task_pb2.Component]:
        """Returns the surface as the contract's ``Component`` messages."""
        return [component.to_proto() for component in self.components]
