"""Push mode: the webhook receiver (`./fpwh webhooks serve`) and its inbox, which lands pushed events in bronze."""
