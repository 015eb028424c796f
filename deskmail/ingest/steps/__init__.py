"""The pipeline steps, one module each: `name`, a one-line docstring, `run(ctx) -> Decision`."""
