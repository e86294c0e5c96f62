"""One module per section of the report; each exposes `run(ctx) -> Section`."""
