"""A local stand-in for the Fingerprint Server API, deterministic and fault-injectable, spoken to over HTTP.

It imports nothing from `pipelines/` or `transforms/`: clients must talk to it the way they talk to Fingerprint.

- `population`: which request IDs exist and what their events contain (pure functions of a seed);
  `visitors`, `devices`, `geography`, `visits`, `signals` derive the facts, `facts` holds the fact model,
  `events` renders it as a v3 body, `events_v4` as a v4 one (the same facts).
- `server`: the HTTP server (`start(SimulatorConfig(...)) -> SimulatorHandle`), with `faults` and `recorded`.
- `applog`: demo application logs that reference the population's events.
- `truth`: the metrics of a logged day as the simulator knows them, for tests and `benchmarks/metric_table.py`.
- `python -m simulator`: serve from the command line, or `write-log`.
"""
