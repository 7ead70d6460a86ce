"""The job event stream: the durable consumer, the wire format, this service's own outbox."""
