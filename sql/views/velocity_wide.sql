-- Velocity counters pivoted wide: one row per event, one column per metric and interval (NULL when not computed).
CREATE OR REPLACE VIEW velocity_wide AS
SELECT
    day,
    request_id,
    max(value) FILTER (WHERE metric = 'distinct_ip' AND "interval" = '5m') AS distinct_ip_5m, -- Distinct IP addresses of this visitor ID in the 5 minutes before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_ip' AND "interval" = '1h') AS distinct_ip_1h, -- Distinct IP addresses of this visitor ID in the hour before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_ip' AND "interval" = '24h') AS distinct_ip_24h, -- Distinct IP addresses of this visitor ID in the 24 hours before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_linked_id' AND "interval" = '5m') AS distinct_linked_id_5m, -- Distinct linked IDs of this visitor ID in the 5 minutes before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_linked_id' AND "interval" = '1h') AS distinct_linked_id_1h, -- Distinct linked IDs of this visitor ID in the hour before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_linked_id' AND "interval" = '24h') AS distinct_linked_id_24h, -- Distinct linked IDs of this visitor ID in the 24 hours before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_country' AND "interval" = '5m') AS distinct_country_5m, -- Distinct IP countries of this visitor ID in the 5 minutes before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_country' AND "interval" = '1h') AS distinct_country_1h, -- Distinct IP countries of this visitor ID in the hour before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_country' AND "interval" = '24h') AS distinct_country_24h, -- Distinct IP countries of this visitor ID in the 24 hours before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'events' AND "interval" = '5m') AS events_5m, -- Events of this visitor ID in the 5 minutes before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'events' AND "interval" = '1h') AS events_1h, -- Events of this visitor ID in the hour before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'events' AND "interval" = '24h') AS events_24h, -- Events of this visitor ID in the 24 hours before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'ip_events' AND "interval" = '5m') AS ip_events_5m, -- Events from this event's IP address in the 5 minutes before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'ip_events' AND "interval" = '1h') AS ip_events_1h, -- Events from this event's IP address in the hour before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'ip_events' AND "interval" = '24h') AS ip_events_24h, -- Events from this event's IP address in the 24 hours before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_ip_by_linked_id' AND "interval" = '5m') AS distinct_ip_by_linked_id_5m, -- Distinct IP addresses of this event's linked ID in the 5 minutes before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_ip_by_linked_id' AND "interval" = '1h') AS distinct_ip_by_linked_id_1h, -- Distinct IP addresses of this event's linked ID in the hour before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_ip_by_linked_id' AND "interval" = '24h') AS distinct_ip_by_linked_id_24h, -- Distinct IP addresses of this event's linked ID in the 24 hours before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_visitor_id_by_linked_id' AND "interval" = '5m')
        AS distinct_visitor_id_by_linked_id_5m, -- Distinct visitor IDs of this event's linked ID in the 5 minutes before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_visitor_id_by_linked_id' AND "interval" = '1h')
        AS distinct_visitor_id_by_linked_id_1h, -- Distinct visitor IDs of this event's linked ID in the hour before the event (NULL: not computed).
    max(value) FILTER (WHERE metric = 'distinct_visitor_id_by_linked_id' AND "interval" = '24h')
        AS distinct_visitor_id_by_linked_id_24h -- Distinct visitor IDs of this event's linked ID in the 24 hours before the event (NULL: not computed).
FROM velocity
GROUP BY day, request_id;
