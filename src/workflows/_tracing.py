"""Optional OpenTelemetry spans around step invocations (no cost when it is absent)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

try:  # opentelemetry is an optional dependency
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - exercised only without the package
    _otel_trace = None  # type: ignore[assignment]

_NO_SPAN: AbstractContextManager[Any] = nullcontext()
_UNKNOWN = object()
_NO_OP_PROVIDERS: tuple[type[Any], ...] = (
    (_otel_trace.ProxyTracerProvider, _otel_trace.NoOpTracerProvider) if _otel_trace else ()
)


def step_span(workflow_name: str, run_id: str, step: str) -> AbstractContextManager[Any]:
    """A span named ``workflows.step <step>`` tagged with workflow, run id and step."""
    if _otel_trace is None:
        return _NO_SPAN
    # The module global is read directly: get_tracer_provider() consults os.environ on
    # every call while no provider is set, which costs more than the rest of a hop.
    provider: Any = getattr(_otel_trace, "_TRACER_PROVIDER", _UNKNOWN)
    if provider is _UNKNOWN:
        provider = _otel_trace.get_tracer_provider()
    if provider is None or isinstance(provider, _NO_OP_PROVIDERS):
        return _NO_SPAN  # nobody configured tracing: skip the span machinery entirely
    tracer = provider.get_tracer("workflows")
    return tracer.start_as_current_span(
        f"workflows.step {step}",
        attributes={
            "workflows.workflow": workflow_name,
            "workflows.run_id": run_id,
            "workflows.step": step,
        },
    )
