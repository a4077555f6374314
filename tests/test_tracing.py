"""Each step invocation is wrapped in an OpenTelemetry span tagged with workflow, run and step."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent

_exporter = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(_exporter))
trace.set_tracer_provider(_provider)


class Middle(Event):
    pass


class TwoSteps(Workflow):
    @step
    async def first(self, ev: StartEvent) -> Middle:
        return Middle()

    @step
    async def second(self, ev: Middle) -> StopEvent:
        return StopEvent(result="done")


async def test_every_step_invocation_gets_a_span_with_its_tags() -> None:
    _exporter.clear()
    wf = TwoSteps(workflow_name="traced")
    handler = wf.run()
    assert await handler == "done"
    spans = _exporter.get_finished_spans()
    assert [s.name for s in spans] == ["workflows.step first", "workflows.step second"]
    for span, name in zip(spans, ["first", "second"]):
        assert span.attributes is not None
        assert span.attributes["workflows.workflow"] == "traced"
        assert span.attributes["workflows.run_id"] == handler.run_id
        assert span.attributes["workflows.step"] == name
