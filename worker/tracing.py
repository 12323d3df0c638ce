"""OpenTelemetry tracing of workflows and activities, exported over OTLP/HTTP, behind one setting.

With `KAITO_TRACING_OTLP_ENDPOINT` set (say http://otel-collector:4318/v1/traces), the worker runs the
Temporal SDK's TracingInterceptor: a span per workflow run, per activity attempt, per signal and query
handled, children of the caller's span when the client that started the workflow traced too. Unset,
nothing is traced and nothing is exported.
"""

from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor


@dataclass
class Tracing:
    """The interceptor to give the worker, and the provider to flush when the worker stops."""

    interceptor: TracingInterceptor
    provider: TracerProvider

    def shutdown(self) -> None:
        self.provider.shutdown()  # exports what the batch still holds


def otlp_tracing(endpoint: str, service_name: str) -> Tracing:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=1000)
    )
    # Workflow spans even without a caller's span: the controllers start workflows untraced.
    interceptor = TracingInterceptor(provider.get_tracer("kaito-temporal"), always_create_workflow_spans=True)
    return Tracing(interceptor, provider)
