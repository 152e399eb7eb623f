"""An OpenTelemetry SDK application exporting one log record over OTLP/HTTP
(protobuf, the SDK's default) to the URL given; prints the export results.
Run by tests/it/compat.rs against a real `agentrail serve`."""
import logging, sys
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk.resources import Resource

url = sys.argv[1]
results = []

class Checked(OTLPLogExporter):
    def export(self, batch):
        result = super().export(batch)
        results.append(result.name)
        return result

provider = LoggerProvider(resource=Resource.create({"service.name": "agent-gateway", "gen_ai.agent.id": "deployer-7"}))
provider.add_log_record_processor(SimpleLogRecordProcessor(Checked(endpoint=url)))
handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
log = logging.getLogger("agent")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.info("deleting log group /prod/api", extra={"gen_ai.tool.name": "aws.logs.delete_log_group", "enduser.id": "alice@example.com", "agentrail.correlation_id": "inc-4711"})
provider.force_flush()
provider.shutdown()
print(",".join(results))
