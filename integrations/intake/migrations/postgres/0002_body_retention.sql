-- Bodies are emptied after REPLICAS_DELIVERY_RETENTION; the rows stay. The
-- purge looks only at rows that still have a body.
CREATE INDEX deliveries_with_body ON deliveries (received_at) WHERE length(body) > 0;
