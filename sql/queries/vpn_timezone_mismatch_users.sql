-- Which app users logged in through a VPN whose browser time zone disagrees with the IP's country, and from where?
SELECT
    app_user_id,
    count(*) AS logins,
    count(DISTINCT visitor_id) AS devices,
    string_agg(DISTINCT ip_country_code, ',' ORDER BY ip_country_code) AS ip_countries,
    string_agg(DISTINCT vpn_origin_timezone, ',' ORDER BY vpn_origin_timezone) AS device_timezones
FROM app_requests_enriched
WHERE action = 'login' AND vpn AND vpn_method_timezone_mismatch AND app_user_id IS NOT NULL
GROUP BY app_user_id
ORDER BY logins DESC, app_user_id
LIMIT 10;
