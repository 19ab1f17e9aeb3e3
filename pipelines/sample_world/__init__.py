"""The sample world: a deterministic, realistic synthetic CongoWave.

Same scale and seed, same bytes. `world.generate_world` is the entry point;
the modules beside it each make one part (catalog, users, uploads, events,
finance) from a shared seed so that they agree with each other.
"""
