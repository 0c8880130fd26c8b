"""What a model is: its config, the factory, weights files, the registry, per-model settings, devices."""
