"""Collection streams in a LlamaIndex Workflows snapshot, translated into this library's.

The reference keeps, per open stream, its source step, its enclosing scope and a count of
open work items; per stream and binding, a release state (the members buffered so far and
whether the batch was released); and on each work item its ``scope_path`` and, for a call
of a ``list[E]`` step, the released batch (``collection_release_payload``). Mapping::

    streams[id]                        streams[id]: source, scope (same ids)
    collection_release_states          streams[id].buffers[<binding>]: the members, or
                                       null once released
    scope_path                         scope of the queued or running item
    collection_release_payload         a CollectionReleaseEvent as the item's event

Binding ids name event classes by module (``__main__.Done`` in a script), so a binding is
matched by its source and target steps. The open count is not copied: it is computed from
the translated run (queued and running items in the stream, plus one per unreleased
binding of each stream nested in it), which is what the reference counts too once its
pending deliveries are routed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ._reference_values import WHO, Translator
from .errors import ContextSerdeError
from .events import CollectionReleaseEvent, Event

if TYPE_CHECKING:
    from ._collection import Binding
    from ._graph import WorkflowGraph

_Id = Field(max_length=512)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class RefStream(_Doc):
    """An open stream, as the reference writes it."""

    stream_id: str = _Id
    source_step: str = _Id
    scope_path: list[str] = Field(default_factory=list, max_length=1000)
    open_work_items: int = 0


class RefRelease(_Doc):
    """The members one binding of one stream has gathered."""

    binding_id: str = Field(max_length=4096)
    stream_id: str = _Id
    buffer: list[str] = Field(default_factory=list)
    released: bool = False


class RefPayload(_Doc):
    """The batch a call of a ``list[E]`` step is made with."""

    binding_id: str = Field(max_length=4096)
    stream_id: str = _Id
    events: list[str] = Field(default_factory=list)
    output_scope_path: list[str] = Field(default_factory=list, max_length=1000)


class StreamTranslator:
    """Builds the ``streams`` part of a translated snapshot and the release events."""

    def __init__(self, graph: WorkflowGraph, translator: Translator) -> None:
        self.graph = graph
        self.translator = translator

    def binding(self, ref_id: str, where: str) -> Binding:
        """This workflow's binding for the reference's binding ``ref_id``."""
        source, arrow, rest = ref_id.partition("->")
        target = rest.partition(":")[0]
        for binding in self.graph.bindings.get(source, ()) if arrow else ():
            if binding.target == target:
                return binding
        raise ContextSerdeError(
            f"{WHO}: {where}: the workflow has no collection binding {ref_id[:120]!r}"
        )

    def release_event(self, payload: RefPayload, where: str) -> Any:
        """The encoded :class:`CollectionReleaseEvent` a ``list[E]`` call is made with."""
        binding = self.binding(payload.binding_id, where)
        serializer, types = self.translator.serializer, self.translator.types
        members: list[Event] = []
        for index, text in enumerate(payload.events):
            member = serializer.decode(self.translator.event(text, f"{where}.{index}"), types)
            if not isinstance(member, Event):  # pragma: no cover - event() checks the tag
                raise ContextSerdeError(f"{WHO}: {where}.{index}: not an event")
            members.append(member)
        release = CollectionReleaseEvent(
            events=members, stream_id=payload.stream_id, binding_id=binding.id
        )
        return serializer.encode(release, types)

    def streams(
        self, streams: dict[str, RefStream], releases: dict[str, RefRelease]
    ) -> dict[str, dict[str, Any]]:
        """The open streams, with their buffers (``open`` is filled in by :func:`count_open`)."""
        found: dict[str, dict[str, Any]] = {}
        for key, stream in streams.items():
            where = f"streams.{key[:80]}"
            spec = self.graph.specs.get(stream.source_step)
            if spec is None or not spec.fan_out:
                raise ContextSerdeError(
                    f"{WHO}: {where}: the workflow has no fan-out step {stream.source_step[:80]!r}"
                )
            found[stream.stream_id] = {
                "source": stream.source_step,
                "scope": list(stream.scope_path),
                "open": 0,
                "buffers": {},
            }
        for key, release in releases.items():
            where = f"collection_release_states.{key[:80]}"
            target = found.get(release.stream_id)
            if target is None:
                raise ContextSerdeError(
                    f"{WHO}: {where}: its stream {release.stream_id[:80]!r} is not open"
                )
            binding = self.binding(release.binding_id, where)
            if binding.source != target["source"]:
                raise ContextSerdeError(f"{WHO}: {where}: not a binding of its stream's step")
            target["buffers"][binding.id] = (
                None
                if release.released
                else [
                    self.translator.event(text, f"{where}.buffer.{index}")
                    for index, text in enumerate(release.buffer)
                ]
            )
        return found

    def count_open(
        self,
        streams: dict[str, dict[str, Any]],
        queues: dict[str, list[dict[str, Any]]],
        in_flight: list[dict[str, Any]],
    ) -> None:
        """Set each stream's ``open`` count from the work the translated run holds."""
        items = [item for queue in queues.values() for item in queue]
        for item in [*items, *in_flight]:
            scope = item.get("scope")
            if scope and scope[-1] in streams:
                streams[scope[-1]]["open"] += 1
        for stream in streams.values():
            if stream["scope"] and stream["scope"][-1] in streams:
                owed = sum(
                    stream["buffers"].get(b.id, []) is not None
                    for b in self.graph.bindings.get(stream["source"], ())
                )
                streams[stream["scope"][-1]]["open"] += owed
        for stream_id, stream in streams.items():
            if stream["open"] == 0:
                raise ContextSerdeError(
                    f"{WHO}: streams.{stream_id[:80]}: no queued, running or waiting work is "
                    "left in this stream, so it could never close"
                )
