-- The trace context of the request that wrote the event (W3C `traceparent`,
-- `tracestate`, `baggage` as a JSON object), continued by the relay's publish.
-- NULL when traces are off.
ALTER TABLE outbox ADD COLUMN trace_context TEXT
    CHECK (trace_context IS NULL OR char_length(trace_context) <= 8192);
